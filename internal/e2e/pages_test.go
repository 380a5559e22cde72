package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestPageFormsRefuseForgeries: every form of the pages (requests, holds,
// withdrawals, notifications, webhooks, the bank and admin consoles) refuses a post without the
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
		{web, "/notifications/" + id + "/read", url.Values{}},
		{bank, "/bank/deposit", url.Values{"wallet_id": {alice.WalletID}, "amount": {"1.00"}, "details": {"x"}}},
		{bank, "/bank/withdrawals/" + id + "/processing", url.Values{}},
		{bank, "/bank/withdrawals/" + id + "/complete", url.Values{}},
		{bank, "/bank/withdrawals/" + id + "/fail", url.Values{"reason": {"x"}}},
		{admin, "/admin/banks", url.Values{"name": {"Forged"}, "email": {"forged-" + randHex(3) + "@bank.example"}, "password": {"forged password"}}},
		{admin, "/admin/banks/" + id + "/disable", url.Values{}},
		{web, "/webhooks", url.Values{"url": {"https://hooks.example/forged"}}},
		{web, "/webhooks/" + id + "/delete", url.Values{}},
		{web, "/webhooks/" + id + "/deliveries/" + id + "/retry", url.Values{}},
		{admin, "/admin/oauth/clients", url.Values{"name": {"Forged"}, "type": {"public"}, "redirect_uris": {"https://app.example/cb"}}},
		{admin, "/admin/holds/void", url.Values{"hold_id": {id}}},
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
	r = e.Client(Basic(adminEmail, adminPassword)).Must(t, "GET", "/api/admin/oauth/clients", nil, nil)
	if strings.Contains(string(r.Raw), "Forged") {
		t.Errorf("a forged form made an OAuth client: %s", r)
	}
	if r := e.Client(Basic(alice.Email, alice.Password)).Must(t, "GET", "/api/webhooks", nil, nil); strings.Contains(string(r.Raw), "forged") {
		t.Errorf("a forged form made a webhook: %s", r)
	}
}

