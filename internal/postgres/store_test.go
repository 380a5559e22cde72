package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/redislock"
	"github.com/walletd/wallet/internal/wallet"
)

var rub = wallet.Currency{Code: pgtest.Currency, Digits: 2}

// fixture is one test's database with a bank that funds its users.
type fixture struct {
	store      *postgres.Store
	pool       *pgxpool.Pool
	bank       wallet.User
	settlement wallet.Wallet
}

// setup gives the test its own migrated database and checks the ledger's
// invariants on it when the test (and all its subtests) end.
func setup(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, pgtest.NewDB(t))
}

func newFixture(t *testing.T, pool *pgxpool.Pool) *fixture {
	t.Helper()
	store := postgres.NewStore(pool)
	bank, settlement := pgtest.CreateUser(t, store, wallet.RoleBank)
	t.Cleanup(func() { pgtest.CheckLedger(t, pool) })
	return &fixture{store: store, pool: pool, bank: bank, settlement: settlement}
}

// user creates a user whose wallet holds balance, deposited by the bank.
func (f *fixture) user(t *testing.T, balance wallet.Amount) (wallet.User, wallet.Wallet) {
	t.Helper()
	u, w := pgtest.CreateUser(t, f.store, wallet.RoleUser)
	if balance > 0 {
		pgtest.Deposit(t, f.store, f.bank, f.settlement, w, balance)
	}
	return u, w
}

// transfer stores a pending transfer without applying it.
func (f *fixture) transfer(t testing.TB, by wallet.User, from, to wallet.Wallet, amount wallet.Amount) wallet.Operation {
	t.Helper()
	op, replayed, err := f.store.CreateOperation(context.Background(), wallet.Operation{
		Type: wallet.OpTransfer, Amount: amount, Currency: rub.Code,
		FromWalletID: from.ID, ToWalletID: to.ID, CreatedBy: by.ID,
	}, nil)
	if err != nil || replayed {
		t.Fatalf("create transfer: replayed=%v err=%v", replayed, err)
	}
	if op.Status != wallet.StatusPending {
		t.Fatalf("new transfer has status %s", op.Status)
	}
	return op
}

// deposit stores a pending deposit from the fixture's bank without
// applying it.
func (f *fixture) deposit(t testing.TB, to wallet.Wallet, amount wallet.Amount) wallet.Operation {
	t.Helper()
	return f.depositFrom(t, f.bank, f.settlement, to, amount)
}

func (f *fixture) depositFrom(t testing.TB, bank wallet.User, settlement, to wallet.Wallet, amount wallet.Amount) wallet.Operation {
	t.Helper()
	op, _, err := f.store.CreateOperation(context.Background(), wallet.Operation{
		Type: wallet.OpDeposit, Amount: amount, Currency: rub.Code,
		FromWalletID: settlement.ID, ToWalletID: to.ID, CreatedBy: bank.ID,
	}, nil)
	if err != nil {
		t.Fatalf("create deposit: %v", err)
	}
	return op
}

// balance reads a wallet's balance through the Store (for a settlement
// account, the sum of its shards).
func (f *fixture) balance(t testing.TB, walletID string) wallet.Amount {
	t.Helper()
	w, err := f.store.WalletByID(context.Background(), walletID)
	if err != nil {
		t.Fatalf("WalletByID(%s): %v", walletID, err)
	}
	return w.Balance
}

// entrySum reads the sum of a wallet's entries straight from the table.
func (f *fixture) entrySum(t testing.TB, walletID string) wallet.Amount {
	t.Helper()
	return wallet.Amount(pgtest.QueryInt64(t, f.pool,
		`SELECT coalesce(sum(amount), 0)::bigint FROM entries WHERE wallet_id = $1`, walletID))
}

