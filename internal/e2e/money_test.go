package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/pgtest"
)

// The money features of ../shared/API-MONEY.md against the running
// programs: payment systems, holds, payment requests, withdrawals.

// wallet3 reads balance, held and available in cents.
func wallet3(t *testing.T, c *Client) (balance, held, available int64) {
	t.Helper()
	r := c.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	var err error
	if balance, err = cents(r.Str("balance")); err == nil {
		if held, err = cents(r.Str("held")); err == nil {
			available, err = cents(r.Str("available"))
		}
	}
	if err != nil {
		t.Fatalf("wallet: %v: %s", err, r)
	}
	return balance, held, available
}

// final waits for the operation of r (a 200 or 202 answer) to be final
// and fails unless it ended with status.
func final(t *testing.T, c *Client, r *Resp, status string) *Resp {
	t.Helper()
	if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
		t.Fatalf("want an accepted operation: %s", r)
	}
	op := waitFinal(t, c, r.Str("operation_id"), 30*time.Second)
	if op.Str("status") != status {
		t.Fatalf("operation ended %s, want %s: %s", op.Str("status"), status, op)
	}
	return op
}

func TestMoneyScenario(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	ann, ben := e.signup(t, "Ann"), e.signup(t, "Ben")
	e.deposit(t, ann.WalletID, "200.00")
	annAPI := e.Client(Basic(ann.Email, ann.Password))
	benAPI := e.Client(Basic(ben.Email, ben.Password))
	admin := e.Client(Basic(adminEmail, adminPassword))
	devBank := e.Client(Basic(bankEmail, bankPassword))
	wait := H{"Prefer": "wait=10"}

	t.Run("holds", func(t *testing.T) {
		r := annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ben.WalletID, "amount": "50.00", "details": "taxi", "expires_in": 3600}, wait)
		Expect(t, r, http.StatusOK)
		if r.Str("type") != "hold" || r.Str("status") != "completed" || r.Str("hold_id") == "" || r.Header.Get("Location") != "/api/operations/"+r.Str("operation_id") {
			t.Fatalf("hold operation: %s", r)
		}
		holdID := r.Str("hold_id")
		if b, h, a := wallet3(t, annAPI); b != 20000 || h != 5000 || a != 15000 {
			t.Errorf("payer after the hold: balance %d held %d available %d", b, h, a)
		}
		h := benAPI.Must(t, "GET", "/api/holds/"+holdID, nil, nil)
		Expect(t, h, http.StatusOK)
		if h.Str("status") != "active" || h.Str("remaining") != "50.00" || h.Str("captured") != "0.00" ||
			h.Str("from_wallet_id") != ann.WalletID || h.Str("to_wallet_id") != ben.WalletID {
			t.Errorf("active hold: %s", h)
		}
		// In parts: 10.00, then a capture of more than remains is
		// refused at once, then the rest closes it.
		r = benAPI.Must(t, "POST", "/api/holds/"+holdID+"/capture", map[string]any{"amount": "10.00", "final": false}, H{"Prefer": "wait=10", "Idempotency-Key": "cap-1"})
		Expect(t, r, http.StatusOK)
		if r.Str("type") != "hold_capture" || r.Str("amount") != "10.00" || r.Str("hold_id") != holdID {
			t.Errorf("capture: %s", r)
		}
		replay := benAPI.Must(t, "POST", "/api/holds/"+holdID+"/capture", map[string]any{"amount": "10.00", "final": false}, H{"Idempotency-Key": "cap-1"})
		expectReplay(t, r, replay)
		CheckError(t, benAPI.Must(t, "POST", "/api/holds/"+holdID+"/capture", map[string]any{"amount": "40.01"}, nil), 422, "capture_exceeds_hold")
		CheckError(t, annAPI.Must(t, "POST", "/api/holds/"+holdID+"/capture", nil, nil), 403, "forbidden")
		r = benAPI.Must(t, "POST", "/api/holds/"+holdID+"/capture", map[string]any{"amount": "15.00"}, wait) // final: the rest goes back
		Expect(t, r, http.StatusOK)
		h = benAPI.Must(t, "GET", "/api/holds/"+holdID, nil, nil)
		if h.Str("status") != "captured" || h.Str("captured") != "25.00" || h.Str("remaining") != "0.00" || h.Str("closed_at") == "" {
			t.Errorf("captured hold: %s", h)
		}
		CheckError(t, benAPI.Must(t, "POST", "/api/holds/"+holdID+"/capture", nil, nil), 409, "hold_not_active")
		CheckError(t, benAPI.Must(t, "POST", "/api/holds/"+holdID+"/void", nil, nil), 409, "hold_not_active")
		if b, h, a := wallet3(t, annAPI); b != 17500 || h != 0 || a != 17500 {
			t.Errorf("payer after the captures: balance %d held %d available %d", b, h, a)
		}
		if b, _, _ := wallet3(t, benAPI); b != 2500 {
			t.Errorf("recipient has %d, want 25.00", b)
		}

		// A capture without an amount takes all that remains; a void by
		// an admin releases it all.
		r = annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ben.WalletID, "amount": "7.00"}, wait)
		all := r.Str("hold_id")
		r = benAPI.Must(t, "POST", "/api/holds/"+all+"/capture", nil, wait)
		Expect(t, r, http.StatusOK)
		if r.Str("amount") != "7.00" {
			t.Errorf("a capture without an amount: %s", r)
		}
		r = annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ben.WalletID, "amount": "3.00"}, wait)
		voided := r.Str("hold_id")
		r = admin.Must(t, "POST", "/api/holds/"+voided+"/void", nil, wait)
		Expect(t, r, http.StatusOK)
		if r.Str("type") != "hold_void" || r.Str("amount") != "3.00" {
			t.Errorf("void: %s", r)
		}
		if h := annAPI.Must(t, "GET", "/api/holds/"+voided, nil, nil); h.Str("status") != "voided" {
			t.Errorf("voided hold: %s", h)
		}

		// Refusals at accept, storing nothing.
		CheckError(t, annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ann.WalletID, "amount": "1.00"}, nil), 422, "same_wallet")
		CheckError(t, annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ben.WalletID, "amount": "1000.00"}, nil), 422, "insufficient_funds")
		for _, exp := range []any{0, 2592001, -5, "60", 1.5} {
			CheckError(t, annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ben.WalletID, "amount": "1.00", "expires_in": exp}, nil), 400, "invalid_expiry")
		}

		// Lists: the payer's and the recipient's, by role and status,
		// paged.
		r = annAPI.Must(t, "GET", "/api/holds?role=payer&limit=2", nil, nil)
		Expect(t, r, http.StatusOK)
		page1, _ := r.Body["holds"].([]any)
		next := nextCursor(t, r)
		if len(page1) != 2 || next == "" {
			t.Fatalf("first page of 3 holds: %s", r)
		}
		r = annAPI.Must(t, "GET", "/api/holds?role=payer&limit=2&cursor="+url.QueryEscape(next), nil, nil)
		page2, _ := r.Body["holds"].([]any)
		if len(page2) != 1 || nextCursor(t, r) != "" {
			t.Errorf("second page: %s", r)
		}
		if r := annAPI.Must(t, "GET", "/api/holds?role=recipient", nil, nil); len(r.Body["holds"].([]any)) != 0 {
			t.Errorf("Ann received no holds: %s", r)
		}
		if r := benAPI.Must(t, "GET", "/api/holds?status=voided", nil, nil); len(r.Body["holds"].([]any)) != 1 {
			t.Errorf("Ben's voided holds: %s", r)
		}
		CheckError(t, annAPI.Must(t, "GET", "/api/holds?role=owner", nil, nil), 400, "invalid_request")
		CheckError(t, annAPI.Must(t, "GET", "/api/holds?status=gone", nil, nil), 400, "invalid_request")
	})

	t.Run("payment requests", func(t *testing.T) {
		r := benAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": ann.WalletID, "amount": "12.00", "details": "lunch"}, nil)
		Expect(t, r, http.StatusCreated)
		reqID := r.Str("payment_request_id")
		if r.Str("status") != "open" || r.Str("from_wallet_id") != ann.WalletID || r.Str("to_wallet_id") != ben.WalletID {
			t.Fatalf("new request: %s", r)
		}
		if r := annAPI.Must(t, "GET", "/api/payment_requests?direction=incoming", nil, nil); len(r.Body["payment_requests"].([]any)) != 1 {
			t.Errorf("Ann's incoming requests: %s", r)
		}
		if r := annAPI.Must(t, "GET", "/api/payment_requests?direction=outgoing", nil, nil); len(r.Body["payment_requests"].([]any)) != 0 {
			t.Errorf("Ann's outgoing requests: %s", r)
		}
		CheckError(t, benAPI.Must(t, "POST", "/api/payment_requests/"+reqID+"/approve", nil, nil), 403, "forbidden")
		r = annAPI.Must(t, "POST", "/api/payment_requests/"+reqID+"/approve", nil, wait)
		Expect(t, r, http.StatusOK)
		if r.Str("type") != "wallet_to_wallet" || r.Str("payment_request_id") != reqID || r.Str("amount") != "12.00" {
			t.Errorf("approving transfer: %s", r)
		}
		p := benAPI.Must(t, "GET", "/api/payment_requests/"+reqID, nil, nil)
		if p.Str("status") != "paid" || p.Str("operation_id") != r.Str("operation_id") {
			t.Errorf("paid request: %s", p)
		}
		CheckError(t, annAPI.Must(t, "POST", "/api/payment_requests/"+reqID+"/approve", nil, nil), 409, "payment_request_not_open")
		CheckError(t, benAPI.Must(t, "POST", "/api/payment_requests/"+reqID+"/cancel", nil, nil), 409, "payment_request_not_open")

		r = benAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": ann.WalletID, "amount": "5.00"}, nil)
		declined := r.Str("payment_request_id")
		r = annAPI.Must(t, "POST", "/api/payment_requests/"+declined+"/decline", map[string]any{"reason": "we split it already"}, nil)
		Expect(t, r, http.StatusOK)
		if r.Str("status") != "declined" {
			t.Errorf("declined: %s", r)
		}
		r = benAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": ann.WalletID, "amount": "6.00"}, nil)
		cancelled := r.Str("payment_request_id")
		Expect(t, benAPI.Must(t, "POST", "/api/payment_requests/"+cancelled+"/cancel", nil, nil), http.StatusOK)
		CheckError(t, annAPI.Must(t, "POST", "/api/payment_requests/"+cancelled+"/approve", nil, nil), 409, "payment_request_not_open")
		CheckError(t, benAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": ben.WalletID, "amount": "1.00"}, nil), 422, "same_wallet")
		CheckError(t, benAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": ann.WalletID, "amount": "1.00", "expires_in": 0}, nil), 400, "invalid_expiry")
	})

	t.Run("withdrawals", func(t *testing.T) {
		r := annAPI.Must(t, "GET", "/api/banks", nil, nil)
		Expect(t, r, http.StatusOK)
		banks, _ := r.Body["banks"].([]any)
		if len(banks) != 1 {
			t.Fatalf("banks: %s", r)
		}
		bankID := banks[0].(map[string]any)["bank_id"].(string)
		before, _, _ := wallet3(t, annAPI)
		r = annAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "30.00", "details": "IBAN DE89 3704"}, wait)
		Expect(t, r, http.StatusOK)
		wID := r.Str("withdrawal_id")
		if r.Str("type") != "withdrawal" || wID == "" {
			t.Fatalf("withdrawal operation: %s", r)
		}
		if _, h, a := wallet3(t, annAPI); h != 3000 || a != before-3000 {
			t.Errorf("owner with a pending withdrawal: held %d available %d", h, a)
		}
		r = devBank.Must(t, "GET", "/api/withdrawals?status=pending", nil, nil)
		if ws, _ := r.Body["withdrawals"].([]any); len(ws) != 1 || ws[0].(map[string]any)["withdrawal_id"] != wID {
			t.Errorf("the bank's pending withdrawals: %s", r)
		}
		Expect(t, devBank.Must(t, "POST", "/api/withdrawals/"+wID+"/processing", nil, nil), http.StatusOK)
		CheckError(t, devBank.Must(t, "POST", "/api/withdrawals/"+wID+"/processing", nil, nil), 409, "withdrawal_not_pending")
		CheckError(t, annAPI.Must(t, "POST", "/api/withdrawals/"+wID+"/cancel", nil, nil), 409, "withdrawal_not_cancellable")
		r = devBank.Must(t, "POST", "/api/withdrawals/"+wID+"/complete", map[string]any{"reference": "SEPA-42"}, wait)
		Expect(t, r, http.StatusOK)
		w := annAPI.Must(t, "GET", "/api/withdrawals/"+wID, nil, nil)
		if w.Str("status") != "completed" || w.Str("reference") != "SEPA-42" || w.Str("closed_at") == "" {
			t.Errorf("completed withdrawal: %s", w)
		}
		CheckError(t, devBank.Must(t, "POST", "/api/withdrawals/"+wID+"/fail", map[string]any{"reason": "late"}, nil), 409, "withdrawal_closed")
		if b, h, _ := wallet3(t, annAPI); b != before-3000 || h != 0 {
			t.Errorf("owner after the payout: balance %d held %d", b, h)
		}

		// Failed by the bank, and cancelled by the owner: the money
		// comes back.
		r = annAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "10.00", "details": "IBAN 2"}, wait)
		failed := r.Str("withdrawal_id")
		CheckError(t, devBank.Must(t, "POST", "/api/withdrawals/"+failed+"/fail", nil, nil), 400, "")
		r = devBank.Must(t, "POST", "/api/withdrawals/"+failed+"/fail", map[string]any{"reason": "account closed"}, wait)
		Expect(t, r, http.StatusOK)
		r = annAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "10.00", "details": "IBAN 3"}, wait)
		cancelled := r.Str("withdrawal_id")
		r = annAPI.Must(t, "POST", "/api/withdrawals/"+cancelled+"/cancel", nil, wait)
		Expect(t, r, http.StatusOK)
		for id, want := range map[string]string{failed: "failed", cancelled: "cancelled"} {
			if w := annAPI.Must(t, "GET", "/api/withdrawals/"+id, nil, nil); w.Str("status") != want {
				t.Errorf("withdrawal %s: %s, want %s", id, w, want)
			}
		}
		if b, h, _ := wallet3(t, annAPI); b != before-3000 || h != 0 {
			t.Errorf("owner after a failed and a cancelled withdrawal: balance %d held %d", b, h)
		}
		CheckError(t, annAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "1000.00", "details": "x"}, nil), 422, "insufficient_funds")
		CheckError(t, annAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "1.00"}, nil), 400, "invalid_details")
		// The settlement account took the payout: minus the deposits
		// (200.00 to Ann) plus 30.00.
		r = admin.Must(t, "GET", "/api/admin/banks", nil, nil)
		if bs, _ := r.Body["banks"].([]any); len(bs) != 1 || bs[0].(map[string]any)["balance"] != "-170.00" {
			t.Errorf("admin's banks: %s", r)
		}
	})

	t.Run("payment systems", func(t *testing.T) {
		r := admin.Must(t, "POST", "/api/admin/banks", map[string]any{"name": "Second Bank", "email": "second-" + randHex(3) + "@bank.example", "password": "second-bank-password"}, nil)
		Expect(t, r, http.StatusCreated)
		bank2 := user{Email: r.Str("email"), Password: "second-bank-password"}
		bank2ID, bank2Settlement := r.Str("bank_id"), r.Str("settlement_wallet_id")
		if r.Str("status") != "active" || bank2ID == "" || bank2Settlement == "" {
			t.Fatalf("new bank: %s", r)
		}
		CheckError(t, admin.Must(t, "POST", "/api/admin/banks", map[string]any{"name": "Again", "email": bank2.Email, "password": "second-bank-password"}, nil), 409, "email_taken")
		CheckError(t, admin.Must(t, "POST", "/api/admin/banks", map[string]any{"name": "Weak", "email": "weak-" + randHex(3) + "@bank.example", "password": "short"}, nil), 400, "weak_password")

		// Its deposits come from its own settlement account.
		bank2API := e.Client(Basic(bank2.Email, bank2.Password))
		r = bank2API.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": ben.WalletID, "amount": "8.00", "details": "card"}, wait)
		op := final(t, bank2API, r, "completed")
		if op.Str("from_wallet_id") != bank2Settlement {
			t.Errorf("bank 2's deposit came from %s, want its settlement %s", op.Str("from_wallet_id"), bank2Settlement)
		}
		// It sees its own operations only.
		devDeposit := e.deposit(t, ben.WalletID, "1.00")
		CheckError(t, bank2API.Must(t, "GET", "/api/operations/"+devDeposit, nil, nil), 404, "operation_not_found")
		Expect(t, bank2API.Must(t, "GET", "/api/operations/"+op.Str("operation_id"), nil, nil), http.StatusOK)

		// Disabled: every way in is refused, what it did stays.
		token := e.token(t, bank2)
		cookie, _ := loginCookie(t, e, bank2)
		Expect(t, admin.Must(t, "POST", "/api/admin/banks/"+bank2ID+"/disable", nil, nil), http.StatusOK)
		for name, c := range map[string]*Client{"cached Basic": bank2API, "Bearer": e.Client(Bearer(token)), "session": cookie} {
			if r := c.Must(t, "GET", "/api/wallet", nil, nil); errorShape(r, 403, "account_disabled") != nil {
				t.Errorf("disabled bank by %s: %s", name, r)
			}
		}
		CheckError(t, e.Client(nil).Must(t, "POST", "/api/login", map[string]any{"email": bank2.Email, "password": bank2.Password}, nil), 403, "account_disabled")
		CheckError(t, bank2API.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": ben.WalletID, "amount": "1.00", "details": "x"}, nil), 403, "account_disabled")
		CheckError(t, benAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bank2ID, "amount": "1.00", "details": "x"}, nil), 404, "bank_not_found")
		r = annAPI.Must(t, "GET", "/api/banks", nil, nil)
		if bs, _ := r.Body["banks"].([]any); len(bs) != 1 {
			t.Errorf("users see the active banks only: %s", r)
		}
		r = admin.Must(t, "GET", "/api/admin/banks", nil, nil)
		if bs, _ := r.Body["banks"].([]any); len(bs) != 2 || bs[1].(map[string]any)["status"] != "disabled" || bs[1].(map[string]any)["balance"] != "-8.00" {
			t.Errorf("admin's banks after the disable: %s", r)
		}
		CheckError(t, admin.Must(t, "POST", "/api/admin/banks/01a23119-0000-7000-8000-00000000beef/disable", nil, nil), 404, "bank_not_found")
	})

	t.Run("the wallet lists what changed it", func(t *testing.T) {
		r := annAPI.Must(t, "GET", "/api/wallet/operations?limit=100", nil, nil)
		Expect(t, r, http.StatusOK)
		types := map[string]int{}
		for _, o := range r.Body["operations"].([]any) {
			types[o.(map[string]any)["type"].(string)]++
		}
		for typ, n := range map[string]int{"hold": 3, "hold_capture": 3, "hold_void": 1, "withdrawal": 3,
			"withdrawal_complete": 1, "withdrawal_fail": 2, "wallet_to_wallet": 1, "external_to_wallet": 1} {
			if types[typ] != n {
				t.Errorf("Ann's operations hold %d of type %s, want %d: %v", types[typ], typ, n, types)
			}
		}
	})

	r := admin.Must(t, "GET", "/api/admin/audit", nil, nil)
	if r.Body["ok"] != true {
		t.Errorf("audit: %s", r)
	}
}