// TestPageFormErrors: a form post that fails shows the page again with
// the error's status, the contract's message beside the field it
// concerns (marked aria-invalid and linked to it), or at the top of the
// page when it concerns none, and what was typed (never a password),
// escaped; nothing changes. A secret made by a form is shown once.
func TestPageFormErrors(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")
	web, _ := loginCookie(t, e, alice)
	csrf := pageCSRF(t, web)
	admin, _ := loginCookie(t, e, user{Email: adminEmail, Password: adminPassword})
	adminCSRF := pageCSRF(t, admin)
	same := H{"Origin": e.BaseURL}
	nobody := "01a23119-0000-7000-8000-00000000beef"
	hostile := `"><b>typed</b>`

	cases := []struct {
		name   string
		c      *Client
		path   string
		form   url.Values
		status int
		// at is the id of the message's element: form-field-error, or ""
		// for a message at the top of the page (then want is in it).
		at, want string
		echoed   []string
	}{
		{"an amount with too many decimals", web, "/transfer",
			url.Values{"wallet_id": {bob.WalletID}, "amount": {"1.234"}, "details": {hostile}},
			400, "transfer-amount-error", "amount", []string{bob.WalletID, `&#34;&gt;&lt;b&gt;typed&lt;/b&gt;`}},
		{"more than she has", web, "/transfer", url.Values{"wallet_id": {bob.WalletID}, "amount": {"60.00"}},
			422, "transfer-amount-error", "insufficient funds", []string{`value="60.00"`}},
		{"a wallet that does not exist", web, "/transfer", url.Values{"wallet_id": {nobody}, "amount": {"1.00"}},
			404, "transfer-wallet_id-error", "wallet not found", []string{nobody}},
		{"a hold that never expires", web, "/holds",
			url.Values{"wallet_id": {bob.WalletID}, "amount": {"1.00"}, "expires_in_hours": {"0"}},
			400, "hold-expires_in_hours-error", "hours", []string{`value="0"`}},
		{"a withdrawal through no bank", web, "/withdrawals", url.Values{"bank_id": {nobody}, "amount": {"1.00"}, "details": {"IBAN"}},
			404, "withdraw-bank_id-error", "not found", nil},
		{"a request of herself", web, "/requests", url.Values{"wallet_id": {alice.WalletID}, "amount": {"1.00"}},
			422, "request-wallet_id-error", "", nil},
		{"a webhook to a private address", web, "/webhooks", url.Values{"url": {"http://127.0.0.1:9/hook"}},
			400, "webhook-url-error", "", []string{"http://127.0.0.1:9/hook"}},
		{"a capture of no hold", web, "/holds/" + nobody + "/capture", url.Values{"amount": {"1.00"}},
			404, "", "hold not found", nil},
		{"a client with a bad redirect", admin, "/admin/oauth/clients",
			url.Values{"name": {"App"}, "type": {"confidential"}, "redirect_uris": {"ftp://app.example/cb"}},
			400, "client-redirect_uris-error", "", []string{"ftp://app.example/cb"}},
		{"a client of no type", admin, "/admin/oauth/clients",
			url.Values{"name": {"App"}, "type": {"secret"}, "redirect_uris": {"https://app.example/cb"}},
			400, "client-type-error", "type", []string{"https://app.example/cb"}},
		{"no recipient", web, "/transfer", url.Values{"wallet_id": {""}, "amount": {"1.00"}},
			400, "transfer-wallet_id-error", "wallet_id is required", []string{`value="1.00"`}},
	}
	for _, tc := range cases {
		token := csrf
		if tc.c == admin {
			token = adminCSRF
		}
		tc.form.Set("csrf_token", token)
		r := postForm(t, tc.c, tc.path, tc.form, same)
		page := string(r.Raw)
		if r.Status != tc.status || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %s, want %d and the page again", tc.name, r, tc.status)
			continue
		}
		if tc.at != "" {
			msg := between(page, `<p class="field-error" id="`+tc.at+`">`, "</p>")
			if msg == "" || !strings.Contains(msg, tc.want) {
				t.Errorf("%s: no message %q beside the field (%s): %.3000s", tc.name, tc.want, tc.at, page)
			}
			if !strings.Contains(page, `aria-invalid="true" aria-describedby="`+tc.at+`"`) {
				t.Errorf("%s: the field is not marked invalid and linked to %s", tc.name, tc.at)
			}
		}
		// The message is at the top of the page too, announced.
		if msg := between(page, `<p class="error" role="alert">`, "</p>"); msg == "" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: the message at the top is %q, want %q", tc.name, msg, tc.want)
		}
		for _, v := range tc.echoed {
			if !strings.Contains(page, v) {
				t.Errorf("%s: what was typed (%s) is not on the page again", tc.name, v)
			}
		}
		if strings.Contains(page, "<b>typed</b>") {
			t.Errorf("%s: what was typed is on the page unescaped", tc.name)
		}
	}

	// Sign-up and log-in: the password is never sent back.
	r := postForm(t, e.Client(nil), "/signup", url.Values{"name": {"Carol"}, "email": {"carol-" + randHex(3) + "@example.com"},
		"password": {"short"}}, same)
	if page := string(r.Raw); r.Status != 400 || !strings.Contains(page, `id="signup-password-error"`) ||
		!strings.Contains(page, `value="Carol"`) || strings.Contains(page, `value="short"`) {
		t.Errorf("a weak password: %s %.2000s", r, page)
	}
	r = postForm(t, e.Client(nil), "/login", url.Values{"email": {alice.Email}, "password": {"wrong password"}}, same)
	if page := string(r.Raw); r.Status != 401 || !strings.Contains(between(page, `<p class="error" role="alert">`, "</p>"), "incorrect") ||
		!strings.Contains(page, alice.Email) || strings.Contains(page, "wrong password") {
		t.Errorf("a wrong password: %s %.2000s", r, page)
	}

	// Nothing changed.
	api := e.Client(Basic(alice.Email, alice.Password))
	if r := api.Must(t, "GET", "/api/wallet", nil, nil); r.Str("balance") != "50.00" || len(r.Body["operations"].([]any)) != 1 {
		t.Errorf("alice's wallet after the refused forms: %s", r)
	}
	if r := api.Must(t, "GET", "/api/webhooks", nil, nil); len(r.Body["webhooks"].([]any)) != 0 {
		t.Errorf("a refused form made a webhook: %s", r)
	}

	// A webhook's secret is on the page that made it, and on no other.
	r = postForm(t, web, "/webhooks", url.Values{"csrf_token": {csrf}, "url": {"https://hooks.example/w"},
		"event:operation.completed": {"1"}}, same)
	secret := between(string(r.Raw), `<div class="secret" id="secret"><p>Signing secret:</p><p><code>`, "</code>")
	if r.Status != 201 || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("a webhook added on the page: %s %.2000s", r, r.Raw)
	}
	hooks := api.Must(t, "GET", "/api/webhooks", nil, nil).Body["webhooks"].([]any)
	if len(hooks) != 1 || fmt.Sprint(hooks[0].(map[string]any)["events"]) != "[operation.completed]" {
		t.Errorf("the webhook made on the page: %v", hooks)
	}
	if list := mustRaw(t, web, rawReq{method: "GET", path: "/webhooks", noRedirect: true}); list.Status != 200 ||
		strings.Contains(string(list.Raw), secret) || !strings.Contains(string(list.Raw), "https://hooks.example/w") {
		t.Errorf("the webhooks page after: %s (the secret must not be on it)", list)
	}
}

