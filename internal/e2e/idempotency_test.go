package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// expectReplay checks that r replays first: same status, same operation,
// Idempotent-Replayed: true.
func expectReplay(t *testing.T, first, r *Resp) {
	t.Helper()
	if r.Status != first.Status {
		t.Errorf("replay status %d, want the first answer's %d: %s", r.Status, first.Status, r)
	}
	if r.Str("operation_id") == "" || r.Str("operation_id") != first.Str("operation_id") {
		t.Errorf("replay returned operation %q, want %q: %s", r.Str("operation_id"), first.Str("operation_id"), r)
	}
	if got := r.Header.Get("Idempotent-Replayed"); got != "true" {
		t.Errorf("replay has Idempotent-Replayed %q, want true: %s", got, r)
	}
}

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "100.00")
	e.deposit(t, bob.WalletID, "100.00")
	aliceAPI := e.Client(Basic(alice.Email, alice.Password))
	bobAPI := e.Client(Basic(bob.Email, bob.Password))
	toBob := func(amount string) map[string]any {
		return map[string]any{"wallet_id": bob.WalletID, "amount": amount, "details": "idem"}
	}
	aliceMoved, bobMoved := int64(0), int64(0) // cents out of each wallet

	// A 202 answer replays as 202, even after the operation completed.
	first := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("10.00"), H{"Idempotency-Key": "key-1"})
	Expect(t, first, http.StatusAccepted)
	if first.Header.Get("Idempotent-Replayed") == "true" {
		t.Errorf("a first answer claims to be a replay: %s", first)
	}
	aliceMoved += 1000
	waitFinal(t, aliceAPI, first.Str("operation_id"), 30*time.Second)
	r := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("10.00"), H{"Idempotency-Key": "key-1"})
	expectReplay(t, first, r)
	if r.Str("status") != "completed" {
		t.Errorf("replay should show the operation as it is now (completed): %s", r)
	}

	// Same key, different body.
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("11.00"), H{"Idempotency-Key": "key-1"})
	CheckError(t, r, http.StatusUnprocessableEntity, "idempotency_key_reused")

	// Keys are scoped to the caller: Bob's key-1 is a new operation.
	r = bobAPI.Must(t, "POST", "/api/wallet_to_wallet",
		map[string]any{"wallet_id": alice.WalletID, "amount": "10.00", "details": "idem"}, H{"Idempotency-Key": "key-1"})
	Expect(t, r, http.StatusAccepted)
	if r.Str("operation_id") == first.Str("operation_id") || r.Header.Get("Idempotent-Replayed") == "true" {
		t.Errorf("another caller's identical key replayed Alice's operation: %s", r)
	}
	bobMoved += 1000
	waitFinal(t, bobAPI, r.Str("operation_id"), 30*time.Second)

	// A 200 answer (Prefer: wait) replays as 200, with or without Prefer.
	first = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("2.00"), H{"Idempotency-Key": "key-2", "Prefer": "wait=10"})
	Expect(t, first, http.StatusOK)
	aliceMoved += 200
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("2.00"), H{"Idempotency-Key": "key-2"})
	expectReplay(t, first, r)
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("2.00"), H{"Idempotency-Key": "key-2", "Prefer": "wait=10"})
	expectReplay(t, first, r)

	// Key length: 255 is accepted, 256 refused and nothing stored.
	key255 := strings.Repeat("k", 255)
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("3.00"), H{"Idempotency-Key": key255, "Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	aliceMoved += 300
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("3.00"), H{"Idempotency-Key": key255 + "k"})
	CheckError(t, r, http.StatusBadRequest, "")

	// Replays of the first key change nothing, even much later.
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("10.00"), H{"Idempotency-Key": "key-1"})
	Expect(t, r, http.StatusAccepted)

	// Five identical concurrent requests: one operation.
	var (
		mu      sync.Mutex
		answers []*Resp
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := aliceAPI.Do("POST", "/api/wallet_to_wallet", toBob("1.00"), H{"Idempotency-Key": "key-3"})
			if err != nil {
				t.Errorf("concurrent request: %v", err)
				return
			}
			mu.Lock()
			answers = append(answers, r)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	opID := ""
	successes, replayed := 0, 0
	for _, r := range answers {
		switch r.Status {
		case http.StatusAccepted, http.StatusOK:
			successes++
			id := r.Str("operation_id")
			if opID == "" {
				opID = id
			}
			if id == "" || id != opID {
				t.Errorf("concurrent requests with one key got operations %q and %q", opID, id)
			}
			if r.Header.Get("Idempotent-Replayed") == "true" {
				replayed++
			}
		case http.StatusConflict:
			if c := r.ErrCode(); c != "request_in_progress" && c != "wallet_busy" {
				t.Errorf("concurrent request: %s", r)
			}
			CheckError(t, r, http.StatusConflict, "")
		default:
			t.Errorf("concurrent request: %s", r)
		}
	}
	var spread []string
	for _, r := range answers {
		spread = append(spread, fmt.Sprintf("%d %s replayed=%s", r.Status, r.ErrCode(), r.Header.Get("Idempotent-Replayed")))
	}
	t.Logf("5 concurrent requests with one key: %v", spread)
	if opID == "" {
		t.Fatalf("none of 5 concurrent requests was accepted")
	}
	if successes-replayed != 1 {
		t.Errorf("%d of %d accepted answers to one key are not marked Idempotent-Replayed, want exactly 1", successes-replayed, successes)
	}
	aliceMoved += 100
	waitFinal(t, aliceAPI, opID, 30*time.Second)
	// Afterwards the key replays the same operation.
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", toBob("1.00"), H{"Idempotency-Key": "key-3"})
	if r.Str("operation_id") != opID || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("key-3 after the race: want a replay of %s: %s", opID, r)
	}

	// The money moved once per key.
	if got, want := balance(t, aliceAPI), 10000-aliceMoved+bobMoved; got != want {
		t.Errorf("Alice's balance %s, want %s", money(got), money(want))
	}
	if got, want := balance(t, bobAPI), 10000-bobMoved+aliceMoved; got != want {
		t.Errorf("Bob's balance %s, want %s", money(got), money(want))
	}
	r = aliceAPI.Must(t, "GET", "/api/wallet", nil, nil)
	// deposit, key-1, Bob's key-1, key-2, key255, key-3
	if ids := opIDs(t, r); len(ids) != 6 {
		t.Errorf("Alice's wallet lists %d operations, want 6: %s", len(ids), r)
	}
}
