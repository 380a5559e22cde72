package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestMoneyAccessMatrix holds every endpoint of API-MONEY.md to its access
// rule for every caller role: the payer (who is also the withdrawal's
// owner), the recipient (who also asked for the payment), another user,
// the withdrawal's bank, another bank, a disabled bank (by Basic, by a
// token and a session opened before it was disabled), an admin, and
// anonymous callers. Who may not see a resource gets its 404; a party
// whose role may not act gets 403. Resources whose state would change
// under a row are closed first, so each cell is the access decision,
// not a race.
func TestMoneyAccessMatrix(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	payer, recipient, other := e.signup(t, "Pay"), e.signup(t, "Rec"), e.signup(t, "Oth")
	for _, u := range []user{payer, recipient, other} {
		e.deposit(t, u.WalletID, "500.00")
	}
	admin := e.Client(Basic(adminEmail, adminPassword))
	payerAPI := e.Client(Basic(payer.Email, payer.Password))
	recAPI := e.Client(Basic(recipient.Email, recipient.Password))
	devBank := e.Client(Basic(bankEmail, bankPassword))
	wait := H{"Prefer": "wait=10"}

	newBank := func(name string) (user, string) {
		r := admin.Must(t, "POST", "/api/admin/banks", map[string]any{"name": name, "email": name + "-" + randHex(3) + "@bank.example", "password": "bank password " + name}, nil)
		Expect(t, r, http.StatusCreated)
		return user{Email: r.Str("email"), Password: "bank password " + name}, r.Str("bank_id")
	}
	bank2, _ := newBank("other")
	disabled, disabledID := newBank("disabled")
	disabledToken := e.token(t, disabled)
	disabledCookie, _ := loginCookie(t, e, disabled)
	Expect(t, admin.Must(t, "POST", "/api/admin/banks/"+disabledID+"/disable", nil, nil), http.StatusOK)
	devBankID := ""
	for _, b := range payerAPI.Must(t, "GET", "/api/banks", nil, nil).Body["banks"].([]any) {
		if m := b.(map[string]any); m["name"] == "Development Bank" {
			devBankID = m["bank_id"].(string)
		}
	}

	// The resources: an active hold and a closed one (payer to
	// recipient), an open request and a closed one (the recipient asks
	// the payer), a pending withdrawal and a closed one (the payer's,
	// through the development bank).
	r := payerAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": recipient.WalletID, "amount": "100.00"}, wait)
	activeHold := r.Str("hold_id")
	r = payerAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": recipient.WalletID, "amount": "1.00"}, wait)
	closedHold := r.Str("hold_id")
	Expect(t, recAPI.Must(t, "POST", "/api/holds/"+closedHold+"/void", nil, wait), http.StatusOK)
	r = recAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": payer.WalletID, "amount": "2.00"}, nil)
	openReq := r.Str("payment_request_id")
	r = recAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": payer.WalletID, "amount": "2.00"}, nil)
	closedReq := r.Str("payment_request_id")
	Expect(t, recAPI.Must(t, "POST", "/api/payment_requests/"+closedReq+"/cancel", nil, nil), http.StatusOK)
	r = payerAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": devBankID, "amount": "5.00", "details": "IBAN"}, wait)
	pendingW := r.Str("withdrawal_id")
	r = payerAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": devBankID, "amount": "5.00", "details": "IBAN"}, wait)
	closedW := r.Str("withdrawal_id")
	Expect(t, devBank.Must(t, "POST", "/api/withdrawals/"+closedW+"/complete", nil, wait), http.StatusOK)

	login := func(u user) *Client {
		c, _ := loginCookie(t, e, u)
		return c
	}
	callers := []accCaller{
		{label: "anonymous", who: "anon", c: e.Client(nil)},
		{label: "unknown Bearer token", who: "anon", c: e.Client(Bearer(randHex(32)))},
		{label: "payer (Basic)", who: "payer", c: payerAPI},
		{label: "payer (cookie)", who: "payer", c: login(payer)},
		{label: "payer (Bearer)", who: "payer", c: e.Client(Bearer(e.token(t, payer)))},
		{label: "recipient (Basic)", who: "recipient", c: recAPI},
		{label: "other user (Basic)", who: "other", c: e.Client(Basic(other.Email, other.Password))},
		{label: "its bank (Basic)", who: "bank", c: devBank},
		{label: "its bank (Bearer)", who: "bank", c: e.Client(Bearer(e.token(t, user{Email: bankEmail, Password: bankPassword})))},
		{label: "another bank (Basic)", who: "bank2", c: e.Client(Basic(bank2.Email, bank2.Password))},
		{label: "disabled bank (Basic)", who: "disabled", c: e.Client(Basic(disabled.Email, disabled.Password))},
		{label: "disabled bank (Bearer)", who: "disabled", c: e.Client(Bearer(disabledToken))},
		{label: "disabled bank (cookie)", who: "disabled", c: disabledCookie},
		{label: "admin (Basic)", who: "admin", c: admin},
	}
	// OAuth access tokens, with all of the role's scopes and with fewer.
	pub := e.registerClient(t, "public", loopbackRedirect)
	oauth := func(label, who string, u user, scopes ...string) accCaller {
		return e.oauthCaller(t, pub, label, who, u, scopes...)
	}
	callers = append(callers,
		oauth("payer (OAuth)", "payer", payer),
		oauth("payer (OAuth wallet:read)", "payer", payer, "wallet:read"),
		oauth("recipient (OAuth wallet:transfer)", "recipient", recipient, "wallet:transfer"),
		oauth("its bank (OAuth client)", "bank", user{}),
		oauth("its bank (OAuth wallet:read)", "bank", user{}, "wallet:read"),
		oauth("admin (OAuth)", "admin", user{Email: adminEmail, Password: adminPassword}),
		oauth("admin (OAuth wallet:read)", "admin", user{Email: adminEmail, Password: adminPassword}, "wallet:read"),
	)

	w := func(status int, code string) accWant { return accWant{status, code} }
	unauth, off := w(401, "unauthorized"), w(403, "account_disabled")
	forbidden := w(403, "forbidden")
	// cells builds a row's answers: anonymous callers 401, the disabled
	// bank 403 account_disabled, the rest as given.
	cells := func(payer, recipient, other, bank, bank2, admin accWant) map[string]accWant {
		return map[string]accWant{"anon": unauth, "disabled": off, "payer": payer, "recipient": recipient,
			"other": other, "bank": bank, "bank2": bank2, "admin": admin}
	}
	all := func(a accWant) map[string]accWant { return cells(a, a, a, a, a, a) }
	holdNF, reqNF, wNF := w(404, "hold_not_found"), w(404, "payment_request_not_found"), w(404, "withdrawal_not_found")
	ok, created, accepted := w(200, ""), w(201, ""), w(202, "")
	body := func(v map[string]any) func(accCaller) any { return func(accCaller) any { return v } }
	freshBank := func(accCaller) any {
		return map[string]any{"name": "New", "email": "new-" + randHex(4) + "@bank.example", "password": "new bank password"}
	}
	has := func(key, id string, yes ...string) func(t *testing.T, cl accCaller, r *Resp) {
		return func(t *testing.T, cl accCaller, r *Resp) {
			var ids []string
			for _, x := range r.Body[key].([]any) {
				m := x.(map[string]any)
				for _, k := range []string{"hold_id", "payment_request_id", "withdrawal_id"} {
					if v, ok := m[k].(string); ok {
						ids = append(ids, v)
					}
				}
			}
			if want := slices.Contains(yes, cl.who); slices.Contains(ids, id) != want {
				t.Errorf("%s: the list %s %s: %s", cl.label, map[bool]string{true: "must hold", false: "must not hold"}[want], id, r)
			}
		}
	}

	rows := []accRow{
		{name: "banks", scope: "wallet:read", method: "GET", path: "/api/banks", want: all(ok)},
		{name: "admin: banks", scope: "admin", method: "GET", path: "/api/admin/banks",
			want: cells(forbidden, forbidden, forbidden, forbidden, forbidden, ok)},
		{name: "admin: create a bank", scope: "admin", method: "POST", path: "/api/admin/banks", body: freshBank,
			want: cells(forbidden, forbidden, forbidden, forbidden, forbidden, created)},
		{name: "admin: disable an unknown bank", scope: "admin", method: "POST", path: "/api/admin/banks/01a23119-0000-7000-8000-00000000beef/disable",
			want: cells(forbidden, forbidden, forbidden, forbidden, forbidden, w(404, "bank_not_found"))},

		{name: "place a hold for the recipient", scope: "wallet:transfer", method: "POST", path: "/api/holds",
			body: body(map[string]any{"wallet_id": recipient.WalletID, "amount": "0.01"}),
			want: cells(accepted, w(422, "same_wallet"), accepted, forbidden, forbidden, forbidden)},
		{name: "the active hold", scope: "wallet:read", method: "GET", path: "/api/holds/" + activeHold,
			want: cells(ok, ok, holdNF, holdNF, holdNF, ok)},
		{name: "holds", scope: "wallet:read", method: "GET", path: "/api/holds", want: all(ok),
			check: has("holds", activeHold, "payer", "recipient")},
		{name: "capture the active hold (0.01, not final)", scope: "wallet:transfer", method: "POST", path: "/api/holds/" + activeHold + "/capture",
			body: body(map[string]any{"amount": "0.01", "final": false}),
			want: cells(forbidden, accepted, holdNF, holdNF, holdNF, forbidden)},
		{name: "capture the closed hold", scope: "wallet:transfer", method: "POST", path: "/api/holds/" + closedHold + "/capture",
			want: cells(forbidden, w(409, "hold_not_active"), holdNF, holdNF, holdNF, forbidden)},
		{name: "void the closed hold", scope: "wallet:transfer|admin", method: "POST", path: "/api/holds/" + closedHold + "/void",
			want: cells(forbidden, w(409, "hold_not_active"), holdNF, holdNF, holdNF, w(409, "hold_not_active"))},

		{name: "ask the payer for money", scope: "wallet:transfer", method: "POST", path: "/api/payment_requests",
			body: body(map[string]any{"wallet_id": payer.WalletID, "amount": "0.50"}),
			want: cells(w(422, "same_wallet"), created, created, forbidden, forbidden, forbidden)},
		{name: "the open request", scope: "wallet:read", method: "GET", path: "/api/payment_requests/" + openReq,
			want: cells(ok, ok, reqNF, reqNF, reqNF, ok)},
		{name: "payment requests", scope: "wallet:read", method: "GET", path: "/api/payment_requests", want: all(ok),
			check: has("payment_requests", openReq, "payer", "recipient")},
		{name: "approve the closed request", scope: "wallet:transfer", method: "POST", path: "/api/payment_requests/" + closedReq + "/approve",
			want: cells(w(409, "payment_request_not_open"), forbidden, reqNF, reqNF, reqNF, forbidden)},
		{name: "decline the closed request", scope: "wallet:transfer", method: "POST", path: "/api/payment_requests/" + closedReq + "/decline",
			want: cells(w(409, "payment_request_not_open"), forbidden, reqNF, reqNF, reqNF, forbidden)},
		{name: "cancel the closed request", scope: "wallet:transfer", method: "POST", path: "/api/payment_requests/" + closedReq + "/cancel",
			want: cells(forbidden, w(409, "payment_request_not_open"), reqNF, reqNF, reqNF, forbidden)},

		{name: "withdraw through the bank", scope: "wallet:transfer", method: "POST", path: "/api/withdrawals",
			body: body(map[string]any{"bank_id": devBankID, "amount": "0.01", "details": "IBAN"}),
			want: cells(accepted, accepted, accepted, forbidden, forbidden, forbidden)},
		{name: "withdraw through the disabled bank", scope: "wallet:transfer", method: "POST", path: "/api/withdrawals",
			body: body(map[string]any{"bank_id": disabledID, "amount": "0.01", "details": "IBAN"}),
			want: cells(w(404, "bank_not_found"), w(404, "bank_not_found"), w(404, "bank_not_found"), w(404, "bank_not_found"), w(404, "bank_not_found"), w(404, "bank_not_found"))},
		{name: "the pending withdrawal", scope: "wallet:read", method: "GET", path: "/api/withdrawals/" + pendingW,
			want: cells(ok, wNF, wNF, ok, wNF, ok)},
		{name: "withdrawals", scope: "wallet:read", method: "GET", path: "/api/withdrawals", want: all(ok),
			check: has("withdrawals", pendingW, "payer", "bank", "admin")},
		{name: "processing the closed withdrawal", scope: "bank:deposit", method: "POST", path: "/api/withdrawals/" + closedW + "/processing",
			want: cells(forbidden, wNF, wNF, w(409, "withdrawal_not_pending"), wNF, forbidden)},
		{name: "complete the closed withdrawal", scope: "bank:deposit", method: "POST", path: "/api/withdrawals/" + closedW + "/complete",
			want: cells(forbidden, wNF, wNF, w(409, "withdrawal_closed"), wNF, forbidden)},
		{name: "fail the closed withdrawal", scope: "bank:deposit|admin", method: "POST", path: "/api/withdrawals/" + closedW + "/fail",
			body: body(map[string]any{"reason": "no"}),
			want: cells(forbidden, wNF, wNF, w(409, "withdrawal_closed"), wNF, w(409, "withdrawal_closed"))},
		{name: "cancel the closed withdrawal", scope: "wallet:transfer", method: "POST", path: "/api/withdrawals/" + closedW + "/cancel",
			want: cells(w(409, "withdrawal_not_cancellable"), wNF, wNF, forbidden, wNF, forbidden)},
	}
	runAccessMatrix(t, e, rows, callers)

	// What the matrix accepted ends well, and the ledger is whole.
	for _, c := range []*Client{payerAPI, recAPI, e.Client(Basic(other.Email, other.Password))} {
		r := c.Must(t, "GET", "/api/wallet/operations?limit=100", nil, nil)
		for _, id := range opIDs(t, r) {
			waitFinal(t, admin, id, 30*time.Second)
		}
	}
	r = admin.Must(t, "GET", "/api/admin/audit", nil, nil)
	if r.Body["ok"] != true {
		t.Errorf("audit after the matrix: %s", r)
	}
}