// TestWalletPage: the wallet page shows the balance, what is held and
// what is available, and pages through the operations, twenty at a time,
// a hold as held rather than spent; the notifications page pages too.
func TestWalletPage(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	for range 22 {
		e.deposit(t, alice.WalletID, "1.00")
	}
	api := e.Client(Basic(alice.Email, alice.Password))
	r := api.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": bob.WalletID, "amount": "2.50"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	web, _ := loginCookie(t, e, alice)

	page := string(mustRaw(t, web, rawReq{method: "GET", path: "/", noRedirect: true}).Raw)
	rows := strings.Count(between(page, `<div id="operations" data-live>`, "</div>"), "<tr><td>")
	if !strings.Contains(page, `id="balance">22.00 `) || !strings.Contains(page, `id="held">2.50 `) ||
		!strings.Contains(page, `id="available">19.50 `) {
		t.Errorf("the wallet's figures on the page: %.400s", between(page, `<div id="summary"`, "</div>"))
	}
	older := between(page, `<a id="older-cursor" href="`, `"`)
	if rows != 20 || older == "" {
		t.Fatalf("the first page: %d operations, older link %q", rows, older)
	}
	next := mustRaw(t, web, rawReq{method: "GET", path: strings.ReplaceAll(older, "&amp;", "&"), noRedirect: true})
	rest := string(next.Raw)
	if n := strings.Count(between(rest, `<div id="operations" data-live>`, "</div>"), "<tr><td>"); next.Status != 200 || n != 3 ||
		strings.Contains(rest, `id="older-cursor"`) || !strings.Contains(rest, `<a href="/">Newest operations</a>`) {
		t.Errorf("the second page: %s with %d operations", next, n)
	}
	if !strings.Contains(page, "<td>hold</td><td>completed</td><td class=\"num\">2.50 held</td>") {
		t.Errorf("the hold on the wallet page: %.600s", between(page, `<div id="operations" data-live>`, "</tbody>"))
	}
	if bad := mustRaw(t, web, rawReq{method: "GET", path: "/?cursor=nonsense", noRedirect: true}); bad.Status != 400 {
		t.Errorf("a bad cursor: %s", bad)
	}
	// Her notifications (22 deposits, the hold), twenty a page.
	feed := api.Must(t, "GET", "/api/notifications?limit=100", nil, nil)
	total := len(feed.Body["notifications"].([]any))
	notes := string(mustRaw(t, web, rawReq{method: "GET", path: "/notifications", noRedirect: true}).Raw)
	olderNotes := between(notes, `<a id="older-notes" href="`, `"`)
	if n := strings.Count(notes, `<tr id="n-`); n != 20 || olderNotes == "" {
		t.Fatalf("the notifications page: %d rows, older link %q", n, olderNotes)
	}
	notes = string(mustRaw(t, web, rawReq{method: "GET", path: strings.ReplaceAll(olderNotes, "&amp;", "&"), noRedirect: true}).Raw)
	if n := strings.Count(notes, `<tr id="n-`); total <= 20 || n != total-20 || !strings.Contains(notes, `<a href="/notifications">Newest notifications</a>`) {
		t.Errorf("the notifications' second page: %d rows of %d", n, total)
	}

	// One marked read on the page: one fewer unread, that one read.
	one := feed.Body["notifications"].([]any)[0].(map[string]any)["notification_id"].(string)
	r = postForm(t, web, "/notifications/"+one+"/read", url.Values{"csrf_token": {pageCSRF(t, web)}}, H{"Origin": e.BaseURL})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("mark one read: %s", r)
	}
	after := api.Must(t, "GET", "/api/notifications?limit=1", nil, nil)
	if after.Body["unread_count"].(json.Number).String() != strconv.Itoa(total-1) {
		t.Errorf("unread after marking one read: %s, want %d", after.Body["unread_count"], total-1)
	}
}

