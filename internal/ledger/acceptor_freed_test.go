package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// TestAcceptorRetriesWhenAGroupFreesAWallet: a request that waits for a
// wallet whose lock a group being stored holds tries again as soon as
// that group is stored and its locks released. The jittered retry is set
// to an hour and no other request comes, so the release is the only thing
// that can make it try; and once Submit returns, the wallet's lock is
// free and the task carries none.
func TestAcceptorRetriesWhenAGroupFreesAWallet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute)
	e.svc.SetLockRetry(time.Hour)
	gated := &gatedStore{Store: e.store, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	e.svc.Store = gated
	var mu sync.Mutex
	tries := 0
	tried := make(chan struct{}, 16)
	e.svc.Locker = &hookLocker{Locker: e.locker, after: func([]string) {
		mu.Lock()
		tries++
		mu.Unlock()
		tried <- struct{}{}
	}}
	e.startAcceptor(t, 1, 16)
	payer, from := e.user(t, 1000)
	_, to := e.user(t, 0)
	ctx := context.Background()

	type result struct {
		acc ledger.Accepted
		err error
	}
	results := make(chan result, 2)
	submit := func() {
		acc, err := e.transfer(ctx, payer, to, 100, "")
		results <- result{acc, err}
	}
	go submit()
	within(t, 10*time.Second, "the first request's lock round", func() { <-tried })
	if !e.lockHeld(t, from.ID) {
		t.Fatal("the payer's lock is not held while its group is being stored")
	}
	go submit() // finds the payer's wallet locked by the first group
	within(t, 10*time.Second, "the second request's lock round", func() { <-tried })
	close(gated.gate)
	ops := map[string]wallet.Operation{}
	for i := range 2 {
		var r result
		within(t, 10*time.Second, "both Submits", func() { r = <-results })
		if r.err != nil || r.acc.Op.Status != wallet.StatusPending {
			t.Fatalf("Submit %d: %+v, %v", i, r.acc, r.err)
		}
		ops[r.acc.Op.ID] = r.acc.Op
	}
	mu.Lock()
	if tries != 3 {
		t.Errorf("%d lock rounds, want 3: the first request's, the second's that found the wallet locked, and one after the release", tries)
	}
	mu.Unlock()
	if e.lockHeld(t, from.ID) || e.lockHeld(t, to.ID) {
		t.Error("a wallet's lock is still held after its operations were stored")
	}
	e.checkTasks(t, ops)
}

// TestAcceptorBoundsAWalletsBacklog: once MaxPending operations that
// reserve from a wallet wait for the workers, its next debit gets
// wallet_busy and stores nothing (a credit to it still goes through);
// once the workers commit, it is accepted again.
func TestAcceptorBoundsAWalletsBacklog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	e.svc.MaxPending = 3
	e.startAcceptor(t, 1, 16)
	payer, from := e.user(t, 1000)
	other, _ := e.user(t, 1000)
	_, to := e.user(t, 0)
	ctx := context.Background()
	ops := map[string]wallet.Operation{}
	for i := range 3 {
		acc, err := e.transfer(ctx, payer, to, 10, "")
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		ops[acc.Op.ID] = acc.Op
	}
	_, err := e.transfer(ctx, payer, to, 10, "backlog-key")
	if wallet.ErrorCode(err) != wallet.EWalletBusy {
		t.Fatalf("a fourth pending debit: %v, want %s", err, wallet.EWalletBusy)
	}
	if n := e.opsFrom(t, from.ID); n != 3 {
		t.Fatalf("%d operations from the payer, want 3", n)
	}
	if e.claims.Held() != 0 {
		t.Fatalf("%d idempotency claims left", e.claims.Held())
	}
	acc, err := e.transfer(ctx, other, from, 10, "")
	if err != nil {
		t.Fatalf("a credit to the wallet with a full backlog: %v", err)
	}
	ops[acc.Op.ID] = acc.Op
	e.checkTasks(t, ops)

	e.startWorker(t, 1)
	e.waitApplied(t)
	acc, err = e.transfer(ctx, payer, to, 10, "backlog-key")
	if err != nil || acc.Op.Status != wallet.StatusPending || acc.Replayed {
		t.Fatalf("the debit after the workers caught up: %+v, %v", acc, err)
	}
}