func (f *fixture) entryCount(t testing.TB, opID string) int64 {
	t.Helper()
	return pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM entries WHERE operation_id = $1`, opID)
}

func (f *fixture) operation(t testing.TB, id string) wallet.Operation {
	t.Helper()
	op, err := f.store.Operation(context.Background(), id, "")
	if err != nil {
		t.Fatalf("Operation(%s): %v", id, err)
	}
	return op
}

func completedAt(op wallet.Operation) int64 {
	if op.CompletedAt == nil {
		return 0
	}
	return op.CompletedAt.UnixMicro()
}

// opState is everything applying an operation may change.
type opState struct {
	fromBalance, toBalance wallet.Amount
	entries                int64
	status                 wallet.Status
	failure                string
	completedAt            int64
}

func (f *fixture) state(t testing.TB, op wallet.Operation) opState {
	t.Helper()
	stored := f.operation(t, op.ID)
	return opState{
		fromBalance: f.balance(t, op.FromWalletID),
		toBalance:   f.balance(t, op.ToWalletID),
		entries:     f.entryCount(t, op.ID),
		status:      stored.Status,
		failure:     stored.FailureCode,
		completedAt: completedAt(stored),
	}
}

// applyN applies id from n goroutines at once (once when n is 1) and
// checks that every call succeeded and returned the operation as stored,
// final.
func (f *fixture) applyN(t *testing.T, id string, n int) wallet.Operation {
	t.Helper()
	results := make([]wallet.Operation, n)
	errs := make([]error, n)
	pgtest.Together(n, func(i int) {
		results[i], errs[i] = pgtest.Apply(context.Background(), f.store, id)
	})
	stored := f.operation(t, id)
	if !stored.Final() {
		t.Fatalf("operation %s is still %s after ApplyOperation", id, stored.Status)
	}
	for i, got := range results {
		if errs[i] != nil {
			t.Fatalf("ApplyOperation call %d: %v", i, errs[i])
		}
		if got.ID != id || got.Status != stored.Status || got.FailureCode != stored.FailureCode || completedAt(got) != completedAt(stored) {
			t.Fatalf("ApplyOperation call %d returned %s %s (%q) completed at %v; stored: %s (%q) completed at %v",
				i, got.ID, got.Status, got.FailureCode, got.CompletedAt, stored.Status, stored.FailureCode, stored.CompletedAt)
		}
	}
	return stored
}

// TestApplyOperationReturnsFinal is the regression test for a bug where
// callers applying a failing operation at once could get it back pending:
// the failure was written in a second statement whose fallback read an
// older snapshot. Every caller must see the operation final.
func TestApplyOperationReturnsFinal(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tests := []struct {
		name string
		op   func(t *testing.T) wallet.Operation
	}{
		{name: "transfer without funds", op: func(t *testing.T) wallet.Operation {
			payer, from := f.user(t, 0)
			_, to := f.user(t, 0)
			return f.transfer(t, payer, from, to, 100)
		}},
		{name: "deposit to a settlement account", op: func(t *testing.T) wallet.Operation {
			_, other := pgtest.CreateUser(t, f.store, wallet.RoleBank)
			return f.deposit(t, other, 100)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 30 {
				op := tt.op(t)
				if got := f.applyN(t, op.ID, 8); got.Status != wallet.StatusFailed {
					t.Fatalf("operation ended %s, want failed", got.Status)
				}
			}
		})
	}
}

func TestApplyOperationTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const amount wallet.Amount = 3000
	tests := []struct {
		name     string
		deposit  bool
		balance  wallet.Amount // of the payer, for transfers
		callers  int
		wantFail string
	}{
		{name: "transfer applied by one caller then again", balance: 10000, callers: 1},
		{name: "transfer applied by 8 callers at once then again", balance: 10000, callers: 8},
		{name: "deposit applied by one caller then again", deposit: true, callers: 1},
		{name: "deposit applied by 8 callers at once then again", deposit: true, callers: 8},
		{name: "failed transfer applied again", balance: 1000, callers: 1, wantFail: wallet.EInsufficientFunds},
		{name: "failed transfer applied by 8 callers at once then again", balance: 1000, callers: 8, wantFail: wallet.EInsufficientFunds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payer, from := f.user(t, tt.balance)
			_, to := f.user(t, 0)
			var op wallet.Operation
			if tt.deposit {
				// A bank of its own, so that other subtests' deposits do
				// not move the settlement balance under this one.
				var bank wallet.User
				bank, from = pgtest.CreateUser(t, f.store, wallet.RoleBank)
				op = f.depositFrom(t, bank, from, to, amount)
			} else {
				op = f.transfer(t, payer, from, to, amount)
			}
			fromBefore, toBefore := f.balance(t, from.ID), f.balance(t, to.ID)

			first := f.applyN(t, op.ID, tt.callers)
			after := f.state(t, op)

			wantStatus, moved, wantEntries := wallet.StatusCompleted, amount, int64(2)
			if tt.wantFail != "" {
				wantStatus, moved, wantEntries = wallet.StatusFailed, 0, 0
			}
			if first.Status != wantStatus || first.FailureCode != tt.wantFail {
				t.Fatalf("applied operation is %s (%q), want %s (%q)", first.Status, first.FailureCode, wantStatus, tt.wantFail)
			}
			if after.status != first.Status || after.completedAt != completedAt(first) || after.completedAt == 0 {
				t.Fatalf("stored operation is %s completed at %d, ApplyOperation returned %s at %d",
					after.status, after.completedAt, first.Status, completedAt(first))
			}
			if after.fromBalance != fromBefore-moved || after.toBalance != toBefore+moved {
				t.Fatalf("balances %s -> %s moved from %d/%d to %d/%d, want %d moved exactly once",
					from.ID, to.ID, fromBefore, toBefore, after.fromBalance, after.toBalance, moved)
			}
			if after.entries != wantEntries {
				t.Fatalf("operation has %d entries, want %d", after.entries, wantEntries)
			}

			again := f.applyN(t, op.ID, tt.callers)
			if again.Status != first.Status || completedAt(again) != completedAt(first) || again.FailureCode != first.FailureCode {
				t.Fatalf("applying again returned %s (%q) at %v, first %s (%q) at %v",
					again.Status, again.FailureCode, again.CompletedAt, first.Status, first.FailureCode, first.CompletedAt)
			}
			if final := f.state(t, op); final.fromBalance != after.fromBalance || final.toBalance != after.toBalance ||
				final.entries != after.entries || final.status != after.status || final.failure != after.failure ||
				final.completedAt != after.completedAt {
				t.Fatalf("applying again changed the state:\n first: %+v\n again: %+v", after, final)
			}
		})
	}
}

func TestApplyTransferInsufficientFunds(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tests := []struct {
		name    string
		balance wallet.Amount
		amount  wallet.Amount
		ok      bool
	}{
		{name: "one kopeck short", balance: 5000, amount: 5001},
		{name: "empty wallet", balance: 0, amount: 1},
		{name: "far too much", balance: 5000, amount: 100_000_000},
		{name: "exactly the balance", balance: 5000, amount: 5000, ok: true},
		{name: "one kopeck less than the balance", balance: 5000, amount: 4999, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payer, from := f.user(t, tt.balance)
			_, to := f.user(t, 0)
			op := f.transfer(t, payer, from, to, tt.amount)
			got, err := pgtest.Apply(context.Background(), f.store, op.ID)
			if err != nil {
				t.Fatalf("ApplyOperation: %v", err)
			}
			stored := f.operation(t, op.ID)
			if stored.CompletedAt == nil {
				t.Fatalf("final operation has no completed_at")
			}
			if tt.ok {
				if got.Status != wallet.StatusCompleted || stored.Status != wallet.StatusCompleted {
					t.Fatalf("returned %s, stored %s (%q); want completed", got.Status, stored.Status, stored.FailureCode)
				}
				if f.balance(t, from.ID) != tt.balance-tt.amount || f.balance(t, to.ID) != tt.amount {
					t.Fatalf("balances %d and %d, want %d and %d", f.balance(t, from.ID), f.balance(t, to.ID), tt.balance-tt.amount, tt.amount)
				}
				if n := f.entryCount(t, op.ID); n != 2 {
					t.Fatalf("%d entries, want 2", n)
				}
				return
			}
			for _, op := range []wallet.Operation{got, stored} {
				if op.Status != wallet.StatusFailed || op.FailureCode != wallet.EInsufficientFunds {
					t.Fatalf("operation is %s (%q), want failed (%q)", op.Status, op.FailureCode, wallet.EInsufficientFunds)
				}
			}
			if n := f.entryCount(t, op.ID); n != 0 {
				t.Fatalf("failed transfer wrote %d entries", n)
			}
			if b := f.balance(t, from.ID); b != tt.balance {
				t.Fatalf("payer balance %d, want it unchanged at %d", b, tt.balance)
			}
			if b := f.balance(t, to.ID); b != 0 {
				t.Fatalf("payee balance %d, want 0", b)
			}
			if w, _ := f.store.WalletByID(context.Background(), from.ID); w.Available != tt.balance {
				t.Fatalf("available %d after the failure, want %d (a failed transfer holds nothing)", w.Available, tt.balance)
			}
		})
	}
}

func TestOppositeTransfersDoNotDeadlock(t *testing.T) {
	t.Parallel()
	// A deadlock_timeout far above the test's deadline turns a deadlock into
	// a hang that fails the test, instead of an abort that ApplyOperation
	// would quietly retry.
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, pgtest.NewDBURL(t)+"&deadlock_timeout=5min&statement_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if got := pgtest.QueryInt64(t, pool, `SELECT extract(epoch FROM current_setting('deadlock_timeout')::interval)::bigint`); got != 300 {
		t.Fatalf("deadlock_timeout is %ds, want 300s", got)
	}
	f := newFixture(t, pool)

	const start wallet.Amount = 10000 // 100.00 each
	aliceUser, alice := f.user(t, start)
	bobUser, bob := f.user(t, start)

	// 200 pairs. Alice sends more in all (about 800.00) than Bob (about
	// 600.00), more than either holds, so some transfers must fail. Deposits
	// of 1.00 to either wallet run among them.
	const pairs, deposits = 200, 100
	type spec struct {
		by       wallet.User
		from, to wallet.Wallet
		amount   wallet.Amount
		typ      wallet.OpType
	}
	var specs []spec
	for i := range pairs {
		specs = append(specs,
			spec{aliceUser, alice, bob, wallet.Amount(i%7+1) * 100, wallet.OpTransfer},
			spec{bobUser, bob, alice, wallet.Amount(i%5+1) * 100, wallet.OpTransfer})
		if i%2 == 0 {
			to := []wallet.Wallet{alice, bob}[i/2%2]
			specs = append(specs, spec{f.bank, f.settlement, to, 100, wallet.OpDeposit})
		}
	}
	if len(specs) != 2*pairs+deposits {
		t.Fatalf("built %d operations", len(specs))
	}
	ops := make([]wallet.Operation, len(specs))
	errs := make([]error, len(specs))
	pgtest.Together(8, func(w int) {
		for i := w; i < len(specs); i += 8 {
			sp := specs[i]
			ops[i], _, errs[i] = f.store.CreateOperation(ctx, wallet.Operation{
				Type: sp.typ, Amount: sp.amount, Currency: rub.Code,
				FromWalletID: sp.from.ID, ToWalletID: sp.to.ID, CreatedBy: sp.by.ID,
			}, nil)
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("CreateOperation: %v", err)
		}
	}

	began := time.Now()
	results := make([]wallet.Operation, len(ops))
	// All at once: each pair's two transfers start at the same moment.
	pgtest.Together(len(ops), func(i int) {
		results[i], errs[i] = pgtest.Apply(ctx, f.store, ops[i].ID)
	})
	t.Logf("applied %d opposite transfers and %d deposits in %v", 2*pairs, deposits, time.Since(began))

	var completed, failed int
	var aliceWant, bobWant = start, start
	for i, op := range results {
		if errs[i] != nil {
			t.Fatalf("ApplyOperation(%s): %v (a timeout here means the transfers deadlocked)", ops[i].ID, errs[i])
		}
		switch {
		case op.Status == wallet.StatusCompleted && op.Type == wallet.OpDeposit:
			if op.ToWalletID == alice.ID {
				aliceWant += op.Amount
			} else {
				bobWant += op.Amount
			}
		case op.Status == wallet.StatusCompleted:
			completed++
			if op.FromWalletID == alice.ID {
				aliceWant, bobWant = aliceWant-op.Amount, bobWant+op.Amount
			} else {
				aliceWant, bobWant = aliceWant+op.Amount, bobWant-op.Amount
			}
		case op.Status == wallet.StatusFailed && op.FailureCode == wallet.EInsufficientFunds && op.Type == wallet.OpTransfer:
			failed++
		default:
			t.Fatalf("%s %s ended %s (%q)", op.Type, op.ID, op.Status, op.FailureCode)
		}
	}
	if completed == 0 || failed == 0 {
		t.Fatalf("%d transfers completed and %d failed; both must be above zero", completed, failed)
	}
	aliceGot, bobGot := f.balance(t, alice.ID), f.balance(t, bob.ID)
	if want := 2*start + deposits*100; aliceGot+bobGot != want {
		t.Fatalf("balances %d + %d = %d, want the sum conserved at %d", aliceGot, bobGot, aliceGot+bobGot, want)
	}
	if aliceGot != aliceWant || bobGot != bobWant {
		t.Fatalf("balances %d and %d, completed operations say %d and %d", aliceGot, bobGot, aliceWant, bobWant)
	}
	if b := f.balance(t, f.settlement.ID); b != -(2*start + deposits*100) {
		t.Fatalf("settlement balance %d, want %d", b, -(2*start + deposits*100))
	}
	if s := f.entrySum(t, alice.ID); s != aliceGot {
		t.Fatalf("alice's entries sum to %d, balance %d", s, aliceGot)
	}
	if s := f.entrySum(t, bob.ID); s != bobGot {
		t.Fatalf("bob's entries sum to %d, balance %d", s, bobGot)
	}
	if n := pgtest.QueryInt64(t, pool, `SELECT count(*) FROM entries WHERE wallet_id IN ($1, $2)`,
		alice.ID, bob.ID); n != int64(2*completed+2+deposits) { // +2: the funding deposits
		t.Fatalf("%d entries for %d completed transfers and %d deposits", n, completed, 2+deposits)
	}
}

// fakeQueue records what Submit enqueues and runs nothing, as if no worker
// picked the task up yet.
type fakeQueue struct {
	mu    sync.Mutex
	locks map[string][]wallet.Lock
	order []string
}

func (q *fakeQueue) EnqueueApply(_ context.Context, _ string, opIDs []string, locks []wallet.Lock) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.locks == nil {
		q.locks = map[string][]wallet.Lock{}
	}
	for _, id := range opIDs {
		q.locks[id] = locks
	}
	q.order = append(q.order, opIDs...)
	return nil
}

func (q *fakeQueue) Requeue(context.Context, string, []string) (wallet.Requeued, error) {
	return wallet.Requeued{}, nil
}

func (q *fakeQueue) enqueued() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.order)
}

func (q *fakeQueue) locksOf(opID string) []wallet.Lock {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.locks[opID]
}

// TestReleasedLockDoesNotSpendTwice: a wallet's lock is released once its
// transfer is stored, long before a worker applies it (and a lock may
// also expire while its holder works). The next Submit from that wallet
// counts the pending transfer, and the two applied at the same time never
// spend the same money twice.
func TestReleasedLockDoesNotSpendTwice(t *testing.T) {
	t.Parallel()
	f := setup(t)
	rdb, prefix := pgtest.NewRedis(t)
	locker := redislock.New(rdb, prefix, 30*time.Second)

	tests := []struct {
		name   string
		second wallet.Amount
		// wantBalance is the payer's balance once everything is applied.
		wantBalance wallet.Amount
		// mustAccept: the second transfer fits what is left, so Submit must
		// take it.
		mustAccept bool
	}{
		{name: "second transfer exceeds what is left", second: 8000, wantBalance: 2000},
		{name: "second transfer fits what is left", second: 2000, wantBalance: 0, mustAccept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			queue, published := &fakeQueue{}, &pgtest.Publisher{}
			svc := &ledger.Service{
				Store: f.store, Accounts: f.store, Locker: locker, Queue: queue,
				Claims: &pgtest.Claims{}, Publisher: published,
				Log: slog.New(slog.DiscardHandler), Currency: rub,
				// The payee's lock, taken a moment after the payer's,
				// may outlive it by a little.
				LockWait: 2 * time.Second,
			}
			payer, from := f.user(t, 10000) // 100.00
			_, to := f.user(t, 0)
			submit := func(amount wallet.Amount) (ledger.Accepted, error) {
				return svc.Submit(ctx, ledger.Request{
					Caller: payer, Type: wallet.OpTransfer, ToWalletID: to.ID, Amount: amount,
				})
			}

			first, err := submit(8000)
			if err != nil {
				t.Fatalf("first Submit: %v", err)
			}
			if first.Op.Status != wallet.StatusPending {
				t.Fatalf("first transfer is %s, want pending", first.Op.Status)
			}
			if got := queue.locksOf(first.Op.ID); len(got) != 0 {
				t.Fatalf("first transfer was enqueued with locks %v, want none", got)
			}
			if n, err := rdb.Exists(ctx, locker.Name(from.ID)).Result(); err != nil || n != 0 {
				t.Fatalf("payer's lock is held after the first Submit stored its transfer: exists=%d err=%v", n, err)
			}

			second, err := submit(tt.second)
			ops := []ledger.Accepted{first}
			switch {
			case err == nil:
				ops = append(ops, second)
				if got := queue.locksOf(second.Op.ID); len(got) != 0 {
					t.Fatalf("second transfer was enqueued with locks %v", got)
				}
			case tt.mustAccept:
				t.Fatalf("second Submit of %s with %s available: %v", rub.Format(tt.second), rub.Format(10000-8000), err)
			case wallet.ErrorCode(err) != wallet.EInsufficientFunds:
				t.Fatalf("second Submit: %v; want success or %s", err, wallet.EInsufficientFunds)
			default:
				t.Logf("second transfer refused at submit: %v", err)
				if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM operations WHERE from_wallet_id = $1`, from.ID); n != 1 {
					t.Fatalf("a refused Submit stored an operation: %d operations from the payer", n)
				}
			}
			if got := queue.enqueued(); len(got) != len(ops) {
				t.Fatalf("enqueued %v, want %d operations", got, len(ops))
			}

			// The workers get to both at the same time.
			results := make([]wallet.Operation, len(ops))
			errs := make([]error, len(ops))
			pgtest.Together(len(ops), func(i int) {
				var got []wallet.Operation
				got, errs[i] = svc.Apply(ctx, []string{ops[i].Op.ID}, queue.locksOf(ops[i].Op.ID))
				if errs[i] == nil {
					results[i] = got[0]
				}
			})
			var completed, failed int
			for i, op := range results {
				if errs[i] != nil {
					t.Fatalf("Apply: %v", errs[i])
				}
				switch {
				case op.Status == wallet.StatusCompleted:
					completed++
				case op.Status == wallet.StatusFailed && op.FailureCode == wallet.EInsufficientFunds:
					failed++
				default:
					t.Fatalf("operation %s ended %s (%q)", op.ID, op.Status, op.FailureCode)
				}
			}
			if len(published.IDs()) != len(ops) {
				t.Fatalf("published %v for %d applied operations", published.IDs(), len(ops))
			}
			wantFailed := 0
			if len(ops) == 2 && tt.second > 2000 {
				wantFailed = 1
			}
			if failed != wantFailed || completed != len(ops)-wantFailed {
				t.Fatalf("%d completed and %d failed of %d, want %d failed", completed, failed, len(ops), wantFailed)
			}
			if b := f.balance(t, from.ID); b != tt.wantBalance {
				t.Fatalf("payer's balance %s, want %s", rub.Format(b), rub.Format(tt.wantBalance))
			}
			if b := f.balance(t, to.ID); b != 10000-tt.wantBalance {
				t.Fatalf("payee's balance %s, want %s", rub.Format(b), rub.Format(10000-tt.wantBalance))
			}
		})
	}
}