// TestMoneyRaces sends the contended requests through the API at once:
// whatever the acceptor refuses early and the commit decides, a hold is
// never captured past its amount and a request is paid at most once.
func TestMoneyRaces(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 2)
	ann, ben := e.signup(t, "Ann"), e.signup(t, "Ben")
	e.deposit(t, ann.WalletID, "500.00")
	annAPI := e.Client(Basic(ann.Email, ann.Password))
	benAPI := e.Client(Basic(ben.Email, ben.Password))

	r := annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ben.WalletID, "amount": "100.00"}, H{"Prefer": "wait=10"})
	holdID := r.Str("hold_id")
	const n = 20
	var mu sync.Mutex
	var accepted []string
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := benAPI.Do("POST", "/api/holds/"+holdID+"/capture", map[string]any{"amount": fmt.Sprintf("%d.00", 7+i%3), "final": false}, nil)
			if err != nil {
				t.Errorf("capture: %v", err)
				return
			}
			switch {
			case r.Status == http.StatusAccepted:
				mu.Lock()
				accepted = append(accepted, r.Str("operation_id"))
				mu.Unlock()
			case r.ErrCode() == "capture_exceeds_hold", r.ErrCode() == "hold_not_active", r.ErrCode() == "wallet_busy":
			default:
				t.Errorf("capture: %s", r)
			}
		})
	}
	wg.Wait()
	var captured int64
	for _, id := range accepted {
		op := waitFinal(t, benAPI, id, 30*time.Second)
		if op.Str("status") == "completed" {
			c, _ := cents(op.Str("amount"))
			captured += c
		}
	}
	h := benAPI.Must(t, "GET", "/api/holds/"+holdID, nil, nil)
	if got, _ := cents(h.Str("captured")); got != captured || captured > 10000 {
		t.Errorf("captures completed for %s, hold says %s (of 100.00)", money(captured), h.Str("captured"))
	}

	// Approve and cancel of one request at once, a few times.
	for round := range 5 {
		r := benAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": ann.WalletID, "amount": "1.00"}, nil)
		id := r.Str("payment_request_id")
		var approve, cancel *Resp
		pgtest.Together(2, func(i int) {
			if i == 0 {
				approve, _ = annAPI.Do("POST", "/api/payment_requests/"+id+"/approve", nil, H{"Prefer": "wait=10"})
			} else {
				cancel, _ = benAPI.Do("POST", "/api/payment_requests/"+id+"/cancel", nil, nil)
			}
		})
		if approve == nil || cancel == nil {
			t.Fatal("a request failed to send")
		}
		approveWon := approve.Status == http.StatusOK || approve.Status == http.StatusAccepted
		cancelWon := cancel.Status == http.StatusOK
		if approveWon == cancelWon {
			t.Fatalf("round %d: approve %s, cancel %s: exactly one must win", round, approve, cancel)
		}
	}
	r = e.Client(Basic(adminEmail, adminPassword)).Must(t, "GET", "/api/admin/audit", nil, nil)
	if r.Body["ok"] != true {
		t.Errorf("audit: %s", r)
	}
}

