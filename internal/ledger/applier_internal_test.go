package ledger

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/wallet"
)

// These tests drive commitBatch directly with batches of tasks built by
// hand, which the applier's timing would make hard to arrange: how a
// batch's results map back to its tasks, and what happens when a batch
// fails as a whole.

// recLocker records the locks released; fail makes Release fail.
type recLocker struct {
	mu       sync.Mutex
	released []wallet.Lock
	fail     error
}

func (l *recLocker) TryAcquire(context.Context, []string) (map[string]wallet.Lock, error) {
	return nil, errors.New("not used")
}

func (l *recLocker) Release(locks []wallet.Lock) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.released = append(l.released, locks...)
	return nil
}

// recObserver counts cleanup failures.
type recObserver struct {
	mu      sync.Mutex
	cleanup map[string]int
	batches []int
}

func (o *recObserver) AcceptStage(string, time.Duration, int) {}

func (o *recObserver) LockWait(time.Duration, bool)    {}
func (o *recObserver) OperationFinal(wallet.Operation) {}
func (o *recObserver) Batch(stage string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if stage == "apply" {
		o.batches = append(o.batches, n)
	}
}
func (o *recObserver) CleanupFailed(kind string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cleanup == nil {
		o.cleanup = map[string]int{}
	}
	o.cleanup[kind] += n
}

type applierEnv struct {
	store     *postgres.Store
	svc       *Service
	locker    *recLocker
	observer  *recObserver
	published *pgtest.Publisher
	payer     wallet.User
	from, to  wallet.Wallet
}

func newApplierEnv(t *testing.T) *applierEnv {
	t.Helper()
	pool := pgtest.NewDB(t)
	store := postgres.NewStore(pool)
	bank, settlement := pgtest.CreateUser(t, store, wallet.RoleBank)
	payer, from := pgtest.CreateUser(t, store, wallet.RoleUser)
	_, to := pgtest.CreateUser(t, store, wallet.RoleUser)
	pgtest.Deposit(t, store, bank, settlement, from, 10000)
	e := &applierEnv{store: store, locker: &recLocker{}, observer: &recObserver{}, published: &pgtest.Publisher{},
		payer: payer, from: from, to: to}
	e.svc = &Service{Store: store, Locker: e.locker, Publisher: e.published, Observer: e.observer,
		Log: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { pgtest.CheckLedger(t, pool) })
	return e
}

// pending stores a pending transfer of amount and returns its id.
func (e *applierEnv) pending(t *testing.T, amount wallet.Amount) string {
	t.Helper()
	op, _, err := e.store.CreateOperation(context.Background(), wallet.Operation{Type: wallet.OpTransfer,
		Amount: amount, Currency: pgtest.Currency, FromWalletID: e.from.ID, ToWalletID: e.to.ID, CreatedBy: e.payer.ID}, nil)
	if err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	return op.ID
}

func lock(name string) wallet.Lock {
	return wallet.Lock{Name: name, Value: "v-" + name, WalletID: name}
}

// run commits reqs as one batch and returns each task's answer.
func (e *applierEnv) run(reqs ...applyReq) []applyRes {
	for i := range reqs {
		reqs[i].done = make(chan applyRes, 1)
	}
	e.svc.commitBatch(context.Background(), reqs)
	out := make([]applyRes, len(reqs))
	for i, r := range reqs {
		out[i] = <-r.done
	}
	return out
}

func ids(ops []wallet.Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.ID
	}
	return out
}

func lockNames(locks []wallet.Lock) []string {
	var out []string
	for _, l := range locks {
		out = append(out, l.Name)
	}
	slices.Sort(out)
	return out
}