func TestConcurrentOverdraftAtStore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Two pending transfers of 80.00 from a wallet of 100.00, made without
	// any lock; at most one may complete, whatever the order.
	tests := []struct {
		name   string
		order  []int // indexes of the transfers in the order applied; nil: concurrently
		rounds int
	}{
		{name: "first then second", order: []int{0, 1}, rounds: 1},
		{name: "second then first", order: []int{1, 0}, rounds: 1},
		{name: "concurrently", rounds: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range tt.rounds {
				payer, from := f.user(t, 10000)
				_, toA := f.user(t, 0)
				_, toB := f.user(t, 0)
				ops := []wallet.Operation{
					f.transfer(t, payer, from, toA, 8000),
					f.transfer(t, payer, from, toB, 8000),
				}
				if w, err := f.store.WalletByID(context.Background(), from.ID); err != nil || w.Available != 10000-16000 {
					t.Fatalf("available %d (%v) with two pending transfers, want %d", w.Available, err, 10000-16000)
				}
				results := make([]wallet.Operation, 2)
				if tt.order == nil {
					errs := make([]error, 2)
					pgtest.Together(2, func(i int) {
						results[i], errs[i] = pgtest.Apply(context.Background(), f.store, ops[i].ID)
					})
					for _, err := range errs {
						if err != nil {
							t.Fatalf("ApplyOperation: %v", err)
						}
					}
				} else {
					for _, i := range tt.order {
						var err error
						if results[i], err = pgtest.Apply(context.Background(), f.store, ops[i].ID); err != nil {
							t.Fatalf("ApplyOperation: %v", err)
						}
					}
				}
				var winner = -1
				for i, op := range results {
					switch {
					case op.Status == wallet.StatusCompleted && winner == -1:
						winner = i
					case op.Status == wallet.StatusFailed && op.FailureCode == wallet.EInsufficientFunds:
					default:
						t.Fatalf("results %s (%q) and %s (%q): want exactly one completed and one failed with %s",
							results[0].Status, results[0].FailureCode, results[1].Status, results[1].FailureCode, wallet.EInsufficientFunds)
					}
				}
				if winner == -1 {
					t.Fatalf("neither transfer completed")
				}
				if tt.order != nil && winner != tt.order[0] {
					t.Fatalf("transfer %d completed, want the first applied, %d", winner, tt.order[0])
				}
				if b := f.balance(t, from.ID); b != 2000 {
					t.Fatalf("payer's balance %s, want 20.00", rub.Format(b))
				}
				recipients := []wallet.Wallet{toA, toB}
				for i, w := range recipients {
					want := wallet.Amount(0)
					if i == winner {
						want = 8000
					}
					if b := f.balance(t, w.ID); b != want {
						t.Fatalf("recipient %d has %s, want %s", i, rub.Format(b), rub.Format(want))
					}
				}
			}
		})
	}
}

