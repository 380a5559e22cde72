package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/wallet"
)

// TestOperationEvents: the commit that makes an operation final writes
// its events: operation.completed for each party with that party's
// balance_after, operation.failed for its creator only; nothing for a
// pending one.
func TestOperationEvents(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice, aw := f.user(t, 100_00)
	bob, bw := f.user(t, 0)

	done := f.transfer(t, alice, aw, bw, 30_00)
	if op, err := pgtest.Apply(ctx, f.store, done.ID); err != nil || op.Status != wallet.StatusCompleted {
		t.Fatalf("apply: %+v %v", op, err)
	}
	failed := f.transfer(t, alice, aw, bw, 500_00)
	if op, err := pgtest.Apply(ctx, f.store, failed.ID); err != nil || op.Status != wallet.StatusFailed {
		t.Fatalf("apply: %+v %v", op, err)
	}
	pending := f.transfer(t, alice, aw, bw, 1_00)

	feed := func(u wallet.User) []wallet.Notification {
		t.Helper()
		ns, err := f.store.Notifications(ctx, u.ID, "", false, 50)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	// Alice: the failed transfer, the transfer, her deposit (newest first).
	a := feed(alice)
	if len(a) != 3 || a[0].Type != wallet.EventOperationFailed || a[0].Operation.ID != failed.ID ||
		a[1].Type != wallet.EventOperationCompleted || a[1].Operation.ID != done.ID || a[2].Operation.Type != wallet.OpDeposit {
		t.Fatalf("alice's feed: %+v", a)
	}
	if a[1].Operation.BalanceAfter == nil || *a[1].Operation.BalanceAfter != 70_00 || a[1].ID != a[1].EventID {
		t.Errorf("alice's view of the transfer: %+v", a[1].Operation)
	}
	b := feed(bob)
	if len(b) != 1 || b[0].Operation.ID != done.ID || b[0].Operation.BalanceAfter == nil || *b[0].Operation.BalanceAfter != 30_00 {
		t.Fatalf("bob's feed (only the completed transfer, his balance after): %+v", b)
	}
	if bank := feed(f.bank); len(bank) != 1 || bank[0].Operation.Type != wallet.OpDeposit {
		t.Errorf("the bank's feed: %+v", bank)
	}
	for _, n := range append(a, b...) {
		if n.Operation.ID == pending.ID {
			t.Errorf("an event for a pending operation: %+v", n)
		}
	}

	// Unread, mark read (another's ids ignored), paging.
	if n, _ := f.store.UnreadCount(ctx, alice.ID); n != 3 {
		t.Errorf("unread %d, want 3", n)
	}
	if err := f.store.MarkRead(ctx, alice.ID, []string{a[0].ID, b[0].ID, "not-an-id"}, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.store.UnreadCount(ctx, alice.ID); n != 2 {
		t.Errorf("alice unread after marking one: %d, want 2", n)
	}
	if n, _ := f.store.UnreadCount(ctx, bob.ID); n != 1 {
		t.Errorf("bob's notification was marked by alice: unread %d", n)
	}
	page, err := f.store.Notifications(ctx, alice.ID, a[0].ID, true, 1)
	if err != nil || len(page) != 1 || page[0].ID != a[1].ID {
		t.Errorf("unread page after the first: %+v %v", page, err)
	}
	if other, err := f.store.Notifications(ctx, bob.ID, a[0].ID, false, 10); err != nil || len(other) != 0 {
		t.Errorf("a cursor of another user's: %+v %v", other, err)
	}
	if err := f.store.MarkRead(ctx, alice.ID, nil, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.store.UnreadCount(ctx, alice.ID); n != 0 {
		t.Errorf("unread after all: %d", n)
	}
	pgtest.Apply(ctx, f.store, pending.ID)
}

// TestNotificationsAfterWaitsForEarlierTransactions: a reader following
// a user's notifications in order never skips one whose transaction
// started before a later one's but commits after it: it is held back
// until then, and then read in order.
func TestNotificationsAfterWaitsForEarlierTransactions(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice, aw := f.user(t, 100_00)
	_, bw := f.user(t, 0)
	dep, err := f.store.Notifications(ctx, alice.ID, "", false, 1)
	if err != nil || len(dep) != 1 {
		t.Fatalf("the deposit's event: %+v %v", dep, err)
	}
	start := dep[0].ID

	// A slow transaction writes alice's next event first ...
	slow := f.transfer(t, alice, aw, bw, 1_00)
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO notifications (id, user_id, type, operation_id, created_at)
		VALUES (gen_random_uuid(), $1, 'operation.completed', $2, now())`, alice.ID, slow.ID); err != nil {
		t.Fatal(err)
	}
	// ... and a fast one commits another after it.
	fast := f.transfer(t, alice, aw, bw, 2_00)
	if _, err := pgtest.Apply(ctx, f.store, fast.ID); err != nil {
		t.Fatal(err)
	}
	got, found, err := f.store.NotificationsAfter(ctx, alice.ID, start, 10)
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if len(got) != 0 {
		t.Fatalf("read past a transaction still running: %+v", got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// (Another database's transaction, of a test running beside this one,
	// may hold the oldest running transaction back a moment.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, _, err = f.store.NotificationsAfter(ctx, alice.ID, start, 10)
		if err != nil || len(got) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(got) != 2 || got[0].Operation.ID != slow.ID || got[1].Operation.ID != fast.ID {
		t.Fatalf("after the commit, in order: %+v %v", got, err)
	}
	if _, found, _ := f.store.NotificationsAfter(ctx, alice.ID, "01a23119-0000-7000-8000-00000000beef", 10); found {
		t.Error("an unknown id was found")
	}
	// The hand-written event stands for a commit that did not happen:
	// take it away again, and apply the operation, for the audit.
	f.exec(t, `DELETE FROM notifications WHERE operation_id = $1`, slow.ID)
	pgtest.Apply(ctx, f.store, slow.ID)
}
