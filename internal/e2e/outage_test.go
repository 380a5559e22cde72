package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// outageLoad is a stream of transfers between a few funded wallets,
// each sent again with its Idempotency-Key until it gets a definitive
// answer, for the tests that take a dependency away under load. A 503
// must be `unavailable` with Retry-After; any other unexpected answer
// (a 500 above all) fails the test.
type outageLoad struct {
	t       *testing.T
	e       *Env
	deposit int64
	users   []user
	clients []*Client

	mu          sync.Mutex
	journal     []journalEntry
	seq         atomic.Int64
	unavailable atomic.Int64
	transport   atomic.Int64
	stop        chan struct{}
	wg          sync.WaitGroup
}

// startOutageLoad funds n wallets with deposit cents each and starts
// senders goroutines sending transfers among them.
func startOutageLoad(t *testing.T, e *Env, name string, n int, deposit int64, senders int) *outageLoad {
	t.Helper()
	l := &outageLoad{t: t, e: e, deposit: deposit, stop: make(chan struct{})}
	for i := range n {
		u := e.signup(t, fmt.Sprintf("%s%d", name, i))
		e.deposit(t, u.WalletID, money(deposit))
		l.users = append(l.users, u)
		l.clients = append(l.clients, e.Client(Bearer(e.token(t, u))))
	}
	for g := range senders {
		l.wg.Go(func() { l.send(name, uint64(g)) })
	}
	return l
}

func (l *outageLoad) send(name string, g uint64) {
	rng := rand.New(rand.NewPCG(g, 7))
	n := len(l.users)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		i := l.seq.Add(1)
		from := rng.IntN(n)
		to := (from + 1 + rng.IntN(n-1)) % n
		c := int64(1 + rng.IntN(300))
		body := map[string]any{"wallet_id": l.users[to].WalletID, "amount": money(c)}
		key := fmt.Sprintf("%s-%d", name, i)
		for deadline := time.Now().Add(60 * time.Second); ; {
			r, err := l.clients[from].Do("POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": key})
			if time.Now().After(deadline) {
				l.t.Errorf("transfer %s: no definitive answer in 60s; last %v %v", key, r, err)
				return
			}
			if err != nil {
				l.transport.Add(1)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			switch {
			case r.Status == http.StatusAccepted || r.Status == http.StatusOK:
				l.mu.Lock()
				l.journal = append(l.journal, journalEntry{id: r.Str("operation_id"), from: from, to: to, cents: c})
				l.mu.Unlock()
			case r.Status == http.StatusUnprocessableEntity && r.ErrCode() == "insufficient_funds":
			case r.Status == http.StatusServiceUnavailable:
				l.unavailable.Add(1)
				if r.ErrCode() != "unavailable" || r.Header.Get("Retry-After") == "" {
					l.t.Errorf("transfer %s: a 503 without code unavailable and Retry-After: %s", key, r)
				}
				time.Sleep(retryAfter(r, 200*time.Millisecond))
				continue
			case r.Status == http.StatusConflict && (r.ErrCode() == "wallet_busy" || r.ErrCode() == "request_in_progress"):
				time.Sleep(retryAfter(r, 200*time.Millisecond))
				continue
			default:
				l.t.Errorf("transfer %s: unexpected answer: %s", key, r)
			}
			break
		}
	}
}

// accepted is how many requests were accepted so far.
func (l *outageLoad) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.journal)
}

// carriesOn waits (at most within) until more than n further requests
// are accepted, and says whether they were, with the counts before and
// at the end.
func (l *outageLoad) carriesOn(n int, within time.Duration) (before, after int, ok bool) {
	before = l.accepted()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		after = l.accepted()
		if after > before+n {
			return before, after, true
		}
		if time.Now().After(deadline) {
			return before, after, false
		}
	}
}

// ready is the API's /readyz status (0: no answer).
func (l *outageLoad) ready() int {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(l.e.BaseURL + "/readyz")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitReady waits for /readyz to answer want.
func (l *outageLoad) waitReady(want int, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if l.ready() == want {
			return true
		}
	}
	return false
}

// finish stops the senders and checks the outcome: every accepted
// operation is final, once; the balances are the deposits moved by
// exactly the completed transfers; the audit is clean.
func (l *outageLoad) finish() {
	t := l.t
	close(l.stop)
	l.wg.Wait()
	t.Logf("%d requests sent, %d accepted, %d answers 503, %d transport errors",
		l.seq.Load(), len(l.journal), l.unavailable.Load(), l.transport.Load())
	want := make([]int64, len(l.users))
	for i := range want {
		want[i] = l.deposit
	}
	ids := map[string]bool{}
	for _, j := range l.journal {
		if ids[j.id] {
			t.Errorf("operation %s answered for two requests", j.id)
		}
		ids[j.id] = true
		r, err := pollFinal(l.clients[j.from], j.id, 60*time.Second)
		if err != nil {
			t.Errorf("accepted operation %s lost: %v", j.id, err)
			continue
		}
		switch r.Str("status") {
		case "completed":
			want[j.from] -= j.cents
			want[j.to] += j.cents
		case "failed":
		default:
			t.Errorf("accepted operation %s not final after 60s: %s", j.id, r)
		}
	}
	for i, c := range l.clients {
		r := c.Must(t, "GET", "/api/wallet", nil, nil)
		Expect(t, r, http.StatusOK)
		if got, err := cents(r.Str("balance")); err != nil || got != want[i] {
			t.Errorf("wallet %d holds %s, its deposit and completed transfers make %s", i, r.Str("balance"), money(want[i]))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, code, err := l.e.RunAudit(ctx)
	if err != nil || code != 0 {
		t.Errorf("audit: exit %d, %v:\n%s", code, err, out)
	}
}