func TestDeposits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const users, perUser = 4, 6
	wallets := make([]wallet.Wallet, users)
	for i := range wallets {
		_, wallets[i] = f.user(t, 0)
	}
	// Deposits of different amounts to every wallet, created and applied
	// from many goroutines at once.
	amountOf := func(u, d int) wallet.Amount { return wallet.Amount((u+1)*1000 + d*7 + 1) }
	errs := make([]error, users*perUser)
	pgtest.Together(users*perUser, func(i int) {
		u, d := i/perUser, i%perUser
		op, _, err := f.store.CreateOperation(ctx, wallet.Operation{
			Type: wallet.OpDeposit, Amount: amountOf(u, d), Currency: rub.Code,
			FromWalletID: f.settlement.ID, ToWalletID: wallets[u].ID, CreatedBy: f.bank.ID,
		}, nil)
		if err == nil {
			op, err = pgtest.Apply(ctx, f.store, op.ID)
		}
		if err == nil && op.Status != wallet.StatusCompleted {
			err = fmt.Errorf("deposit %s ended %s (%s)", op.ID, op.Status, op.FailureCode)
		}
		errs[i] = err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	var total wallet.Amount
	for u, w := range wallets {
		var want wallet.Amount
		for d := range perUser {
			want += amountOf(u, d)
		}
		total += want
		if b := f.balance(t, w.ID); b != want {
			t.Errorf("wallet %d balance %d, want %d", u, b, want)
		}
		if s := f.entrySum(t, w.ID); s != want {
			t.Errorf("wallet %d entries sum to %d, want %d", u, s, want)
		}
	}
	shards := wallet.Amount(pgtest.QueryInt64(t, f.pool,
		`SELECT coalesce(sum(balance), 0)::bigint FROM settlement_shards WHERE wallet_id = $1`, f.settlement.ID))
	if shards != -total {
		t.Errorf("settlement shards sum to %d, want %d", shards, -total)
	}
	if b := f.balance(t, f.settlement.ID); b != -total {
		t.Errorf("settlement balance through the Store %d, want %d", b, -total)
	}
	if s := f.entrySum(t, f.settlement.ID); s != -total {
		t.Errorf("settlement entries sum to %d, want %d", s, -total)
	}
	if n := pgtest.QueryInt64(t, f.pool, `SELECT count(DISTINCT shard) FROM settlement_shards WHERE wallet_id = $1 AND balance <> 0`,
		f.settlement.ID); n < 2 {
		t.Errorf("%d deposits all landed on %d settlement shard(s)", users*perUser, n)
	}
	if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM wallets WHERE kind = 'settlement' AND balance <> 0`); n != 0 {
		t.Errorf("%d settlement accounts carry a balance outside their shards", n)
	}

	t.Run("to a settlement account fails and changes nothing", func(t *testing.T) {
		_, other := pgtest.CreateUser(t, f.store, wallet.RoleBank)
		before := f.balance(t, f.settlement.ID)
		op := f.deposit(t, other, 500)
		got, err := pgtest.Apply(ctx, f.store, op.ID)
		if err != nil {
			t.Fatalf("ApplyOperation: %v", err)
		}
		if got.Status != wallet.StatusFailed || got.FailureCode != wallet.EWalletNotFound {
			t.Fatalf("deposit to a settlement account ended %s (%q), want failed (%q)", got.Status, got.FailureCode, wallet.EWalletNotFound)
		}
		if b := f.balance(t, f.settlement.ID); b != before {
			t.Fatalf("settlement balance moved from %d to %d on a failed deposit", before, b)
		}
		if b := f.balance(t, other.ID); b != 0 {
			t.Fatalf("target settlement account has %d", b)
		}
		if n := f.entryCount(t, op.ID); n != 0 {
			t.Fatalf("failed deposit wrote %d entries", n)
		}
	})
}

func TestCreateOperationIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	alice, aliceWallet := f.user(t, 10000)
	_, bobWallet := f.user(t, 0)
	hashA, hashB := ledger.HashRequest("a"), ledger.HashRequest("b")
	transfer := func(by wallet.User, from wallet.Wallet, amount wallet.Amount) wallet.Operation {
		return wallet.Operation{
			Type: wallet.OpTransfer, Amount: amount, Currency: rub.Code,
			FromWalletID: from.ID, ToWalletID: bobWallet.ID, CreatedBy: by.ID,
		}
	}
	key := func(u wallet.User, k string, hash []byte) *wallet.IdempotencyKey {
		return &wallet.IdempotencyKey{UserID: u.ID, Key: k, RequestHash: hash, StatusCode: 202}
	}
	opsBy := func(u wallet.User) int64 {
		return pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM operations WHERE created_by = $1 AND type = 'wallet_to_wallet'`, u.ID)
	}

	first, replayed, err := f.store.CreateOperation(ctx, transfer(alice, aliceWallet, 3000), key(alice, "k1", hashA))
	if err != nil || replayed {
		t.Fatalf("first CreateOperation: replayed=%v err=%v", replayed, err)
	}
	again, replayed, err := f.store.CreateOperation(ctx, transfer(alice, aliceWallet, 3000), key(alice, "k1", hashA))
	if err != nil || !replayed {
		t.Fatalf("same key and request: replayed=%v err=%v, want replayed", replayed, err)
	}
	if again.ID != first.ID || again.Amount != first.Amount || again.Status != wallet.StatusPending {
		t.Fatalf("same key returned %s (%d, %s), want %s", again.ID, again.Amount, again.Status, first.ID)
	}
	_, _, err = f.store.CreateOperation(ctx, transfer(alice, aliceWallet, 4000), key(alice, "k1", hashB))
	if wallet.ErrorCode(err) != wallet.EIdempotencyKeyReused {
		t.Fatalf("same key, different request: %v, want %s", err, wallet.EIdempotencyKeyReused)
	}
	if n := opsBy(alice); n != 1 {
		t.Fatalf("%d operations stored for one key, want 1", n)
	}

	// A replay after the operation completed returns it final, with the
	// caller's balance after it.
	if _, err := pgtest.Apply(ctx, f.store, first.ID); err != nil {
		t.Fatal(err)
	}
	again, replayed, err = f.store.CreateOperation(ctx, transfer(alice, aliceWallet, 3000), key(alice, "k1", hashA))
	if err != nil || !replayed || again.ID != first.ID || again.Status != wallet.StatusCompleted {
		t.Fatalf("replay after apply: %s %s replayed=%v err=%v", again.ID, again.Status, replayed, err)
	}
	if again.BalanceAfter == nil || *again.BalanceAfter != 7000 {
		t.Fatalf("replay after apply: balance_after %v, want 7000", again.BalanceAfter)
	}

	// Keys belong to the caller: another user's "k1" is a new operation.
	carol, carolWallet := f.user(t, 10000)
	other, replayed, err := f.store.CreateOperation(ctx, transfer(carol, carolWallet, 3000), key(carol, "k1", hashA))
	if err != nil || replayed || other.ID == first.ID {
		t.Fatalf("another user's key: %s replayed=%v err=%v", other.ID, replayed, err)
	}

	tests := []struct {
		name string
		hash func(i int) []byte
	}{
		{name: "10 identical requests", hash: func(int) []byte { return hashA }},
		{name: "10 requests, two different bodies", hash: func(i int) []byte {
			if i%2 == 0 {
				return hashA
			}
			return hashB
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			user, w := f.user(t, 10000)
			const n = 10
			ops := make([]wallet.Operation, n)
			replays := make([]bool, n)
			errs := make([]error, n)
			pgtest.Together(n, func(i int) {
				ops[i], replays[i], errs[i] = f.store.CreateOperation(ctx, transfer(user, w, 1000), key(user, "concurrent", tt.hash(i)))
			})
			winner := -1
			for i := range n {
				if errs[i] == nil && !replays[i] {
					if winner != -1 {
						t.Fatalf("calls %d and %d both created an operation (%s, %s)", winner, i, ops[winner].ID, ops[i].ID)
					}
					winner = i
				}
			}
			if winner == -1 {
				t.Fatalf("no call created the operation: errors %v", errs)
			}
			for i := range n {
				sameBody := string(tt.hash(i)) == string(tt.hash(winner))
				switch {
				case sameBody && (errs[i] != nil || ops[i].ID != ops[winner].ID):
					t.Errorf("call %d (same body as the winner) got %s, %v; want %s", i, ops[i].ID, errs[i], ops[winner].ID)
				case !sameBody && wallet.ErrorCode(errs[i]) != wallet.EIdempotencyKeyReused:
					t.Errorf("call %d (different body) got %s, %v; want %s", i, ops[i].ID, errs[i], wallet.EIdempotencyKeyReused)
				}
			}
			if got := opsBy(user); got != 1 {
				t.Fatalf("%d operation rows for one key, want 1", got)
			}
			if got := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM idempotency_keys WHERE user_id = $1`, user.ID); got != 1 {
				t.Fatalf("%d idempotency rows, want 1", got)
			}
		})
	}
}

func TestCreateUserEmailTaken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	tag := fmt.Sprint(time.Now().UnixNano())
	email := "ann." + tag + "@example.com"
	first, _, err := f.store.CreateUser(ctx, wallet.User{Name: "Ann", Email: email, Role: wallet.RoleUser, PasswordHash: "h"}, rub.Code)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		email string
		role  wallet.Role
		taken bool
	}{
		{"same email", email, wallet.RoleUser, true},
		{"upper case", strings.ToUpper(email), wallet.RoleUser, true},
		{"mixed case", "Ann." + tag + "@Example.COM", wallet.RoleUser, true},
		{"as a bank", strings.ToUpper(email), wallet.RoleBank, true},
		{"as an admin", "ANN." + tag + "@example.com", wallet.RoleAdmin, true},
		{"another address", "ann2." + tag + "@example.com", wallet.RoleUser, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, w, err := f.store.CreateUser(ctx, wallet.User{Name: "Ann", Email: tt.email, Role: tt.role, PasswordHash: "h"}, rub.Code)
			if !tt.taken {
				if err != nil || u.ID == "" || w.ID == "" {
					t.Fatalf("CreateUser(%q) = %q, %q, %v", tt.email, u.ID, w.ID, err)
				}
				return
			}
			if wallet.ErrorCode(err) != wallet.EEmailTaken {
				t.Fatalf("CreateUser(%q): %v, want %s", tt.email, err, wallet.EEmailTaken)
			}
		})
	}
	t.Run("8 concurrent signups with one address", func(t *testing.T) {
		t.Parallel()
		base := "bob." + tag + "@example.com"
		variants := []string{base, strings.ToUpper(base), "Bob." + tag + "@example.com", "bob." + tag + "@EXAMPLE.com"}
		errs := make([]error, 8)
		pgtest.Together(8, func(i int) {
			_, _, errs[i] = f.store.CreateUser(ctx, wallet.User{
				Name: "Bob", Email: variants[i%len(variants)], Role: wallet.RoleUser, PasswordHash: "h",
			}, rub.Code)
		})
		created := 0
		for i, err := range errs {
			switch wallet.ErrorCode(err) {
			case "":
				created++
			case wallet.EEmailTaken:
			default:
				t.Errorf("signup %d: %v, want success or %s", i, err, wallet.EEmailTaken)
			}
		}
		if created != 1 {
			t.Fatalf("%d of 8 concurrent signups succeeded, want 1", created)
		}
		if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM users WHERE lower(email) = $1`, base); n != 1 {
			t.Fatalf("%d users with address %s", n, base)
		}
	})
	t.Cleanup(func() {
		if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM users WHERE lower(email) = lower($1)`, email); n != 1 {
			t.Errorf("%d users with email %s, want 1", n, email)
		}
		if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM wallets WHERE user_id = $1`, first.ID); n != 1 {
			t.Errorf("first user has %d wallets, want 1", n)
		}
		got, err := f.store.UserByEmail(ctx, strings.ToUpper(email))
		if err != nil || got.ID != first.ID {
			t.Errorf("UserByEmail(upper case) = %q, %v; want %q", got.ID, err, first.ID)
		}
	})
}

