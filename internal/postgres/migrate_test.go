package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/wallet"
	"github.com/walletd/wallet/migrations"
)

// Every migration goes down and up again: the down files are valid SQL
// that undoes their up files, on a database with rows of every kind in
// it, and the schema comes back whole.
func TestMigrationsDownAndUp(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t) // migrated up
	f := newFixture(t, pool)
	p := f.newHold(t, 10000, 2000)
	f.apply(t, p.placeID)
	w := f.newWithdrawal(t, 5000, 1000)
	f.apply(t, w.opID)
	if _, err := f.store.CreatePaymentRequest(context.Background(), wallet.PaymentRequest{Amount: 100, Currency: rub.Code,
		FromWalletID: p.from.ID, ToWalletID: p.to.ID, RequestedBy: p.recipient.ID}, hour); err != nil {
		t.Fatal(err)
	}

	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	drv, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	top, _, err := m.Version()
	if err != nil {
		t.Fatal(err)
	}
	// Down to the first schema, one step at a time, then up again.
	for v := top; v > 1; v-- {
		if err := m.Steps(-1); err != nil {
			t.Fatalf("down from %d: %v", v, err)
		}
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up again: %v", err)
	}
	if v, dirty, err := m.Version(); err != nil || dirty || v != top {
		t.Fatalf("after down and up: version %d dirty %v %v, want %d", v, dirty, err, top)
	}
	// The schema works: a hold can be placed again.
	g := newFixture(t, pool)
	q := g.newHold(t, 10000, 2000)
	if op := g.apply(t, q.placeID); op.Status != wallet.StatusCompleted {
		t.Fatalf("hold after the round trip: %s %s", op.Status, op.FailureCode)
	}
}