// TestExpiryAcrossCrash: holds and payment requests that expire in two
// seconds, and withdrawals that time out in two, while every worker is
// SIGKILLed and Redis flushed (their scheduled tasks gone): once workers
// run again, all of them end expired with the money back, without a
// request.
func TestExpiryAcrossCrash(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 2, OwnRedis: true, Env: map[string]string{"WITHDRAWAL_TIMEOUT": "2s"}})
	ann, ben := e.signup(t, "Ann"), e.signup(t, "Ben")
	e.deposit(t, ann.WalletID, "100.00")
	annAPI := e.Client(Basic(ann.Email, ann.Password))
	benAPI := e.Client(Basic(ben.Email, ben.Password))
	banks := annAPI.Must(t, "GET", "/api/banks", nil, nil).Body["banks"].([]any)
	bankID := banks[0].(map[string]any)["bank_id"].(string)

	var holds, requests, withdrawals []string
	for i := range 3 {
		r := annAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": ben.WalletID, "amount": fmt.Sprintf("%d.00", 10+i), "expires_in": 2}, H{"Prefer": "wait=10"})
		final(t, annAPI, r, "completed")
		holds = append(holds, r.Str("hold_id"))
		r = benAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": ann.WalletID, "amount": "1.00", "expires_in": 2}, nil)
		Expect(t, r, http.StatusCreated)
		requests = append(requests, r.Str("payment_request_id"))
		r = annAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "5.00", "details": "IBAN"}, H{"Prefer": "wait=10"})
		final(t, annAPI, r, "completed")
		withdrawals = append(withdrawals, r.Str("withdrawal_id"))
	}
	if _, h, _ := wallet3(t, annAPI); h != 1000+1100+1200+1500 {
		t.Fatalf("held before the crash: %d", h)
	}
	for _, w := range e.Workers {
		w.Kill()
	}
	if err := e.Redis.FlushAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past every expiry, with no worker and no task
	for _, id := range holds {
		if h := annAPI.Must(t, "GET", "/api/holds/"+id, nil, nil); h.Str("status") != "active" {
			t.Fatalf("with no worker running, hold %s is %s", id, h.Str("status"))
		}
	}
	for _, w := range e.Workers {
		w.Start()
	}
	deadline := time.Now().Add(60 * time.Second)
	pending := func() []string {
		var left []string
		for _, id := range holds {
			if annAPI.Must(t, "GET", "/api/holds/"+id, nil, nil).Str("status") != "expired" {
				left = append(left, "hold "+id)
			}
		}
		for _, id := range requests {
			if annAPI.Must(t, "GET", "/api/payment_requests/"+id, nil, nil).Str("status") != "expired" {
				left = append(left, "request "+id)
			}
		}
		for _, id := range withdrawals {
			if annAPI.Must(t, "GET", "/api/withdrawals/"+id, nil, nil).Str("status") != "expired" {
				left = append(left, "withdrawal "+id)
			}
		}
		return left
	}
	for left := pending(); len(left) > 0; left = pending() {
		if time.Now().After(deadline) {
			t.Fatalf("not expired a minute after the workers came back: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if b, h, a := wallet3(t, annAPI); b != 10000 || h != 0 || a != 10000 {
		t.Errorf("after the expiries: balance %d held %d available %d, want all 100.00 back", b, h, a)
	}
	r := e.Client(Basic(adminEmail, adminPassword)).Must(t, "GET", "/api/admin/audit", nil, nil)
	if r.Body["ok"] != true {
		t.Errorf("audit: %s", r)
	}
}