func TestWalletOperationsPagination(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	aliceUser, alice := f.user(t, 0)
	bobUser, bob := f.user(t, 50000)
	carolUser, carol := f.user(t, 50000)

	// Alice's operations in creation order: deposits, transfers in and out,
	// with other wallets' operations in between. The last two stay pending.
	type want struct {
		id      string
		after   wallet.Amount
		applied bool
	}
	var wants []want
	var balance wallet.Amount
	const n = 23
	for i := range n {
		var op wallet.Operation
		delta := wallet.Amount(100 + i)
		switch i % 4 {
		case 0:
			op = f.deposit(t, alice, delta)
		case 1:
			op = f.transfer(t, bobUser, bob, alice, delta)
		case 2:
			op = f.transfer(t, aliceUser, alice, carol, delta)
			delta = -delta
		case 3:
			op = f.transfer(t, carolUser, carol, alice, delta)
		}
		f.transfer(t, bobUser, bob, carol, 1) // not alice's
		w := want{id: op.ID}
		if i < n-2 {
			got, err := pgtest.Apply(ctx, f.store, op.ID)
			if err != nil || got.Status != wallet.StatusCompleted {
				t.Fatalf("operation %d: %s (%q), %v", i, got.Status, got.FailureCode, err)
			}
			balance += delta
			w.after, w.applied = balance, true
		}
		wants = append(wants, w)
	}
	slices.Reverse(wants) // newest first

	for _, limit := range []int{1, 2, 5, 7, n, n + 1, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			t.Parallel()
			var got []wallet.Operation
			before := ""
			for page := 0; ; page++ {
				if page > n+1 {
					t.Fatalf("pagination does not end")
				}
				ops, err := f.store.WalletOperations(ctx, alice.ID, before, limit)
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if len(ops) > limit {
					t.Fatalf("page %d has %d operations, limit %d", page, len(ops), limit)
				}
				got = append(got, ops...)
				if len(ops) < limit {
					break
				}
				before = ops[len(ops)-1].ID
			}
			if len(got) != len(wants) {
				t.Fatalf("%d operations over all pages, want %d", len(got), len(wants))
			}
			seen := map[string]bool{}
			for i, op := range got {
				if seen[op.ID] {
					t.Fatalf("operation %s appears on two pages", op.ID)
				}
				seen[op.ID] = true
				w := wants[i]
				if op.ID != w.id {
					t.Fatalf("operation %d is %s, want %s (newest first)", i, op.ID, w.id)
				}
				if op.FromWalletID != alice.ID && op.ToWalletID != alice.ID {
					t.Fatalf("operation %s does not involve alice's wallet", op.ID)
				}
				if !w.applied {
					if op.Status != wallet.StatusPending || op.BalanceAfter != nil {
						t.Fatalf("pending operation %s is %s with balance_after %v", op.ID, op.Status, op.BalanceAfter)
					}
					continue
				}
				if op.BalanceAfter == nil || *op.BalanceAfter != w.after {
					t.Fatalf("operation %s balance_after %v, want %d", op.ID, op.BalanceAfter, w.after)
				}
			}
		})
	}
}

