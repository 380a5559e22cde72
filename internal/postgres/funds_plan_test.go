package postgres_test

import (
	"context"
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

// The accept path's funds query runs on its connection's generic plan
// (planned once, not per group). That plan must read by key, whatever
// the tables hold: a wallet's row and its own pending operations.
func TestFundsQueryReadsByKey(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	var wallets []wallet.Wallet
	var users []wallet.User
	for range 60 {
		u, w := f.user(t, 10_000)
		users, wallets = append(users, u), append(wallets, w)
	}
	// Two pending transfers out of every wallet.
	for i, w := range wallets {
		for k := 1; k <= 2; k++ {
			f.transfer(t, users[i], w, wallets[(i+k)%len(wallets)], 100)
		}
	}
	f.exec(t, `ANALYZE`)
	indexRead := func(index string) int64 {
		t.Helper()
		var v int64
		if err := f.pool.QueryRow(ctx, `SELECT coalesce(idx_tup_read, 0) FROM pg_stat_user_indexes WHERE indexrelname = $1`,
			index).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	flushStats(t, f)
	f.exec(t, `SELECT pg_stat_reset()`)
	const calls = 12 // past the five custom plans Postgres tries first
	for i := range calls {
		ids := []string{wallets[i].ID, wallets[i+20].ID}
		got, err := f.store.AvailableBalances(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if got[id] != 10_000-200 {
				t.Fatalf("wallet %s available %d, want %d", id, got[id], 10_000-200)
			}
		}
	}
	flushStats(t, f)
	for _, table := range []string{"wallets", "operations"} {
		if seq := tableStat(t, f, table, "seq_scan"); seq != 0 {
			t.Errorf("%s: %d sequential scans by the funds query, want 0", table, seq)
		}
	}
	// Two wallets a call, two pending operations each.
	if n := indexRead("operations_pending_from"); n > calls*2*2+calls {
		t.Errorf("operations_pending_from: %d entries read in %d calls, want at most %d", n, calls, calls*2*2+calls)
	}
}