// TestConsoleActions: the admin console voids a hold by its id and fails
// a withdrawal; the bank console completes a withdrawal still pending;
// each shows on the API as the same use case would leave it.
func TestConsoleActions(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")
	api := e.Client(Basic(alice.Email, alice.Password))
	wait := H{"Prefer": "wait=10"}
	hold := api.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": bob.WalletID, "amount": "5.00"}, wait)
	Expect(t, hold, http.StatusOK)
	bank := e.bankID(t)
	first := api.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bank, "amount": "10.00", "details": "IBAN 1"}, wait)
	second := api.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bank, "amount": "7.00", "details": "IBAN 2"}, wait)
	Expect(t, first, http.StatusOK)
	Expect(t, second, http.StatusOK)

	admin, _ := loginCookie(t, e, user{Email: adminEmail, Password: adminPassword})
	adminCSRF := pageCSRF(t, admin)
	same := H{"Origin": e.BaseURL}
	if page := string(mustRaw(t, admin, rawReq{method: "GET", path: "/", noRedirect: true}).Raw); !strings.Contains(page, `id="w-`+first.Str("withdrawal_id")+`"`) {
		t.Errorf("the admin console does not list the withdrawals")
	}
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/admin/holds/void", url.Values{"hold_id": {hold.Str("hold_id")}, "idempotency_key": {randHex(8)}}},
		{"/bank/withdrawals/" + first.Str("withdrawal_id") + "/fail", url.Values{"reason": {"account closed"}}},
	} {
		f.form.Set("csrf_token", adminCSRF)
		if r := postForm(t, admin, f.path, f.form, same); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Errorf("admin %s: %s Location=%q", f.path, r, r.Header.Get("Location"))
		}
	}
	bankWeb, _ := loginCookie(t, e, user{Email: bankEmail, Password: bankPassword})
	// The pages for wallet owners are not the bank's, nor are their forms.
	if r := mustRaw(t, bankWeb, rawReq{method: "GET", path: "/holds", noRedirect: true}); r.Status != http.StatusForbidden {
		t.Errorf("the bank on the holds page: %s", r)
	}
	if r := postForm(t, bankWeb, "/holds", url.Values{"csrf_token": {pageCSRF(t, bankWeb)}, "wallet_id": {bob.WalletID}, "amount": {"1.00"}}, same); r.Status != http.StatusForbidden {
		t.Errorf("the bank posts a hold: %s", r)
	}
	r := postForm(t, bankWeb, "/bank/withdrawals/"+second.Str("withdrawal_id")+"/complete",
		url.Values{"csrf_token": {pageCSRF(t, bankWeb)}, "reference": {"SEPA-1"}}, same)
	if r.Status != http.StatusSeeOther {
		t.Errorf("the bank completes a pending withdrawal: %s", r)
	}

	if h := api.Must(t, "GET", "/api/holds/"+hold.Str("hold_id"), nil, nil); h.Str("status") != "voided" {
		t.Errorf("the hold after the admin's void: %s", h)
	}
	if w := api.Must(t, "GET", "/api/withdrawals/"+first.Str("withdrawal_id"), nil, nil); w.Str("status") != "failed" || w.Str("failure_reason") != "account closed" {
		t.Errorf("the withdrawal the admin failed: %s", w)
	}
	if w := api.Must(t, "GET", "/api/withdrawals/"+second.Str("withdrawal_id"), nil, nil); w.Str("status") != "completed" {
		t.Errorf("the withdrawal the bank completed: %s", w)
	}
	if wl := api.Must(t, "GET", "/api/wallet", nil, nil); wl.Str("balance") != "43.00" || wl.Str("available") != "43.00" {
		t.Errorf("alice's wallet: %s, want 43.00 with nothing held", wl)
	}
}