// TestApplyOperationReportsOneApplier checks that of many callers applying
// one operation at once, exactly one is told it applied it, so the worker
// counts each final operation once in its metrics.
func TestApplyOperationReportsOneApplier(t *testing.T) {
	t.Parallel()
	f := setup(t)
	payer, from := f.user(t, 10000)
	_, to := f.user(t, 0)
	ops := []wallet.Operation{
		f.transfer(t, payer, from, to, 100),   // completes
		f.transfer(t, payer, from, to, 50000), // fails: insufficient funds
		f.deposit(t, to, 700),                 // completes
	}
	for _, op := range ops {
		var applied atomic.Int32
		pgtest.Together(8, func(int) {
			_, did, err := f.store.ApplyOperation(context.Background(), op.ID)
			if err != nil {
				t.Errorf("ApplyOperation(%s): %v", op.ID, err)
			}
			if did {
				applied.Add(1)
			}
		})
		if n := applied.Load(); n != 1 {
			t.Errorf("operation %s: %d callers reported applying it, want 1", op.ID, n)
		}
		if _, did, err := f.store.ApplyOperation(context.Background(), op.ID); err != nil || did {
			t.Errorf("applying final operation %s again: applied=%v err=%v, want false, nil", op.ID, did, err)
		}
	}
}