// Each task gets its own operations, in its own order, even when tasks
// share an operation (a sweeper's task beside the original) and the
// batch lists them in another order; every task's locks are released and
// every operation is announced, in one commit.
func TestCommitBatchMapsResultsToTasks(t *testing.T) {
	t.Parallel()
	e := newApplierEnv(t)
	a, b, c := e.pending(t, 100), e.pending(t, 200), e.pending(t, 300)
	res := e.run(
		applyReq{ids: []string{c, a}, locks: []wallet.Lock{lock("l1")}},
		applyReq{ids: []string{b}, locks: []wallet.Lock{lock("l2")}},
		applyReq{ids: []string{a}, locks: []wallet.Lock{lock("l3")}},
	)
	want := [][]string{{c, a}, {b}, {a}}
	amounts := map[string]wallet.Amount{a: 100, b: 200, c: 300}
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("task %d: %v", i, r.err)
		}
		if got := ids(r.ops); !slices.Equal(got, want[i]) {
			t.Errorf("task %d got operations %v, want %v", i, got, want[i])
		}
		for _, op := range r.ops {
			if op.Status != wallet.StatusCompleted || op.Amount != amounts[op.ID] {
				t.Errorf("task %d: operation %s is %s with %d, want completed with %d", i, op.ID, op.Status, op.Amount, amounts[op.ID])
			}
		}
	}
	if got := lockNames(e.locker.released); !slices.Equal(got, []string{"l1", "l2", "l3"}) {
		t.Errorf("released %v, want every task's locks", got)
	}
	if got := e.published.IDs(); len(got) != 3 {
		t.Errorf("announced %v, want the 3 operations once each", got)
	}
	if !slices.Equal(e.observer.batches, []int{4}) {
		t.Errorf("apply batches %v, want one commit of 4 ids", e.observer.batches)
	}
}

// A batch that fails as a whole (here: a task names an operation that
// does not exist) is applied one operation at a time: the good
// operations commit, also those of the failing task; the failing task
// gets the error and keeps its locks for its retry; the others are
// answered and released.
func TestCommitBatchSplitsOnFailure(t *testing.T) {
	t.Parallel()
	e := newApplierEnv(t)
	good1, good2, good3 := e.pending(t, 100), e.pending(t, 200), e.pending(t, 300)
	missing := "01a23119-0000-7000-8000-000000000001"
	res := e.run(
		applyReq{ids: []string{good1, missing}, locks: []wallet.Lock{lock("bad")}},
		applyReq{ids: []string{good2}, locks: []wallet.Lock{lock("ok2")}},
		applyReq{ids: []string{good3, good1}, locks: []wallet.Lock{lock("ok3")}},
	)
	if code := wallet.ErrorCode(res[0].err); code != wallet.EOperationNotFound {
		t.Errorf("the task with an unknown operation got %v, want %s", res[0].err, wallet.EOperationNotFound)
	}
	if res[1].err != nil || !slices.Equal(ids(res[1].ops), []string{good2}) {
		t.Errorf("second task: %v, %v; want its operation", ids(res[1].ops), res[1].err)
	}
	if res[2].err != nil || !slices.Equal(ids(res[2].ops), []string{good3, good1}) {
		t.Errorf("third task: %v, %v; want its operations in its order", ids(res[2].ops), res[2].err)
	}
	for _, id := range []string{good1, good2, good3} {
		op, err := e.store.Operation(context.Background(), id, "")
		if err != nil || op.Status != wallet.StatusCompleted {
			t.Errorf("operation %s after the split: %s, %v; want completed", id, op.Status, err)
		}
	}
	if got := lockNames(e.locker.released); !slices.Equal(got, []string{"ok2", "ok3"}) {
		t.Errorf("released %v, want the answered tasks' locks only", got)
	}

	// One task alone, with an unknown operation among good ones, is
	// split the same way.
	good4 := e.pending(t, 400)
	res = e.run(applyReq{ids: []string{good4, missing}})
	if wallet.ErrorCode(res[0].err) != wallet.EOperationNotFound {
		t.Errorf("lone task with an unknown operation: %v", res[0].err)
	}
	if op, _ := e.store.Operation(context.Background(), good4, ""); op.Status != wallet.StatusCompleted {
		t.Errorf("the good operation of a failing task is %s, want completed", op.Status)
	}
}

// A lock release that Redis refuses is counted and logged, never
// swallowed: the wallet stays busy until the lock expires.
func TestCommitBatchCountsFailedRelease(t *testing.T) {
	t.Parallel()
	e := newApplierEnv(t)
	e.locker.fail = errors.New("redis is down")
	var logs syncBuffer
	e.svc.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	id := e.pending(t, 100)
	res := e.run(applyReq{ids: []string{id}, locks: []wallet.Lock{lock("a"), lock("b")}})
	if res[0].err != nil {
		t.Fatalf("a failed release must not fail the commit: %v", res[0].err)
	}
	if got := e.observer.cleanup["lock_release"]; got != 2 {
		t.Errorf("cleanup failures counted %v, want lock_release 2", e.observer.cleanup)
	}
	if out := logs.String(); !strings.Contains(out, `"wallet_ids":["a","b"]`) || !strings.Contains(out, "redis is down") {
		t.Errorf("the failed release is not logged with its wallets and cause: %s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
