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
	f.exec(t, `ANALYZE`)
	const n = 12
	var holds []holdParty
	var captures []string
	for range n {
		p := f.newHold(t, 1000, 100)
		holds = append(holds, p)
		captures = append(captures, f.store1(t, p.capture(40, false)).ID)
	}
	tables := []string{"operations", "wallets", "holds", "entries"}
	waitStats := func(what string, done func() bool) {
		t.Helper()
		flushStats(t, f)
		if !done() {
			t.Fatalf("%s: the statistics do not show it", what)
		}
	}
	count := func(table, column string) int64 { return tableStat(t, f, table, column) }
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

// tableStat reads a counter of pg_stat_user_tables (after flushStats).
func tableStat(t *testing.T, f *fixture, table, column string) int64 {
	t.Helper()
	var v int64
	if err := f.pool.QueryRow(context.Background(), `SELECT coalesce(`+column+`, 0) FROM pg_stat_user_tables WHERE relname = $1`, table).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// indexStat reads a counter of pg_stat_user_indexes (after flushStats).
func indexStat(t *testing.T, f *fixture, index, column string) int64 {
	t.Helper()
	var v int64
	if err := f.pool.QueryRow(context.Background(), `SELECT coalesce(`+column+`, 0) FROM pg_stat_user_indexes WHERE indexrelname = $1`, index).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// flushStats has every backend of the test's database report its table
// counters to pg_stat_user_tables: a backend reports them when it is idle
// (at most once a second) or when it exits, before it leaves
// pg_stat_activity. It closes the pool's connections and waits until no
// other backend of the database is left.
func flushStats(t *testing.T, f *fixture) {
	t.Helper()
	f.pool.Reset()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var others int
		if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&others); err != nil {
			t.Fatal(err)
		}
		if others == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d other backends still connected", others)
		}
		f.pool.Reset()
	}
}
