package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/wallet"
)

// TestPruneIdempotencyKeys: keys stored longer ago than the retention are
// deleted, a few at a time, and the rest stay; the operations stay; a
// pruned key is free for a new request.
func TestPruneIdempotencyKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	e.startWorker(t, 1)
	ctx := context.Background()
	payer, _ := e.user(t, 10_000)
	_, to := e.user(t, 0)
	const n, old = 7, 5
	ops := make([]string, n)
	for i := range n {
		acc, err := e.transfer(ctx, payer, to, 100, fmt.Sprintf("retain-%d", i))
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		ops[i] = acc.Op.ID
	}
	// The first five were stored 73 hours ago.
	for i := range old {
		if _, err := e.pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '73 hours'
			WHERE user_id = $1 AND key = $2`, payer.ID, fmt.Sprintf("retain-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := e.svc.PruneIdempotencyKeysBy(ctx, 72*time.Hour, 2)
	if err != nil || deleted != old {
		t.Fatalf("pruned %d keys, %v; want %d in batches of 2", deleted, err, old)
	}
	for i := range n {
		_, op, err := e.store.LookupIdempotencyKey(ctx, payer.ID, fmt.Sprintf("retain-%d", i))
		switch {
		case i < old && wallet.ErrorCode(err) != wallet.EOperationNotFound:
			t.Errorf("key %d, past retention: %v, want it gone", i, err)
		case i >= old && (err != nil || op.ID != ops[i]):
			t.Errorf("key %d, within retention: %v, %v; want its operation %s", i, op.ID, err, ops[i])
		}
		if _, err := e.store.Operation(ctx, ops[i], ""); err != nil {
			t.Errorf("operation %d after pruning: %v", i, err)
		}
	}
	if again, err := e.svc.PruneIdempotencyKeysBy(ctx, 72*time.Hour, 2); err != nil || again != 0 {
		t.Fatalf("a second prune deleted %d, %v; want 0", again, err)
	}
	// A pruned key names a new request, even with another amount.
	acc, err := e.transfer(ctx, payer, to, 250, "retain-0")
	if err != nil || acc.Op.ID == ops[0] || acc.Op.Amount != 250 {
		t.Fatalf("a pruned key reused: %+v, %v; want a new operation of 2.50", acc.Op, err)
	}
	// One within retention still replays.
	acc, err = e.transfer(ctx, payer, to, 100, fmt.Sprintf("retain-%d", n-1))
	if err != nil || acc.Op.ID != ops[n-1] {
		t.Fatalf("a kept key: %+v, %v; want the replay of %s", acc.Op, err, ops[n-1])
	}
	e.waitApplied(t)
	pgtest.CheckLedger(t, e.pool)
}
