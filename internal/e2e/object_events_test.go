package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestObjectEvents: a hold, a payment request and a withdrawal emit
// their own events (API-EVENTS.md) to each of their parties, besides
// their operations' events: in the feed, on the live stream and to
// webhooks that ask for those types, each carrying the object as the API
// shows it, as it was at that change.
func TestObjectEvents(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 1, Env: map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}})
	rcv := newReceiver(t)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")
	ac, bc := e.Client(Basic(alice.Email, alice.Password)), e.Client(Basic(bob.Email, bob.Password))
	bank := e.Client(Basic(bankEmail, bankPassword))
	wait := H{"Prefer": "wait=10"}

	r := bc.Must(t, "POST", "/api/webhooks", map[string]any{"url": rcv.srv.URL + "/ok", "events": []string{"hold.active", "hold.captured"}}, nil)
	Expect(t, r, http.StatusCreated)
	rcv.mu.Lock()
	rcv.secrets["/ok"] = r.Str("secret")
	rcv.mu.Unlock()
	live := openStream(t, e.BaseURLs[0], alice, "")

	r = ac.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": bob.WalletID, "amount": "6.00", "expires_in": 3600}, wait)
	Expect(t, r, http.StatusOK)
	holdID := r.Str("hold_id")
	Expect(t, bc.Must(t, "POST", "/api/holds/"+holdID+"/capture", map[string]any{"amount": "2.00"}, wait), http.StatusOK)

	r = bc.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": alice.WalletID, "amount": "1.50", "details": "coffee"}, nil)
	Expect(t, r, http.StatusCreated)
	reqID := r.Str("payment_request_id")
	r = ac.Must(t, "POST", "/api/payment_requests/"+reqID+"/approve", nil, wait)
	Expect(t, r, http.StatusOK)
	paidBy := r.Str("operation_id")

	r = ac.Must(t, "GET", "/api/banks", nil, nil)
	bankID := r.Body["banks"].([]any)[0].(map[string]any)["bank_id"].(string)
	r = ac.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "1.00", "details": "IBAN 1"}, wait)
	Expect(t, r, http.StatusOK)
	wID := r.Str("withdrawal_id")
	Expect(t, bank.Must(t, "POST", "/api/withdrawals/"+wID+"/processing", nil, nil), http.StatusOK)
	Expect(t, bank.Must(t, "POST", "/api/withdrawals/"+wID+"/complete", map[string]any{"reference": "SEPA-9"}, wait), http.StatusOK)

	// objectEvents is c's feed without the operation events, oldest
	// first, of the objects ids.
	objectEvents := func(c *Client, ids ...string) (types []string, data []map[string]any) {
		t.Helper()
		r := c.Must(t, "GET", "/api/notifications?limit=100", nil, nil)
		Expect(t, r, http.StatusOK)
		list := r.Body["notifications"].([]any)
		for _, n := range slices.Backward(list) {
			n := n.(map[string]any)
			d := n["data"].(map[string]any)
			typ := n["type"].(string)
			if strings.HasPrefix(typ, "operation.") {
				continue
			}
			for _, k := range []string{"hold_id", "payment_request_id", "withdrawal_id"} {
				if id, _ := d[k].(string); id != "" && slices.Contains(ids, id) {
					types, data = append(types, typ), append(data, d)
				}
			}
		}
		return types, data
	}
	// The feed is written in the changes' commits and read at once.
	types, data := objectEvents(ac, holdID, reqID, wID)
	want := "hold.active hold.captured payment_request.created payment_request.paid withdrawal.pending withdrawal.processing withdrawal.completed"
	if strings.Join(types, " ") != want {
		t.Fatalf("alice's object events: %q\nwant %q", strings.Join(types, " "), want)
	}
	check := func(who string, d map[string]any, field, want string) {
		t.Helper()
		if got, _ := d[field].(string); got != want {
			t.Errorf("%s: data.%s = %q, want %q (%v)", who, field, got, want, d)
		}
	}
	check("hold.active", data[0], "status", "active")
	check("hold.active", data[0], "remaining", "6.00")
	check("hold.captured", data[1], "status", "captured")
	check("hold.captured", data[1], "captured", "2.00")
	check("hold.captured", data[1], "remaining", "0.00")
	check("payment_request.created", data[2], "status", "open")
	check("payment_request.paid", data[3], "status", "paid")
	check("payment_request.paid", data[3], "operation_id", paidBy)
	check("withdrawal.pending", data[4], "status", "pending")
	check("withdrawal.completed", data[6], "reference", "SEPA-9")

	if types, _ := objectEvents(bc, holdID, reqID, wID); strings.Join(types, " ") != "hold.active hold.captured payment_request.created payment_request.paid" {
		t.Errorf("bob's object events: %q", strings.Join(types, " "))
	}
	if types, _ := objectEvents(bank, holdID, reqID, wID); strings.Join(types, " ") != "withdrawal.pending withdrawal.processing withdrawal.completed" {
		t.Errorf("the bank's object events: %q", strings.Join(types, " "))
	}

	// Alice's stream carried them too, with the same snapshots.
	var streamed []string
	for deadline := time.Now().Add(15 * time.Second); len(streamed) < len(want) && time.Now().Before(deadline); {
		ev, ok := live.next(t, time.Until(deadline))
		if !ok {
			break
		}
		if !strings.HasPrefix(ev.Event, "operation.") {
			streamed = append(streamed, ev.Event)
			if d, _ := ev.Data["data"].(map[string]any); ev.Event == "hold.active" && d["status"] != "active" {
				t.Errorf("streamed hold.active: %v", ev.Data)
			}
		}
		if ev.Event == "withdrawal.completed" {
			break
		}
	}
	if strings.Join(streamed, " ") != want {
		t.Errorf("alice's stream: %q", strings.Join(streamed, " "))
	}

	// Bob's webhook asked for the hold events alone (deliveries go out
	// side by side, in no set order).
	for deadline := time.Now().Add(30 * time.Second); len(rcv.receipts("/ok")) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("webhook deliveries: %+v", rcv.receipts("/ok"))
		}
	}
	time.Sleep(1500 * time.Millisecond) // a relay tick or more: nothing else may come
	var got []string
	for _, rc := range rcv.receipts("/ok") {
		got = append(got, rc.Type)
	}
	slices.Sort(got)
	if strings.Join(got, " ") != "hold.active hold.captured" {
		t.Errorf("bob's webhook got %q, want hold.active hold.captured", strings.Join(got, " "))
	}
}
