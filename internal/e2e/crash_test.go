package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// journalEntry is an accepted transfer as the client saw it.
type journalEntry struct {
	id       string
	from, to int
	cents    int64
}

func TestWorkerKilledLosesNothing(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 2)

	const (
		nWallets   = 10
		deposit    = 10000 // cents each
		nTransfers = 300
		nClients   = 8
	)
	users := make([]user, nWallets)
	clients := make([]*Client, nWallets)
	for i := range users {
		users[i] = e.signup(t, fmt.Sprintf("User%d", i))
		e.deposit(t, users[i].WalletID, money(deposit))
		clients[i] = e.Client(Bearer(e.token(t, users[i])))
	}

	var (
		next, done atomic.Int64
		burst      atomic.Bool // clients stop pacing themselves, to have tasks in flight at a kill
		mu         sync.Mutex
		journal    []journalEntry
		refused    int
		wg         sync.WaitGroup
	)
	streamStart := time.Now()
	for g := 0; g < nClients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > nTransfers {
					return
				}
				from := rand.IntN(nWallets)
				to := (from + 1 + rand.IntN(nWallets-1)) % nWallets
				c := int64(1 + rand.IntN(500))
				body := map[string]any{"wallet_id": users[to].WalletID, "amount": money(c), "details": fmt.Sprintf("stream %d", i)}
				// A killed worker may leave its wallet locks until LOCK_TTL (10s).
				r, err := submitTransfer(clients[from], body, fmt.Sprintf("stream-%d", i), time.Second, time.Now().Add(40*time.Second))
				done.Add(1)
				if err != nil {
					t.Errorf("transfer %d: %v", i, err)
					continue
				}
				switch {
				case r.Status == http.StatusAccepted || r.Status == http.StatusOK:
					id := r.Str("operation_id")
					if id == "" {
						t.Errorf("transfer %d: no operation_id: %s", i, r)
						continue
					}
					mu.Lock()
					journal = append(journal, journalEntry{id: id, from: from, to: to, cents: c})
					mu.Unlock()
				case r.Status == http.StatusUnprocessableEntity && r.ErrCode() == "insufficient_funds":
					mu.Lock()
					refused++
					mu.Unlock()
				default:
					t.Errorf("transfer %d: unexpected answer: %s", i, r)
				}
				if !burst.Load() {
					time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
				}
			}
		}()
	}

	// Kill each worker once, mid-stream, in a burst of requests and while it
	// runs a task, and bring it back after a second.
	waitDone := func(n int64) {
		for done.Load() < n && next.Load() <= nTransfers+nClients {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for k, w := range e.Workers {
		waitDone(int64((k + 1) * nTransfers / 3))
		burst.Store(true)
		time.Sleep(100 * time.Millisecond)
		inFlight := e.KillInFlight(w)
		t.Logf("SIGKILL %s after %d answers (%.1fs into the stream), a task in flight: %v",
			w.Name, done.Load(), time.Since(streamStart).Seconds(), inFlight)
		burst.Store(false)
		time.Sleep(time.Second)
		w.Start()
	}
	wg.Wait()
	t.Logf("stream took %.1fs: %d accepted, %d refused with insufficient_funds", time.Since(streamStart).Seconds(), len(journal), refused)

	// Every accepted operation must reach a final status.
	final := make([]*Resp, len(journal))
	errs := make([]error, len(journal))
	waitStart := time.Now()
	deadline := waitStart.Add(90 * time.Second)
	var idx atomic.Int64
	var pw sync.WaitGroup
	for g := 0; g < nClients; g++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for {
				i := int(idx.Add(1)) - 1
				if i >= len(journal) {
					return
				}
				final[i], errs[i] = pollFinal(clients[journal[i].from], journal[i].id, time.Until(deadline))
			}
		}()
	}
	pw.Wait()
	t.Logf("waited %.1fs after the stream for the accepted operations to be final", time.Since(waitStart).Seconds())

	want := make([]int64, nWallets)
	for i := range want {
		want[i] = deposit
	}
	var lost, stuck, failed int
	ids := map[string]bool{}
	for i, j := range journal {
		if ids[j.id] {
			t.Errorf("operation id %s returned for two different transfers", j.id)
		}
		ids[j.id] = true
		r := final[i]
		switch {
		case errs[i] != nil:
			lost++
			if lost <= 5 {
				t.Errorf("accepted operation lost: %v", errs[i])
			}
			continue
		case !isFinal(r.Str("status")):
			stuck++
			if stuck <= 5 {
				t.Errorf("accepted operation still %s after 90s: %s", r.Str("status"), r)
			}
			continue
		}
		if r.Str("amount") != money(j.cents) || r.Str("from_wallet_id") != users[j.from].WalletID || r.Str("to_wallet_id") != users[j.to].WalletID {
			t.Errorf("operation %s is not the transfer of %s from %d to %d: %s", j.id, money(j.cents), j.from, j.to, r)
		}
		if r.Str("status") == "completed" {
			want[j.from] -= j.cents
			want[j.to] += j.cents
		} else {
			failed++
			t.Logf("failed: %s", r)
		}
	}
	if lost > 0 || stuck > 0 {
		t.Errorf("%d of %d accepted operations lost, %d stuck", lost, len(journal), stuck)
	}
	t.Logf("%d completed, %d failed", len(journal)-lost-stuck-failed, failed)

	var total int64
	for i, c := range clients {
		r := c.Must(t, "GET", "/api/wallet", nil, nil)
		Expect(t, r, http.StatusOK)
		got, err := cents(r.Str("balance"))
		if err != nil {
			t.Fatalf("wallet %d: %v", i, err)
		}
		if got < 0 {
			t.Errorf("wallet %d is negative: %s", i, r)
		}
		if got != want[i] {
			t.Errorf("wallet %d holds %s, but its deposit and completed transfers make %s", i, money(got), money(want[i]))
		}
		if r.Str("available") != r.Str("balance") {
			t.Errorf("wallet %d: nothing is pending, yet available differs from balance: %s", i, r)
		}
		total += got
	}
	if total != nWallets*deposit {
		t.Errorf("money not conserved: wallets hold %s in all, %s was deposited", money(total), money(nWallets*deposit))
	}
}