// TestApplyOperationsBatch applies many operations in one transaction:
// they are decided in creation order against running balances, a debit
// that would overdraw fails without stopping the rest, balance_after
// follows each wallet's running balance, and ids already final or given
// twice change nothing.
func TestApplyOperationsBatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	payer, a := f.user(t, 10000) // 100.00
	_, b := f.user(t, 0)
	_, c := f.user(t, 500)
	t1 := f.transfer(t, payer, a, b, 6000)  // completes: a 40.00
	t2 := f.transfer(t, payer, a, c, 5000)  // fails: only 40.00 left
	d1 := f.deposit(t, a, 1000)             // a 50.00
	t3 := f.transfer(t, payer, a, b, 5000)  // completes thanks to d1: a 0.00
	done := f.transfer(t, payer, c, b, 100) // applied before the batch
	if _, err := pgtest.Apply(context.Background(), f.store, done.ID); err != nil {
		t.Fatal(err)
	}

	ids := []string{t3.ID, done.ID, t1.ID, d1.ID, t2.ID, t1.ID}
	res, err := f.store.ApplyOperations(context.Background(), ids)
	if err != nil {
		t.Fatalf("ApplyOperations: %v", err)
	}
	if len(res) != len(ids) {
		t.Fatalf("got %d results for %d ids", len(res), len(ids))
	}
	want := map[string]struct {
		status  wallet.Status
		failure string
		applied bool
		after   wallet.Amount // payer's balance_after; -1 for none
	}{
		t1.ID:   {wallet.StatusCompleted, "", true, 4000},
		t2.ID:   {wallet.StatusFailed, wallet.EInsufficientFunds, true, -1},
		d1.ID:   {wallet.StatusCompleted, "", true, 5000},
		t3.ID:   {wallet.StatusCompleted, "", true, 0},
		done.ID: {wallet.StatusCompleted, "", false, -1},
	}
	for i, r := range res {
		w := want[ids[i]]
		if r.Op.ID != ids[i] || r.Op.Status != w.status || r.Op.FailureCode != w.failure || r.Applied != w.applied {
			t.Errorf("result %d: %s %s %q applied=%v; want %s %s %q applied=%v",
				i, r.Op.ID, r.Op.Status, r.Op.FailureCode, r.Applied, ids[i], w.status, w.failure, w.applied)
		}
		if r.Op.CompletedAt == nil {
			t.Errorf("result %d: no completed_at", i)
		}
		if w.after < 0 || ids[i] == done.ID {
			continue
		}
		got, err := f.store.Operation(context.Background(), ids[i], a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.BalanceAfter == nil || *got.BalanceAfter != w.after {
			t.Errorf("operation %s: payer's balance_after %v, want %d", ids[i], got.BalanceAfter, w.after)
		}
	}
	for _, tc := range []struct {
		w    wallet.Wallet
		want wallet.Amount
	}{{a, 0}, {b, 11100}, {c, 400}} {
		if got := f.balance(t, tc.w.ID); got != tc.want {
			t.Errorf("wallet %s: balance %d, want %d", tc.w.ID, got, tc.want)
		}
	}
	if _, err := f.store.ApplyOperations(context.Background(), []string{t1.ID, "01a210a3-0000-7000-8000-000000000000"}); wallet.ErrorCode(err) != wallet.EOperationNotFound {
		t.Errorf("batch with an unknown id: %v, want %s", err, wallet.EOperationNotFound)
	}
}

