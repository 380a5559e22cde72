package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

// The accept's read of a hold's state looks at that hold's operations
// only, however many operations other holds have and whichever join the
// planner prefers: a join of holds and operations was merged against
// every hold's operations in a holds benchmark (36,000 index entries read
// for ten holds).
func TestHoldStateReadsItsOwnOperations(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const holds, captures = 30, 3
	var last holdParty
	for range holds {
		p := f.newHold(t, 1000, 100)
		f.apply(t, p.placeID)
		for range captures {
			f.apply(t, f.store1(t, p.capture(10, false)).ID)
		}
		last = p
	}
	pending := f.store1(t, last.capture(20, false))
	f.exec(t, `ANALYZE`)
	// A planner that would rather not loop (as with statistics of few
	// pending operations and many of holds): new connections plan
	// without nested loops where they have a choice, and read by index
	// as on a table of the benchmark's size.
	var db string
	if err := f.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	f.exec(t, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` SET enable_nestloop = off`)
	f.exec(t, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` SET enable_seqscan = off`)
	flushStats(t, f)
	before := indexStat(t, f, "operations_hold", "idx_tup_read")

	st, err := f.store.AcceptState(ctx, wallet.AcceptQuery{Holds: []string{last.holdID}})
	if err != nil {
		t.Fatal(err)
	}
	if h := st.Holds[last.holdID]; h.PendingCaptures != 20 || h.PendingCloser || !h.PendingBeforeExpiry {
		t.Fatalf("hold state %+v, want 20 pending in captures accepted in time and no closer", h)
	}
	f.exec(t, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` RESET enable_nestloop`)
	f.exec(t, `ALTER DATABASE `+pgx.Identifier{db}.Sanitize()+` RESET enable_seqscan`)
	flushStats(t, f)
	// The hold's placement, its captures and the pending one.
	if read := indexStat(t, f, "operations_hold", "idx_tup_read") - before; read > captures+2 {
		t.Errorf("the hold's state read %d entries of operations_hold, want at most %d (its own)", read, captures+2)
	}
	f.apply(t, pending.ID)
}
