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

// TestPostgresRestart: the database server stops the way a crash stops
// it (pg_ctl stop -m immediate) under a stream of transfers and starts
// again seconds later. While it is down, /readyz is 503 and every request
// that needs it is 503 unavailable with Retry-After (never a 500); the
// service recovers by itself; every operation that got 202 ends final,
// none is applied twice, and the audit is clean.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 2, OwnPostgres: true})
	const (
		nWallets = 6
		deposit  = 100_00
		nClients = 6
	)
	users := make([]user, nWallets)
	clients := make([]*Client, nWallets)
	for i := range users {
		users[i] = e.signup(t, fmt.Sprintf("Restart%d", i))
		e.deposit(t, users[i].WalletID, money(deposit))
		clients[i] = e.Client(Bearer(e.token(t, users[i])))
	}

	var (
		mu          sync.Mutex
		journal     []journalEntry
		unavailable atomic.Int64
		transport   atomic.Int64
		stop        = make(chan struct{})
		wg          sync.WaitGroup
		seq         atomic.Int64
	)
	for g := range nClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := seq.Add(1)
				from := rng.IntN(nWallets)
				to := (from + 1 + rng.IntN(nWallets-1)) % nWallets
				c := int64(1 + rng.IntN(300))
				body := map[string]any{"wallet_id": users[to].WalletID, "amount": money(c)}
				key := fmt.Sprintf("restart-%d", i)
				// One request, sent again with its key until it gets a
				// definitive answer.
				for deadline := time.Now().Add(60 * time.Second); ; {
					r, err := clients[from].Do("POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": key})
					if time.Now().After(deadline) {
						t.Errorf("transfer %s: no definitive answer in 60s; last %v %v", key, r, err)
						return
					}
					if err != nil {
						transport.Add(1)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					switch {
					case r.Status == http.StatusAccepted || r.Status == http.StatusOK:
						mu.Lock()
						journal = append(journal, journalEntry{id: r.Str("operation_id"), from: from, to: to, cents: c})
						mu.Unlock()
					case r.Status == http.StatusUnprocessableEntity && r.ErrCode() == "insufficient_funds":
					case r.Status == http.StatusServiceUnavailable:
						unavailable.Add(1)
						if r.ErrCode() != "unavailable" || r.Header.Get("Retry-After") == "" {
							t.Errorf("transfer %s: a 503 without code unavailable and Retry-After: %s", key, r)
						}
						time.Sleep(retryAfter(r, 200*time.Millisecond))
						continue
					case r.Status == http.StatusConflict && (r.ErrCode() == "wallet_busy" || r.ErrCode() == "request_in_progress"):
						time.Sleep(retryAfter(r, 200*time.Millisecond))
						continue
					default:
						t.Errorf("transfer %s: unexpected answer: %s", key, r)
					}
					break
				}
			}
		})
	}

	ready := func() int {
		hc := &http.Client{Timeout: 2 * time.Second}
		resp, err := hc.Get(e.BaseURL + "/readyz")
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	time.Sleep(2 * time.Second)
	before := seq.Load()
	if err := e.Postgres.StopImmediate(); err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	t.Logf("postgres stopped (-m immediate) after %d requests", before)
	sawDown := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ready() == http.StatusServiceUnavailable {
			sawDown = true
			break
		}
	}
	if !sawDown {
		t.Error("/readyz never answered 503 while Postgres was down")
	}
	time.Sleep(3 * time.Second)
	if err := e.Postgres.Start(); err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	t.Logf("postgres started again; %d requests got 503 meanwhile", unavailable.Load())
	recovered := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ready() == http.StatusOK {
			recovered = true
			break
		}
	}
	if !recovered {
		t.Error("/readyz not 200 within 30s of Postgres starting again")
	}
	time.Sleep(2 * time.Second) // load on the recovered service
	close(stop)
	wg.Wait()
	if unavailable.Load() == 0 {
		t.Error("no request got 503 while Postgres was down: the outage was not exercised")
	}
	t.Logf("%d requests sent, %d accepted, %d answers 503, %d transport errors", seq.Load(), len(journal), unavailable.Load(), transport.Load())

	// Every accepted operation is final, once, and the balances are the
	// deposits moved by exactly the completed transfers.
	want := make([]int64, nWallets)
	for i := range want {
		want[i] = deposit
	}
	ids := map[string]bool{}
	for _, j := range journal {
		if ids[j.id] {
			t.Errorf("operation %s answered for two requests", j.id)
		}
		ids[j.id] = true
		r, err := pollFinal(clients[j.from], j.id, 60*time.Second)
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
	for i, c := range clients {
		r := c.Must(t, "GET", "/api/wallet", nil, nil)
		Expect(t, r, http.StatusOK)
		if got, err := cents(r.Str("balance")); err != nil || got != want[i] {
			t.Errorf("wallet %d holds %s, its deposit and completed transfers make %s", i, r.Str("balance"), money(want[i]))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, code, err := e.RunAudit(ctx)
	if err != nil || code != 0 {
		t.Errorf("audit after the restart: exit %d, %v:\n%s", code, err, out)
	}
}