// TestIdempotencyKeyTaken checks the probe: a free key is reported free
// and left free; a stored key is taken; a key being stored by a
// transaction not yet committed is waited for, then reported taken.
func TestIdempotencyKeyTaken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	payer, from := f.user(t, 1000)
	_, to := f.user(t, 0)

	if taken, err := f.store.IdempotencyKeyTaken(ctx, payer.ID, "free"); err != nil || taken {
		t.Fatalf("free key: taken=%v err=%v", taken, err)
	}
	if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM idempotency_keys`); n != 0 {
		t.Fatalf("the probe left %d keys behind", n)
	}

	key := &wallet.IdempotencyKey{UserID: payer.ID, Key: "stored", RequestHash: []byte("h"), StatusCode: 202}
	if _, _, err := f.store.CreateOperation(ctx, wallet.Operation{Type: wallet.OpTransfer, Amount: 100, Currency: rub.Code,
		FromWalletID: from.ID, ToWalletID: to.ID, CreatedBy: payer.ID}, key); err != nil {
		t.Fatal(err)
	}
	if taken, err := f.store.IdempotencyKeyTaken(ctx, payer.ID, "stored"); err != nil || !taken {
		t.Fatalf("stored key: taken=%v err=%v", taken, err)
	}

	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, operation_id, status_code)
		VALUES ($1, 'in-flight', '', (SELECT id FROM operations LIMIT 1), 202)`, payer.ID); err != nil {
		t.Fatal(err)
	}
	result := make(chan bool, 1)
	go func() {
		taken, err := f.store.IdempotencyKeyTaken(ctx, payer.ID, "in-flight")
		if err != nil {
			t.Error(err)
		}
		result <- taken
	}()
	select {
	case <-result:
		t.Fatal("the probe answered while the key's insert was uncommitted")
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !<-result {
		t.Fatal("the probe reported a key committed meanwhile as free")
	}
}
