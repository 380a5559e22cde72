package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/wallet"
)

// What is pending is a row of pending_operations, stored with its
// operation and deleted by the commit that makes it final (migration
// 000016). The available balance and the sweeper read it, and since no
// index of operations names a column that completion changes, completing
// an operation is a HOT update.
func TestPendingRowsAndHOTCompletion(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice, aliceW := f.user(t, 10000)
	_, bobW := f.user(t, 0)
	pendingRows := func() int64 { return pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM pending_operations`) }
	if n := pendingRows(); n != 0 {
		t.Fatalf("%d pending rows after the setup's deposits were applied, want 0", n)
	}
	flushStats(t, f)
	f.exec(t, `SELECT pg_stat_reset()`)

	const n = 8
	var ids []string
	for i := range n {
		ids = append(ids, f.transfer(t, alice, aliceW, bobW, wallet.Amount(100*(i+1))).ID)
	}
	if got := pendingRows(); got != n {
		t.Fatalf("%d pending rows for %d stored transfers", got, n)
	}
	avail, err := f.store.AvailableBalances(ctx, []string{aliceW.ID, bobW.ID})
	if err != nil {
		t.Fatal(err)
	}
	if want := wallet.Amount(10000 - 100*n*(n+1)/2); avail[aliceW.ID] != want || avail[bobW.ID] != 0 {
		t.Fatalf("available %v, want %d for the payer and 0 for the payee", avail, want)
	}
	swept, err := f.store.PendingOperations(ctx, time.Now().Add(time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(swept) != n {
		t.Fatalf("the sweeper's read found %d pending operations, want %d", len(swept), n)
	}
	for i := 1; i < len(swept); i++ {
		if swept[i].CreatedAt.Before(swept[i-1].CreatedAt) {
			t.Fatalf("the sweeper's read is not oldest first: %v then %v", swept[i-1].CreatedAt, swept[i].CreatedAt)
		}
	}

	for _, id := range ids {
		if op := f.apply(t, id); op.Status != wallet.StatusCompleted {
			t.Fatalf("apply: %+v", op)
		}
	}
	if got := pendingRows(); got != 0 {
		t.Fatalf("%d pending rows left after every transfer completed", got)
	}
	if swept, err := f.store.PendingOperations(ctx, time.Now().Add(time.Minute), 100); err != nil || len(swept) != 0 {
		t.Fatalf("the sweeper's read after the commits: %d operations, %v", len(swept), err)
	}
	flushStats(t, f)
	upd, hot := tableStat(t, f, "operations", "n_tup_upd"), tableStat(t, f, "operations", "n_tup_hot_upd")
	if upd != n || hot != n {
		t.Errorf("operations: %d updates, %d of them HOT, want %d and every one HOT", upd, hot, n)
	}
}

// The audit finds a pending operation without its pending row and a
// pending row of no pending operation.
func TestAuditFindsPendingRowsAstray(t *testing.T) {
	f := setup(t)
	const check = "every pending operation has its pending row, and only a pending one"
	alice, aliceW := f.user(t, 1000)
	_, bobW := f.user(t, 0)
	op := f.transfer(t, alice, aliceW, bobW, 100)
	if v := auditViolations(t, f, check); v != 0 {
		t.Fatalf("%d violations with one pending transfer", v)
	}
	stray := uuid.NewString()
	f.exec(t, `DELETE FROM pending_operations WHERE id = $1`, op.ID)
	f.exec(t, `INSERT INTO pending_operations (created_at, id, from_wallet_id, amount, reserves)
		VALUES (now(), $1, $2, 5, true)`, stray, aliceW.ID)
	if v := auditViolations(t, f, check); v != 2 {
		t.Errorf("%d violations with a pending row missing and one astray, want 2", v)
	}
	f.exec(t, `DELETE FROM pending_operations WHERE id = $1`, stray)
	f.exec(t, `INSERT INTO pending_operations (created_at, id, from_wallet_id, amount, reserves)
		SELECT created_at, id, from_wallet_id, amount, true FROM operations WHERE id = $1`, op.ID)
	if v := auditViolations(t, f, check); v != 0 {
		t.Errorf("%d violations once restored", v)
	}
	f.apply(t, op.ID)
}
