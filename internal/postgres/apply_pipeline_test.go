package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/wallet"
)

// TestAssertionStopsTheCommitQueuedAfterIt checks what the applier's
// last round trip relies on: a failed ledger_assert in a pipeline that
// began a transaction stops it in the server, so the COMMIT queued after
// it does not commit the writes before it; a passing one lets them commit.
func TestAssertionStopsTheCommitQueuedAfterIt(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE pipeline_probe (x int)`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ok   bool
		want int64
	}{{false, 0}, {true, 1}} {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		q := &pgx.Batch{}
		q.Queue(`BEGIN`)
		q.Queue(`INSERT INTO pipeline_probe VALUES (1)`)
		q.Queue(`SELECT ledger_assert($1, 'the probe')`, tc.ok)
		q.Queue(`COMMIT`)
		err = conn.SendBatch(ctx, q).Close()
		switch {
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "ledger assertion failed: the probe")):
			t.Errorf("a failed assertion: %v, want the assertion's error", err)
		case tc.ok && err != nil:
			t.Errorf("a passing assertion: %v", err)
		}
		if !tc.ok {
			if status := conn.Conn().PgConn().TxStatus(); status != 'E' {
				t.Errorf("after a failed assertion the connection is in state %q, want E (a failed transaction)", status)
			}
			if _, err := conn.Exec(ctx, `ROLLBACK`); err != nil {
				t.Fatal(err)
			}
		}
		conn.Release()
		if got := pgtest.QueryInt64(t, pool, `SELECT count(*) FROM pipeline_probe`); got != tc.want {
			t.Errorf("assertion %v: %d rows committed, want %d", tc.ok, got, tc.want)
		}
		if _, err := pool.Exec(ctx, `TRUNCATE pipeline_probe`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailedBatchLeavesNoTransactionOpen checks that a batch that ends
// in an error after its BEGIN (an unknown id, found in the first round
// trip) rolls its transaction back: no session of the database is left
// idle in a transaction holding the operations' row locks, and the same
// operations apply at once afterwards.
func TestFailedBatchLeavesNoTransactionOpen(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	ua, a := f.user(t, 1000)
	_, b := f.user(t, 0)
	ops, err := createOps(ctx, f.store, []wallet.NewOperation{{Op: newTransfer(ua, a, b, 300, "")}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := f.store.ApplyOperations(ctx, []string{ops[0].ID, "01a210a3-0000-7000-8000-000000000000"}); wallet.ErrorCode(err) != wallet.EOperationNotFound {
			t.Fatalf("batch with an unknown id: %v, want %s", err, wallet.EOperationNotFound)
		}
	}
	if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`); n != 0 {
		t.Errorf("%d sessions idle in a transaction after failed batches, want 0", n)
	}
	res, err := f.store.ApplyOperations(ctx, []string{ops[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Op.Status != wallet.StatusCompleted || !res[0].Applied {
		t.Errorf("the transfer after the failed batches: %s, applied %v, want completed by this call", res[0].Op.Status, res[0].Applied)
	}
	if got := f.balance(t, b.ID); got != 300 {
		t.Errorf("recipient's balance %d, want 300", got)
	}
}
