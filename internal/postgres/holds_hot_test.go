package postgres_test

import (
	"context"
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

// Placing a hold changes its row from pending to active and no indexed
// column (migration 000013): Postgres must do it as a HOT update, with no
// new index entries. The expiry sweep still finds open holds that are due.
func TestHoldActivationIsHOT(t *testing.T) {
	f := setup(t)
	const n = 8
	var holds []holdParty
	for range n {
		p := f.newHold(t, 1000, 100)
		if op := f.apply(t, p.placeID); op.Status != wallet.StatusCompleted {
			t.Fatalf("hold placement: %+v", op)
		}
		holds = append(holds, p)
	}
	flushStats(t, f)
	var upd, hot int64
	if err := f.pool.QueryRow(context.Background(),
		`SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'holds'`).Scan(&upd, &hot); err != nil {
		t.Fatal(err)
	}
	if upd < n {
		t.Fatalf("holds updated %d times, want at least %d", upd, n)
	}
	if hot < n {
		t.Errorf("%d of %d hold updates were HOT, want every activation HOT", hot, upd)
	}

	// Due holds are still found through the index of open holds.
	f.expireNow(t, holds[0].holdID)
	due, err := f.store.DueHolds(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].ID != holds[0].holdID {
		t.Fatalf("DueHolds = %+v, want only %s", due, holds[0].holdID)
	}
}
