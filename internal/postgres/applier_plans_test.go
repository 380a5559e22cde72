package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// The applier reads every row by key, so it must never scan a whole
// table, whatever the statistics say: here holds is analyzed while empty
// (as after a deploy, or a benchmark's setup) and then grows, the trap
// in which a connection's generic plan scanned the table for every batch.
func TestApplierNeverScansWholeTables(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.exec(t, `ANALYZE`)
	const n = 12
	var holds []holdParty
	var captures []string
	for range n {
		p := f.newHold(t, 1000, 100)
		holds = append(holds, p)
		captures = append(captures, f.store1(t, p.capture(40, false)).ID)
	}
	// Counters reach pg_stat_user_tables when a backend reports them
	// (idle, at most once a second, or when it exits): close the pool's
	// connections until the setup's writes are counted, then start from 0.
	tables := []string{"operations", "wallets", "holds", "entries"}
	waitStats := func(what string, done func() bool) {
		t.Helper()
		f.pool.Reset()
		for deadline := time.Now().Add(20 * time.Second); !done(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the statistics were not reported in time", what)
			}
		}
	}
	count := func(table, column string) int64 {
		t.Helper()
		var v int64
		if err := f.pool.QueryRow(ctx, `SELECT coalesce(`+column+`, 0) FROM pg_stat_user_tables WHERE relname = $1`, table).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	waitStats("setup", func() bool { return count("holds", "n_tup_ins") >= n })
	f.exec(t, `SELECT pg_stat_reset()`)

	for _, p := range holds {
		if op := f.apply(t, p.placeID); op.Status != wallet.StatusCompleted {
			t.Fatalf("placement: %+v", op)
		}
	}
	for _, id := range captures {
		if op := f.apply(t, id); op.Status != wallet.StatusCompleted {
			t.Fatalf("capture: %+v", op)
		}
	}
	// n placements and n captures update the holds n*2 times.
	waitStats("applies", func() bool { return count("holds", "n_tup_upd") >= 2*n })
	for _, table := range tables {
		if seq := count(table, "seq_scan"); seq != 0 {
			t.Errorf("%s: %d sequential scans during the applies, want 0", table, seq)
		}
	}
}
