package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

// A wallet's listing, one operation, a replay and the feed show each operation's
// balance_after for the viewer: one probe of entries by operation. With
// statistics from when the wallet had few entries (analyzed at sign-up,
// then hot), the planner read the viewer's entries through
// entries_wallet and filtered them by operation instead, every entry of
// a hot wallet for each row: 100 ms a page in the holds benchmark. None
// of these reads may use entries_wallet, whatever the statistics say.
func TestViewsProbeEntriesByOperation(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	payer, a := f.user(t, 10_000_000)
	merchant, b := f.user(t, 0)
	f.exec(t, `ANALYZE`)

	const batches, per = 8, 100
	var last wallet.Operation
	for n := range batches {
		batch := make([]wallet.NewOperation, per)
		for i := range batch {
			batch[i] = wallet.NewOperation{Op: newTransfer(payer, a, b, 1, "")}
		}
		batch[per-1].Key = newKey(payer, fmt.Sprintf("views-probe-%d", n), []byte("request"))
		ops, err := createOps(ctx, f.store, batch)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(ops))
		for i, op := range ops {
			ids[i] = op.ID
		}
		if _, err := f.store.ApplyOperations(ctx, ids); err != nil {
			t.Fatal(err)
		}
		last = ops[len(ops)-1]
	}
	if got := f.balance(t, b.ID); got != batches*per {
		t.Fatalf("merchant's balance %d, want %d", got, batches*per)
	}
	flushStats(t, f)
	f.exec(t, `SELECT pg_stat_reset()`)

	before := ""
	for range 3 {
		page, err := f.store.WalletOperations(ctx, b.ID, before, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 100 || page[0].BalanceAfter == nil {
			t.Fatalf("a page of %d operations, the first with balance_after %v", len(page), page[0].BalanceAfter)
		}
		before = page[len(page)-1].ID
	}
	op, err := f.store.Operation(ctx, last.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if op.BalanceAfter == nil || *op.BalanceAfter != batches*per {
		t.Errorf("the last transfer as its recipient sees it: balance_after %v, want %d", op.BalanceAfter, batches*per)
	}
	if _, replayed, err := f.store.LookupIdempotencyKey(ctx, payer.ID, "views-probe-0"); err != nil {
		t.Fatal(err)
	} else if replayed.BalanceAfter == nil || *replayed.BalanceAfter != 10_000_000-per {
		t.Errorf("a replay of the first batch's last transfer: the payer's balance_after %v, want %d", replayed.BalanceAfter, 10_000_000-per)
	}
	feed, err := f.store.Notifications(ctx, merchant.ID, "", false, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 100 || feed[0].Operation == nil || feed[0].Operation.BalanceAfter == nil {
		t.Fatalf("the merchant's feed: %d notifications, the newest %+v", len(feed), feed[0])
	}

	flushStats(t, f)
	if n := indexStat(t, f, "entries_wallet", "idx_tup_read"); n != 0 {
		t.Errorf("the views read %d entries through entries_wallet, want 0 (a probe by operation per row)", n)
	}
}
