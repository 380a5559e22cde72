package ledger_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/redislock"
	"github.com/walletd/wallet/internal/wallet"
)

// TestAcceptorRetriesWhenAWalletIsFreed: a request that waits for a
// wallet's lock tries again when a commit announces that wallet freed.
// The jittered retry is set to an hour and no other request comes, so
// the announcement is the only thing that can make it try.
func TestAcceptorRetriesWhenAWalletIsFreed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute)
	e.svc.SetLockRetry(time.Hour)
	tries := make(chan []string, 16)
	e.svc.Locker = &hookLocker{Locker: e.locker, after: func(ids []string) { tries <- slices.Clone(ids) }}
	e.startAcceptor(t, 1, 16)
	payer, from := e.user(t, 1000)
	_, to := e.user(t, 0)
	ctx := context.Background()
	elsewhere := redislock.New(e.rdb, e.prefix, lockTTL)
	held, err := elsewhere.TryAcquire(ctx, []string{from.ID})
	if err != nil || len(held) != 1 {
		t.Fatalf("taking the payer's lock: %v, %v", held, err)
	}

	type result struct {
		acc ledger.Accepted
		err error
	}
	waiting := make(chan result, 1)
	go func() {
		acc, err := e.transfer(ctx, payer, to, 100, "")
		waiting <- result{acc, err}
	}()
	within(t, 10*time.Second, "the first lock try", func() { <-tries })
	elsewhere.Release(slices.Collect(maps.Values(held)))
	// What the worker's commit announces: operation ids, the freed
	// wallets, a creator.
	e.svc.WalletsFreed([]string{"an-operation-id", ledger.WakeWallet(from.ID), ledger.WakeUser(payer.ID)})
	var r result
	within(t, 10*time.Second, "the Submit after its wallet was announced free", func() { r = <-waiting })
	if r.err != nil || r.acc.Op.Status != wallet.StatusPending {
		t.Fatalf("the waiting Submit after the announcement: %+v, %v", r.acc, r.err)
	}
	e.checkTasks(t, map[string]wallet.Operation{r.acc.Op.ID: r.acc.Op})
}

// TestWalletsFreedWithoutAcceptor: a process without an acceptor (a
// worker) ignores announcements.
func TestWalletsFreedWithoutAcceptor(t *testing.T) {
	(&ledger.Service{}).WalletsFreed([]string{ledger.WakeWallet("w")})
}
