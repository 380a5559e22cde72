package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPageFormsRefuseForgeries: every form of the pages (requests, holds,
// withdrawals, notifications, the bank and admin consoles) refuses a post without the
// session's CSRF token, and one from another site, and changes nothing;
// one without a session goes to the login page.
func TestPageFormsRefuseForgeries(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")
	web, _ := loginCookie(t, e, alice)
	bank, _ := loginCookie(t, e, user{Email: bankEmail, Password: bankPassword})
	admin, _ := loginCookie(t, e, user{Email: adminEmail, Password: adminPassword})
	id := "01a23119-0000-7000-8000-00000000beef"
	forms := []struct {
		c    *Client
		path string
		form url.Values
	}{
		{web, "/requests", url.Values{"wallet_id": {bob.WalletID}, "amount": {"1.00"}}},
		{web, "/requests/" + id + "/approve", url.Values{}},
		{web, "/requests/" + id + "/decline", url.Values{}},
		{web, "/requests/" + id + "/cancel", url.Values{}},
		{web, "/holds", url.Values{"wallet_id": {bob.WalletID}, "amount": {"1.00"}}},
		{web, "/holds/" + id + "/capture", url.Values{}},
		{web, "/holds/" + id + "/void", url.Values{}},
		{web, "/withdrawals", url.Values{"bank_id": {id}, "amount": {"1.00"}, "details": {"IBAN"}}},
		{web, "/withdrawals/" + id + "/cancel", url.Values{}},
		{web, "/notifications/read", url.Values{}},
		{bank, "/bank/deposit", url.Values{"wallet_id": {alice.WalletID}, "amount": {"1.00"}, "details": {"x"}}},
		{bank, "/bank/withdrawals/" + id + "/processing", url.Values{}},
		{bank, "/bank/withdrawals/" + id + "/complete", url.Values{}},
		{bank, "/bank/withdrawals/" + id + "/fail", url.Values{"reason": {"x"}}},
		{admin, "/admin/banks", url.Values{"name": {"Forged"}, "email": {"forged-" + randHex(3) + "@bank.example"}, "password": {"forged password"}}},
		{admin, "/admin/banks/" + id + "/disable", url.Values{}},
	}
	for _, f := range forms {
		if err := formRefusedCSRF(postForm(t, f.c, f.path, f.form, H{"Origin": e.BaseURL})); err != nil {
			t.Errorf("%s without a token: %v", f.path, err)
		}
		with := url.Values{"csrf_token": {"forged"}}
		for k, v := range f.form {
			with[k] = v
		}
		r := postForm(t, f.c, f.path, with, H{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		if r.Status != http.StatusForbidden || r.ErrCode() != "csrf_failed" {
			t.Errorf("%s from another site: %s", f.path, r)
		}
		r = postForm(t, e.Client(nil), f.path, f.form, H{"Origin": e.BaseURL})
		if r.Status != http.StatusSeeOther || !strings.HasSuffix(r.Header.Get("Location"), "/login") {
			t.Errorf("%s without a session: %s Location=%q", f.path, r, r.Header.Get("Location"))
		}
	}
	// Nothing changed: Alice's balance and operations, her unread
	// notification, the banks.
	if r := e.Client(Basic(alice.Email, alice.Password)).Must(t, "GET", "/api/notifications?unread=true", nil, nil); r.Body["unread_count"] == nil ||
		r.Body["unread_count"].(json.Number).String() != "1" {
		t.Errorf("alice's unread after the forgeries: %s", r)
	}
	r := e.Client(Basic(alice.Email, alice.Password)).Must(t, "GET", "/api/wallet", nil, nil)
	if r.Str("balance") != "50.00" || len(r.Body["operations"].([]any)) != 1 {
		t.Errorf("alice's wallet after the forgeries: %s", r)
	}
	r = e.Client(Basic(adminEmail, adminPassword)).Must(t, "GET", "/api/admin/banks", nil, nil)
	if strings.Contains(string(r.Raw), "Forged") {
		t.Errorf("a forged form made a bank: %s", r)
	}
}
