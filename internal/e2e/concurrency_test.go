package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// submitTransfer posts a transfer with the idempotency key, retrying with
// the same key while the answer is 409 wallet_busy or request_in_progress
// (waiting as Retry-After asks, capped at maxWait), until the deadline. It
// returns the last answer. Safe to call from any goroutine.
func submitTransfer(c *Client, body map[string]any, key string, maxWait time.Duration, deadline time.Time) (*Resp, error) {
	for {
		r, err := c.Do("POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": key})
		if err != nil {
			return nil, err
		}
		if r.Status != http.StatusConflict || time.Now().After(deadline) {
			return r, nil
		}
		switch r.ErrCode() {
		case "wallet_busy":
			if r.Header.Get("Retry-After") == "" {
				return r, fmt.Errorf("409 wallet_busy without Retry-After: %s", r)
			}
		case "request_in_progress":
		default:
			return r, nil
		}
		time.Sleep(retryAfter(r, maxWait) + time.Duration(rand.IntN(50))*time.Millisecond)
	}
}

func TestConcurrentTransfersFromOneWallet(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 2)
	sender, receiver := e.signup(t, "Sender"), e.signup(t, "Receiver")
	e.deposit(t, sender.WalletID, "100.00")
	senderAPI := e.Client(Bearer(e.token(t, sender)))
	receiverAPI := e.Client(Bearer(e.token(t, receiver)))

	const n = 60
	var (
		mu       sync.Mutex
		accepted []string
		refused  int
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := map[string]any{"wallet_id": receiver.WalletID, "amount": "10.00", "details": fmt.Sprintf("transfer %d", i)}
			r, err := submitTransfer(senderAPI, body, fmt.Sprintf("concurrent-%d-%s", i, randHex(4)), time.Second, deadline)
			if err != nil {
				t.Errorf("transfer %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Status == http.StatusAccepted || r.Status == http.StatusOK:
				if id := r.Str("operation_id"); id == "" {
					t.Errorf("transfer %d: no operation_id: %s", i, r)
				} else {
					accepted = append(accepted, id)
				}
			case r.Status == http.StatusUnprocessableEntity && r.ErrCode() == "insufficient_funds":
				if err := errorShape(r, r.Status, "insufficient_funds"); err != nil {
					t.Errorf("transfer %d: %v", i, err)
				}
				refused++
			default:
				t.Errorf("transfer %d: unexpected answer: %s", i, r)
			}
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("%d accepted, %d refused with insufficient_funds", len(accepted), refused)

	seen := map[string]bool{}
	for _, id := range accepted {
		if seen[id] {
			t.Errorf("operation id %s returned for two different idempotency keys", id)
		}
		seen[id] = true
	}

	var completed, failed int
	var other []string
	for _, id := range accepted {
		op := waitFinal(t, senderAPI, id, 30*time.Second)
		checkOp(t, op, opWant{amount: "10.00", from: sender.WalletID, to: receiver.WalletID})
		switch op.Str("status") {
		case "completed":
			completed++
		case "failed":
			failed++
			if op.Str("failure_code") != "insufficient_funds" {
				other = append(other, op.String())
			}
		}
	}
	if completed != 10 {
		t.Errorf("%d transfers of 10.00 completed from a wallet of 100.00, want exactly 10", completed)
	}
	if len(other) > 0 {
		sort.Strings(other)
		t.Errorf("failed for another reason than insufficient_funds:\n%s", strings.Join(other, "\n"))
	}

	for _, c := range []struct {
		name, want string
		c          *Client
	}{{"sender", "0.00", senderAPI}, {"receiver", "100.00", receiverAPI}} {
		r := c.c.Must(t, "GET", "/api/wallet", nil, nil)
		Expect(t, r, http.StatusOK)
		if r.Str("balance") != c.want || r.Str("available") != c.want {
			t.Errorf("%s: want balance and available %s: %s", c.name, c.want, r)
		}
	}
}
