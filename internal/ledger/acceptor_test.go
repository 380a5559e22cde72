package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/redislock"
	"github.com/walletd/wallet/internal/wallet"
)

var rub = wallet.Currency{Code: pgtest.Currency, Digits: 2}

// lockTTL is long enough that no lock expires while a test runs: an
// expired lock would hide a lock that is never released.
const lockTTL = 30 * time.Second

// task is one EnqueueApply call.
type task struct {
	ids   []string
	locks []wallet.Lock
}

// fakeQueue records the tasks Submit enqueues and hands them to the fake
// worker, if one runs.
type fakeQueue struct {
	mu    sync.Mutex
	tasks []task
	ch    chan task
}

func newFakeQueue() *fakeQueue { return &fakeQueue{ch: make(chan task, 10_000)} }

func (q *fakeQueue) EnqueueApply(_ context.Context, _ string, opIDs []string, locks []wallet.Lock) error {
	tk := task{ids: slices.Clone(opIDs), locks: slices.Clone(locks)}
	q.mu.Lock()
	q.tasks = append(q.tasks, tk)
	q.mu.Unlock()
	q.ch <- tk
	return nil
}

func (q *fakeQueue) Requeue(context.Context, string, []string) (wallet.Requeued, error) {
	return wallet.Requeued{}, nil
}

func (q *fakeQueue) all() []task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.tasks)
}

// hookLocker is the real locker with hooks the acceptor runs before and
// after each TryAcquire, with the wallets it tries.
type hookLocker struct {
	*redislock.Locker
	before, after func(ids []string)
}

func (l *hookLocker) TryAcquire(ctx context.Context, ids []string) (map[string]wallet.Lock, error) {
	if l.before != nil {
		l.before(ids)
	}
	got, err := l.Locker.TryAcquire(ctx, ids)
	if l.after != nil {
		l.after(ids)
	}
	return got, err
}

// env is one test's database, Redis key space and Service.
type env struct {
	pool       *pgxpool.Pool
	store      *postgres.Store
	rdb        *redis.Client
	prefix     string
	locker     *redislock.Locker
	queue      *fakeQueue
	claims     *pgtest.Claims
	svc        *ledger.Service
	bank       wallet.User
	settlement wallet.Wallet
	// applied counts the operations the fake worker applied.
	applied atomic.Int64
}

func newEnv(t *testing.T, lockWait time.Duration) *env {
	t.Helper()
	pool := pgtest.NewDB(t)
	store := postgres.NewStore(pool)
	rdb, prefix := pgtest.NewRedis(t)
	e := &env{pool: pool, store: store, rdb: rdb, prefix: prefix,
		locker: redislock.New(rdb, prefix, lockTTL), queue: newFakeQueue(), claims: &pgtest.Claims{}}
	e.bank, e.settlement = pgtest.CreateUser(t, store, wallet.RoleBank)
	e.svc = &ledger.Service{
		Store: store, Accounts: store, Locker: e.locker, Queue: e.queue, Claims: e.claims,
		Publisher: &pgtest.Publisher{}, Log: slog.New(slog.DiscardHandler), Currency: rub, LockWait: lockWait,
	}
	t.Cleanup(func() { pgtest.CheckLedger(t, pool) })
	return e
}

// startAcceptor starts the Service's acceptor, stopped when the test ends.
func (e *env) startAcceptor(t *testing.T, committers, max int) (stop func()) {
	t.Helper()
	stop = e.svc.StartAcceptor(committers, max)
	t.Cleanup(stop)
	return stop
}

// startWorker plays n workers: each applies the enqueued tasks with
// Service.Apply, which releases their locks.
func (e *env) startWorker(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case tk := <-e.queue.ch:
					if _, err := e.svc.Apply(ctx, tk.ids, tk.locks); err != nil {
						if ctx.Err() == nil {
							t.Errorf("worker: Apply(%v): %v", tk.ids, err)
						}
						continue
					}
					e.applied.Add(int64(len(tk.ids)))
				}
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// waitApplied waits until the fake worker applied every operation stored
// pending: a group's task is enqueued after its requests are answered,
// so what a returned Submit stored may not be enqueued yet.
func (e *env) waitApplied(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, tk := range e.queue.all() {
			n += len(tk.ids)
		}
		pending := pgtest.QueryInt64(t, e.pool, `SELECT count(*) FROM operations WHERE status = 'pending'`)
		if pending == 0 && e.applied.Load() >= int64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker applied %d of %d enqueued operations; %d stored operations are pending", e.applied.Load(), n, pending)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEnqueued waits until each of ops was enqueued (a group's task
// follows its answers) and returns the tasks.
func (e *env) waitEnqueued(t *testing.T, ops map[string]wallet.Operation) []task {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks := e.queue.all()
		seen := map[string]bool{}
		for _, tk := range tasks {
			for _, id := range tk.ids {
				seen[id] = true
			}
		}
		missing := 0
		for id := range ops {
			if !seen[id] {
				missing++
			}
		}
		if missing == 0 {
			return tasks
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted operations were never enqueued", missing, len(ops))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// user creates a user whose wallet holds balance.
func (e *env) user(t *testing.T, balance wallet.Amount) (wallet.User, wallet.Wallet) {
	t.Helper()
	u, w := pgtest.CreateUser(t, e.store, wallet.RoleUser)
	if balance > 0 {
		pgtest.Deposit(t, e.store, e.bank, e.settlement, w, balance)
	}
	return u, w
}

func (e *env) transfer(ctx context.Context, by wallet.User, to wallet.Wallet, amount wallet.Amount, key string) (ledger.Accepted, error) {
	req := ledger.Request{Caller: by, Type: wallet.OpTransfer, ToWalletID: to.ID, Amount: amount}
	if key != "" {
		req.IdempotencyKey, req.RequestHash = key, ledger.HashRequest(to.ID, fmt.Sprint(amount))
	}
	return e.svc.Submit(ctx, req)
}

func (e *env) opsFrom(t *testing.T, walletID string) int64 {
	t.Helper()
	return pgtest.QueryInt64(t, e.pool, `SELECT count(*) FROM operations WHERE from_wallet_id = $1`, walletID)
}

func (e *env) balance(t *testing.T, walletID string) wallet.Amount {
	t.Helper()
	w, err := e.store.WalletByID(context.Background(), walletID)
	if err != nil {
		t.Fatalf("WalletByID(%s): %v", walletID, err)
	}
	return w.Balance
}

// lockHeld reports whether a wallet's lock is in Redis.
func (e *env) lockHeld(t *testing.T, walletID string) bool {
	t.Helper()
	n, err := e.rdb.Exists(context.Background(), e.locker.Name(walletID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// checkTasks checks that every accepted operation (ops, by id) was
// enqueued exactly once and nothing else was, that no task carries a lock
// (the acceptor releases its own once a group is stored), and that the
// locks of the operations' wallets are free. It returns the tasks.
func (e *env) checkTasks(t *testing.T, ops map[string]wallet.Operation) []task {
	t.Helper()
	tasks := e.waitEnqueued(t, ops)
	times := map[string]int{}
	for i, tk := range tasks {
		if len(tk.ids) == 0 {
			t.Errorf("task %d has no operations", i)
		}
		for _, id := range tk.ids {
			times[id]++
			if _, ok := ops[id]; !ok {
				t.Errorf("task %d carries operation %s, which no Submit accepted", i, id)
			}
		}
		if len(tk.locks) != 0 {
			t.Errorf("task %d (%d operations) carries locks %v, want none", i, len(tk.ids), tk.locks)
		}
	}
	for id, op := range ops {
		if times[id] != 1 {
			t.Errorf("operation %s was enqueued %d times, want once", id, times[id])
		}
		for _, w := range []string{op.FromWalletID, op.ToWalletID} {
			if e.lockHeld(t, w) {
				t.Errorf("the lock of wallet %s is held after its operation %s was stored", w, id)
			}
		}
	}
	return tasks
}

// within runs fn and fails the test if it does not return in d: a hang
// there is a deadlock.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish in %v: deadlock?", what, d)
	}
}

// TestAcceptorConcurrentSubmits: many transfers between distinct wallets
// at once are all accepted, stored pending, and enqueued exactly once
// each, their wallets' locks free again once they are stored. How they
// are grouped depends on timing, so it is only logged.
func TestAcceptorConcurrentSubmits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	e.startAcceptor(t, 4, 64)
	const n = 40
	payers, from, to := make([]wallet.User, n), make([]wallet.Wallet, n), make([]wallet.Wallet, n)
	for i := range n {
		payers[i], from[i] = e.user(t, 1000)
		_, to[i] = e.user(t, 0)
	}
	ctx := context.Background()
	accepted := make([]ledger.Accepted, n)
	errs := make([]error, n)
	within(t, 30*time.Second, "the Submits", func() {
		pgtest.Together(n, func(i int) {
			key := ""
			if i%2 == 0 {
				key = fmt.Sprint("key-", i)
			}
			accepted[i], errs[i] = e.transfer(ctx, payers[i], to[i], wallet.Amount(100+i), key)
		})
	})
	ops := map[string]wallet.Operation{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Submit %d: %v", i, errs[i])
		}
		op := accepted[i].Op
		if op.ID == "" || op.Status != wallet.StatusPending || accepted[i].Replayed || accepted[i].StatusCode != 202 {
			t.Fatalf("Submit %d accepted %+v (replayed %v, status %d), want a new pending operation",
				i, op, accepted[i].Replayed, accepted[i].StatusCode)
		}
		if op.FromWalletID != from[i].ID || op.ToWalletID != to[i].ID || op.Amount != wallet.Amount(100+i) || op.CreatedBy != payers[i].ID {
			t.Fatalf("Submit %d accepted %+v, not what it asked for", i, op)
		}
		if _, dup := ops[op.ID]; dup {
			t.Fatalf("two Submits got operation %s", op.ID)
		}
		ops[op.ID] = op
		stored, err := e.store.Operation(ctx, op.ID, "")
		if err != nil || stored.Status != wallet.StatusPending || stored.Amount != op.Amount {
			t.Fatalf("operation %s stored as %+v (%v)", op.ID, stored, err)
		}
	}
	if got := pgtest.QueryInt64(t, e.pool, `SELECT count(*) FROM operations WHERE type = 'wallet_to_wallet'`); got != n {
		t.Fatalf("%d transfers stored, want %d", got, n)
	}
	tasks := e.checkTasks(t, ops)
	t.Logf("%d operations accepted in %d tasks", n, len(tasks))
	if e.claims.Held() != 0 {
		t.Errorf("%d idempotency claims left", e.claims.Held())
	}
	e.startWorker(t, 2)
	e.waitApplied(t)
	for id, op := range ops {
		stored, err := e.store.Operation(ctx, id, "")
		if err != nil || stored.Status != wallet.StatusCompleted {
			t.Fatalf("operation %s ended %s (%q), %v", id, stored.Status, stored.FailureCode, err)
		}
		if e.lockHeld(t, op.FromWalletID) || e.lockHeld(t, op.ToWalletID) {
			t.Fatalf("locks of operation %s still held after it was applied", id)
		}
	}
}

// TestAcceptorGroupsRequestsThatWaited: requests that wait for locks join
// the group that gets them. The payers' locks are held elsewhere until the
// acceptor tries all of them in one round, and are released just before
// that try, so the whole round gets them: one task for all.
func TestAcceptorGroupsRequestsThatWaited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20*time.Second)
	const n = 20
	payers, from, to := make([]wallet.User, n), make([]wallet.Wallet, n), make([]wallet.Wallet, n)
	payerIDs := make([]string, n)
	for i := range n {
		payers[i], from[i] = e.user(t, 1000)
		_, to[i] = e.user(t, 0)
		payerIDs[i] = from[i].ID
	}
	ctx := context.Background()
	other := redislock.New(e.rdb, e.prefix, lockTTL)
	held, err := other.TryAcquire(ctx, payerIDs)
	if err != nil || len(held) != n {
		t.Fatalf("taking the payers' locks: got %d, %v", len(held), err)
	}
	var released atomic.Bool
	e.svc.Locker = &hookLocker{Locker: e.locker, before: func(ids []string) {
		if released.Load() {
			return
		}
		for _, id := range payerIDs {
			if !slices.Contains(ids, id) {
				return
			}
		}
		other.Release(slices.Collect(maps.Values(held)))
		released.Store(true)
	}}
	e.startAcceptor(t, 4, 64)

	accepted := make([]ledger.Accepted, n)
	errs := make([]error, n)
	within(t, 40*time.Second, "the Submits", func() {
		pgtest.Together(n, func(i int) {
			accepted[i], errs[i] = e.transfer(ctx, payers[i], to[i], 100, "")
		})
	})
	ops := map[string]wallet.Operation{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Submit %d: %v", i, errs[i])
		}
		ops[accepted[i].Op.ID] = accepted[i].Op
	}
	if !released.Load() {
		t.Fatal("the acceptor never tried all the payers' locks in one round")
	}
	if tasks := e.checkTasks(t, ops); len(tasks) != 1 {
		t.Fatalf("%d requests that got their locks in one round were enqueued in %d tasks, want 1", n, len(tasks))
	}
	e.startWorker(t, 1)
	e.waitApplied(t)
}

// TestAcceptorHotPayer: many concurrent transfers from one wallet with
// funds for only some of them: exactly those are accepted, the rest are
// refused for funds, none waits out its lock while the worker applies
// the groups, and everything accepted completes.
func TestAcceptorHotPayer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	e.startAcceptor(t, 4, 16)
	e.startWorker(t, 2)
	const n, amount = 10, 100
	payer, from := e.user(t, n*amount)
	payees := make([]wallet.Wallet, 5)
	for i := range payees {
		_, payees[i] = e.user(t, 0)
	}
	ctx := context.Background()
	accepted := make([]ledger.Accepted, 3*n)
	errs := make([]error, 3*n)
	within(t, 30*time.Second, "the Submits", func() {
		pgtest.Together(3*n, func(i int) {
			key := ""
			if i%2 == 1 {
				key = fmt.Sprint("hot-", i)
			}
			accepted[i], errs[i] = e.transfer(ctx, payer, payees[i%len(payees)], amount, key)
		})
	})
	ops := map[string]wallet.Operation{}
	refused := 0
	for i, err := range errs {
		switch wallet.ErrorCode(err) {
		case "":
			ops[accepted[i].Op.ID] = accepted[i].Op
		case wallet.EInsufficientFunds:
			refused++
		default:
			t.Errorf("Submit %d: %v; want success or %s", i, err, wallet.EInsufficientFunds)
		}
	}
	if len(ops) != n || refused != 2*n {
		t.Fatalf("%d accepted and %d refused for funds, want %d and %d", len(ops), refused, n, 2*n)
	}
	if got := e.opsFrom(t, from.ID); got != n {
		t.Fatalf("%d operations stored from the payer, want %d", got, n)
	}
	tasks := e.checkTasks(t, ops)
	t.Logf("%d accepted in %d tasks", n, len(tasks))
	e.waitApplied(t)
	for id := range ops {
		if op, err := e.store.Operation(ctx, id, ""); err != nil || op.Status != wallet.StatusCompleted {
			t.Fatalf("accepted operation %s ended %s (%q), %v", id, op.Status, op.FailureCode, err)
		}
	}
	if b := e.balance(t, from.ID); b != 0 {
		t.Fatalf("payer's balance %d, want 0", b)
	}
	var received wallet.Amount
	for _, w := range payees {
		received += e.balance(t, w.ID)
		if e.lockHeld(t, w.ID) {
			t.Errorf("payee %s's lock still held", w.ID)
		}
	}
	if received != n*amount {
		t.Fatalf("payees received %d, want %d", received, n*amount)
	}
	if e.lockHeld(t, from.ID) {
		t.Error("payer's lock still held after everything was applied")
	}
	if e.claims.Held() != 0 {
		t.Errorf("%d idempotency claims left", e.claims.Held())
	}
	pgtest.CheckLedger(t, e.pool)
}

// TestAcceptorBusyWallet: a wallet whose lock is held elsewhere makes
// Submit give up with EWalletBusy after LOCK_WAIT, storing nothing and
// holding no lock; once the lock is released, Submit succeeds. Also
// without the acceptor, where each Submit is a group of one.
func TestAcceptorBusyWallet(t *testing.T) {
	t.Parallel()
	for _, acceptor := range []bool{true, false} {
		t.Run(fmt.Sprint("acceptor=", acceptor), func(t *testing.T) {
			t.Parallel()
			const lockWait = 200 * time.Millisecond
			e := newEnv(t, lockWait)
			if acceptor {
				e.startAcceptor(t, 2, 16)
			}
			payer, from := e.user(t, 1000)
			other, otherW := e.user(t, 1000)
			_, to := e.user(t, 0)
			ctx := context.Background()
			elsewhere := redislock.New(e.rdb, e.prefix, lockTTL)
			held, err := elsewhere.TryAcquire(ctx, []string{from.ID})
			if err != nil || len(held) != 1 {
				t.Fatalf("taking the payer's lock: %v, %v", held, err)
			}

			began := time.Now()
			_, err = e.transfer(ctx, payer, to, 100, "")
			if wallet.ErrorCode(err) != wallet.EWalletBusy {
				t.Fatalf("Submit from a locked wallet: %v, want %s", err, wallet.EWalletBusy)
			}
			t.Logf("busy after %v (LOCK_WAIT %v)", time.Since(began), lockWait)
			// With a key too, and as the payee.
			if _, err := e.transfer(ctx, payer, to, 100, "busy-key"); wallet.ErrorCode(err) != wallet.EWalletBusy {
				t.Fatalf("Submit with a key from a locked wallet: %v, want %s", err, wallet.EWalletBusy)
			}
			if _, err := e.transfer(ctx, other, from, 100, ""); wallet.ErrorCode(err) != wallet.EWalletBusy {
				t.Fatalf("Submit to a locked wallet: %v, want %s", err, wallet.EWalletBusy)
			}
			// A caller that leaves while waiting gets its context's error.
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_, err = e.svc.Submit(short, ledger.Request{Caller: payer, Type: wallet.OpTransfer, ToWalletID: to.ID, Amount: 100})
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Submit whose caller left while it waited: %v, want %v", err, context.DeadlineExceeded)
			}
			if n := e.opsFrom(t, from.ID) + e.opsFrom(t, otherW.ID); n != 0 {
				t.Fatalf("refused Submits stored %d operations", n)
			}
			if len(e.queue.all()) != 0 {
				t.Fatalf("refused Submits enqueued %v", e.queue.all())
			}
			if e.lockHeld(t, to.ID) || e.lockHeld(t, otherW.ID) {
				t.Fatal("a refused Submit left the other wallet's lock held")
			}
			if e.claims.Held() != 0 {
				t.Fatalf("%d idempotency claims left", e.claims.Held())
			}
			if v, err := e.rdb.Get(ctx, held[from.ID].Name).Result(); err != nil || v != held[from.ID].Value {
				t.Fatalf("the lock held elsewhere changed hands: %q, %v", v, err)
			}

			elsewhere.Release(slices.Collect(maps.Values(held)))
			acc, err := e.transfer(ctx, payer, to, 100, "busy-key")
			if err != nil || acc.Op.Status != wallet.StatusPending || acc.Replayed {
				t.Fatalf("Submit after the release: %+v, %v", acc, err)
			}
			e.checkTasks(t, map[string]wallet.Operation{acc.Op.ID: acc.Op})
			if n := e.opsFrom(t, from.ID); n != 1 {
				t.Fatalf("%d operations from the payer, want 1", n)
			}
			e.startWorker(t, 1)
			e.waitApplied(t)
			if e.lockHeld(t, from.ID) || e.lockHeld(t, to.ID) {
				t.Fatal("locks still held after the transfer was applied")
			}
		})
	}
}

// TestAcceptorWaitingDoesNotBlockOthers: while one request waits for a
// lock, others are accepted; the waiting one is accepted once the lock is
// released.
func TestAcceptorWaitingDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20*time.Second)
	e.startAcceptor(t, 2, 16)
	payer, from := e.user(t, 1000)
	_, to := e.user(t, 0)
	ctx := context.Background()
	elsewhere := redislock.New(e.rdb, e.prefix, lockTTL)
	held, err := elsewhere.TryAcquire(ctx, []string{from.ID})
	if err != nil || len(held) != 1 {
		t.Fatalf("taking the payer's lock: %v, %v", held, err)
	}

	type result struct {
		acc ledger.Accepted
		err error
	}
	waiting := make(chan result, 1)
	go func() {
		acc, err := e.transfer(ctx, payer, to, 100, "")
		waiting <- result{acc, err}
	}()
	ops := map[string]wallet.Operation{}
	for i := range 5 {
		u, _ := e.user(t, 1000)
		_, w := e.user(t, 0)
		acc, err := e.transfer(ctx, u, w, 100, "")
		if err != nil {
			t.Fatalf("unrelated Submit %d: %v", i, err)
		}
		ops[acc.Op.ID] = acc.Op
	}
	select {
	case r := <-waiting:
		t.Fatalf("the Submit from the locked wallet returned while its lock was held: %+v, %v", r.acc, r.err)
	default:
	}
	elsewhere.Release(slices.Collect(maps.Values(held)))
	var r result
	within(t, 10*time.Second, "the waiting Submit", func() { r = <-waiting })
	if r.err != nil || r.acc.Op.Status != wallet.StatusPending {
		t.Fatalf("the waiting Submit after the release: %+v, %v", r.acc, r.err)
	}
	ops[r.acc.Op.ID] = r.acc.Op
	e.checkTasks(t, ops)
}

// TestAcceptorOppositeTransfers: transfers both ways between two wallets,
// all at once, all finish (no deadlock), none waits out its lock, and
// everything accepted completes.
func TestAcceptorOppositeTransfers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	e.startAcceptor(t, 4, 16)
	e.startWorker(t, 2)
	const start = 3000
	aliceUser, alice := e.user(t, start)
	bobUser, bob := e.user(t, start)
	const n = 60
	amountOf := func(i int) wallet.Amount { return wallet.Amount(i%7+1) * 100 }
	ctx := context.Background()
	accepted := make([]ledger.Accepted, n)
	errs := make([]error, n)
	within(t, 30*time.Second, "the opposite transfers", func() {
		pgtest.Together(n, func(i int) {
			if i%2 == 0 {
				accepted[i], errs[i] = e.transfer(ctx, aliceUser, bob, amountOf(i), "")
			} else {
				accepted[i], errs[i] = e.transfer(ctx, bobUser, alice, amountOf(i), "")
			}
		})
	})
	ops := map[string]wallet.Operation{}
	refused := 0
	for i, err := range errs {
		switch wallet.ErrorCode(err) {
		case "":
			ops[accepted[i].Op.ID] = accepted[i].Op
		case wallet.EInsufficientFunds:
			refused++
		default:
			t.Errorf("transfer %d: %v; want success or %s", i, err, wallet.EInsufficientFunds)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	tasks := e.checkTasks(t, ops)
	t.Logf("%d accepted in %d tasks, %d refused for funds", len(ops), len(tasks), refused)
	e.waitApplied(t)
	aliceWant, bobWant := wallet.Amount(start), wallet.Amount(start)
	for id := range ops {
		op, err := e.store.Operation(ctx, id, "")
		if err != nil || op.Status != wallet.StatusCompleted {
			t.Fatalf("accepted operation %s ended %s (%q), %v", id, op.Status, op.FailureCode, err)
		}
		if op.FromWalletID == alice.ID {
			aliceWant, bobWant = aliceWant-op.Amount, bobWant+op.Amount
		} else {
			aliceWant, bobWant = aliceWant+op.Amount, bobWant-op.Amount
		}
	}
	if a, b := e.balance(t, alice.ID), e.balance(t, bob.ID); a != aliceWant || b != bobWant {
		t.Fatalf("balances %d and %d, the accepted transfers make %d and %d", a, b, aliceWant, bobWant)
	}
	if e.lockHeld(t, alice.ID) || e.lockHeld(t, bob.ID) {
		t.Fatal("locks still held after everything was applied")
	}
	pgtest.CheckLedger(t, e.pool)
}

// gatedStore holds CreateOperations until the test opens its gate.
type gatedStore struct {
	*postgres.Store
	entered chan struct{}
	gate    chan struct{}
}

func (s *gatedStore) CreateOperations(ctx context.Context, batch []wallet.NewOperation) ([]wallet.Stored, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.gate
	return s.Store.CreateOperations(ctx, batch)
}

// TestAcceptorStopWaitsForGroups: stop returns only once the group being
// stored is stored and enqueued, and its request answered.
func TestAcceptorStopWaitsForGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	gated := &gatedStore{Store: e.store, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	e.svc.Store = gated
	stop := e.startAcceptor(t, 2, 16)
	// Registered after the acceptor's stop, so it runs before it.
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(gated.gate)
		}
	})
	payer, from := e.user(t, 1000)
	_, to := e.user(t, 0)

	type result struct {
		acc ledger.Accepted
		err error
	}
	submitted := make(chan result, 1)
	go func() {
		acc, err := e.transfer(context.Background(), payer, to, 100, "")
		submitted <- result{acc, err}
	}()
	select {
	case <-gated.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the group never reached CreateOperations")
	}
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("stop returned while a group was being stored")
	case <-time.After(200 * time.Millisecond):
	}
	close(gated.gate)
	opened = true
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return after the group was stored")
	}
	// Right when stop returns, the group is stored, enqueued and answered.
	if n := e.opsFrom(t, from.ID); n != 1 {
		t.Fatalf("%d operations stored when stop returned, want 1", n)
	}
	tasks := e.queue.all()
	if len(tasks) != 1 || len(tasks[0].ids) != 1 {
		t.Fatalf("enqueued %v when stop returned, want one task", tasks)
	}
	select {
	case r := <-submitted:
		if r.err != nil || r.acc.Op.ID != tasks[0].ids[0] || r.acc.Op.Status != wallet.StatusPending {
			t.Fatalf("Submit: %+v, %v", r.acc, r.err)
		}
		e.checkTasks(t, map[string]wallet.Operation{r.acc.Op.ID: r.acc.Op})
	case <-time.After(10 * time.Second):
		t.Fatal("the Submit of the stored group was not answered")
	}
	stop() // again: a no-op
}

// TestAcceptorStopAnswersWaiting: a request waiting for a lock when the
// acceptor stops is answered with an error, and nothing is stored. The
// error is meant to be EWalletBusy ("shutting down"), but when stop lands
// while the loop is inside a lock round, TryAcquire runs on the cancelled
// context and the request gets Redis's "context canceled" (an internal
// error) instead, so only an error is asserted here.
func TestAcceptorStopAnswersWaiting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20*time.Second)
	payer, from := e.user(t, 1000)
	_, to := e.user(t, 0)
	ctx := context.Background()
	elsewhere := redislock.New(e.rdb, e.prefix, lockTTL)
	held, err := elsewhere.TryAcquire(ctx, []string{from.ID})
	if err != nil || len(held) != 1 {
		t.Fatalf("taking the payer's lock: %v, %v", held, err)
	}
	t.Cleanup(func() { elsewhere.Release(slices.Collect(maps.Values(held))) })
	// The request waits in the acceptor once it tried its locks.
	tried := make(chan struct{}, 1)
	e.svc.Locker = &hookLocker{Locker: e.locker, after: func(ids []string) {
		if slices.Contains(ids, from.ID) {
			select {
			case tried <- struct{}{}:
			default:
			}
		}
	}}
	stop := e.startAcceptor(t, 2, 16)
	submitted := make(chan error, 1)
	go func() {
		_, err := e.transfer(ctx, payer, to, 100, "")
		submitted <- err
	}()
	select {
	case <-tried:
	case <-time.After(10 * time.Second):
		t.Fatal("the acceptor never tried the payer's lock")
	}
	within(t, 10*time.Second, "stop", stop)
	select {
	case err := <-submitted:
		// Retryable (503, another API process can take it), and never
		// a wallet_busy: no wallet is to blame (issue 8).
		if code := wallet.ErrorCode(err); code != wallet.EUnavailable {
			t.Fatalf("the waiting Submit got %v, want %s", err, wallet.EUnavailable)
		}
		// A Submit after the stop is answered at once, the same way.
		if _, err := e.transfer(ctx, payer, to, 100, ""); wallet.ErrorCode(err) != wallet.EUnavailable {
			t.Fatalf("a Submit after the stop got %v, want %s", err, wallet.EUnavailable)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting Submit was not answered when the acceptor stopped")
	}
	if n := e.opsFrom(t, from.ID); n != 0 {
		t.Fatalf("%d operations stored", n)
	}
	if e.lockHeld(t, to.ID) {
		t.Fatal("the payee's lock was left held")
	}
}

// A used key is not looked up before the insert, so its replays take the
// accept path; whatever that path would refuse, a replay is answered as
// one (API.md: the same key and body return the same operation; another
// body is idempotency_key_reused).
func TestReplayIsNeverRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	e.startAcceptor(t, 1, 16)
	e.startWorker(t, 1)
	payer, _ := e.user(t, 1000)
	_, to := e.user(t, 0)
	ctx := context.Background()

	first, err := e.transfer(ctx, payer, to, 1000, "all-of-it")
	if err != nil {
		t.Fatalf("first transfer: %v", err)
	}
	e.waitApplied(t)

	// The funds are gone now: the same request is replayed, not refused.
	again, err := e.transfer(ctx, payer, to, 1000, "all-of-it")
	if err != nil {
		t.Fatalf("replay after the funds were spent: %v, want the first operation", err)
	}
	if !again.Replayed || again.Op.ID != first.Op.ID {
		t.Fatalf("replay = %s (replayed %v), want %s replayed", again.Op.ID, again.Replayed, first.Op.ID)
	}
	// Another body with the key: reused, whether the insert or a refusal
	// (funds, an unknown wallet) meets it first.
	if _, err := e.transfer(ctx, payer, to, 1, "all-of-it"); wallet.ErrorCode(err) != wallet.EIdempotencyKeyReused {
		t.Fatalf("same key, smaller amount: %v, want %s", err, wallet.EIdempotencyKeyReused)
	}
	_, err = e.svc.Submit(ctx, ledger.Request{Caller: payer, Type: wallet.OpTransfer, ToWalletID: "00000000-0000-7000-8000-000000000000",
		Amount: 1, IdempotencyKey: "all-of-it", RequestHash: ledger.HashRequest("elsewhere")})
	if wallet.ErrorCode(err) != wallet.EIdempotencyKeyReused {
		t.Fatalf("same key, unknown wallet: %v, want %s", err, wallet.EIdempotencyKeyReused)
	}
	if n := e.opsFrom(t, first.Op.FromWalletID); n != 1 {
		t.Fatalf("%d operations from the payer, want 1", n)
	}
}

// TestAcceptorGroupsWhatArrivesDuringAStore: with one committer, the
// requests that arrive while a group is being stored take their locks
// at once and form one group after it, however they trickle in. (When
// each round that got its locks waited for the committer alone, the
// first of them went alone and the rest took their locks only later.)
func TestAcceptorGroupsWhatArrivesDuringAStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20*time.Second)
	gated := &gatedStore{Store: e.store, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	e.svc.Store = gated
	e.startAcceptor(t, 1, 64)
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(gated.gate)
		}
	})
	const n = 8
	payers, from, to := make([]wallet.User, n+1), make([]wallet.Wallet, n+1), make([]wallet.Wallet, n+1)
	for i := range n + 1 {
		payers[i], from[i] = e.user(t, 1000)
		_, to[i] = e.user(t, 0)
	}
	ctx := context.Background()
	accepted := make([]ledger.Accepted, n+1)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	submit := func(i int) {
		wg.Go(func() { accepted[i], errs[i] = e.transfer(ctx, payers[i], to[i], 100, fmt.Sprintf("key-%d", i)) })
	}
	// until waits for cond, which the acceptor reaches by itself.
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	submit(0)
	select {
	case <-gated.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first group never reached CreateOperations")
	}
	// One request comes alone, the others after it; each gets its locks
	// while the first group is still being stored.
	submit(1)
	until("the second request's locks are taken", func() bool { return e.lockHeld(t, from[1].ID) })
	for i := 2; i <= n; i++ {
		submit(i)
	}
	until("every request's locks are taken", func() bool {
		for i := 1; i <= n; i++ {
			if !e.lockHeld(t, from[i].ID) {
				return false
			}
		}
		return true
	})
	close(gated.gate)
	opened = true
	within(t, 20*time.Second, "the Submits", wg.Wait)
	ops := map[string]wallet.Operation{}
	for i := range n + 1 {
		if errs[i] != nil {
			t.Fatalf("Submit %d: %v", i, errs[i])
		}
		ops[accepted[i].Op.ID] = accepted[i].Op
	}
	tasks := e.checkTasks(t, ops)
	if len(tasks) != 2 || len(tasks[0].ids) != 1 || len(tasks[1].ids) != n {
		sizes := make([]int, len(tasks))
		for i, tk := range tasks {
			sizes[i] = len(tk.ids)
		}
		t.Fatalf("groups of %v, want [1 %d]: the requests that came during the first store, one group", sizes, n)
	}
	e.startWorker(t, 1)
	e.waitApplied(t)
}

// stageObserver counts the requests each accept stage reports.
type stageObserver struct {
	mu     sync.Mutex
	stages map[string]int
	bad    []string
}

func (o *stageObserver) LockWait(time.Duration, bool)    {}
func (o *stageObserver) OperationFinal(wallet.Operation) {}
func (o *stageObserver) Batch(string, int)               {}
func (o *stageObserver) CleanupFailed(string, int)       {}
func (o *stageObserver) AcceptStage(stage string, d time.Duration, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 || d > time.Minute || n < 1 {
		o.bad = append(o.bad, fmt.Sprintf("%s: %v for %d", stage, d, n))
	}
	o.stages[stage] += n
}

// TestAcceptStages: every accepted request is counted once in each stage
// of the accept path, whether it went alone or in a group, and once in
// the enqueue that follows its answer.
func TestAcceptStages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	obs := &stageObserver{stages: map[string]int{}}
	e.svc.Observer = obs
	stop := e.startAcceptor(t, 1, 64)
	const n = 12
	from, to := make([]wallet.User, n), make([]wallet.Wallet, n)
	for i := range n {
		from[i], _ = e.user(t, 1000)
		_, to[i] = e.user(t, 0)
	}
	within(t, 30*time.Second, "the Submits", func() {
		pgtest.Together(n, func(i int) {
			if _, err := e.transfer(context.Background(), from[i], to[i], 100, ""); err != nil {
				t.Errorf("transfer %d: %v", i, err)
			}
		})
	})
	// The enqueue comes after the answers; stopping waits for it.
	stop()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	stages := []string{ledger.StageLocks, ledger.StageCommitter, ledger.StageFunds, ledger.StageInsert, ledger.StageRedis, ledger.StageEnqueue}
	for _, stage := range stages {
		if obs.stages[stage] != n {
			t.Errorf("stage %s counted %d requests, want %d", stage, obs.stages[stage], n)
		}
	}
	if len(obs.stages) != len(stages) || len(obs.bad) > 0 {
		t.Errorf("stages %v, implausible observations %v", obs.stages, obs.bad)
	}
}

// stalledQueue holds every EnqueueApply until the test opens its gate.
type stalledQueue struct {
	*fakeQueue
	gate chan struct{}
}

func (q *stalledQueue) EnqueueApply(ctx context.Context, taskID string, opIDs []string, locks []wallet.Lock) error {
	<-q.gate
	return q.fakeQueue.EnqueueApply(ctx, taskID, opIDs, locks)
}

// TestAnswerDoesNotWaitForTheEnqueue: a request is answered once its
// operation is stored pending and its locks are free, whatever the queue
// does; the task follows (or the sweeper enqueues it).
func TestAnswerDoesNotWaitForTheEnqueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	q := &stalledQueue{fakeQueue: e.queue, gate: make(chan struct{})}
	e.svc.Queue = q
	e.startAcceptor(t, 1, 16)
	payer, from := e.user(t, 1000)
	_, to := e.user(t, 0)
	var acc ledger.Accepted
	within(t, 10*time.Second, "a Submit while the queue stalls", func() {
		var err error
		if acc, err = e.transfer(context.Background(), payer, to, 100, ""); err != nil {
			t.Errorf("transfer: %v", err)
		}
	})
	if acc.Op.Status != wallet.StatusPending || e.opsFrom(t, from.ID) != 1 {
		t.Fatalf("answered %+v with %d operations stored; want one, pending", acc.Op, e.opsFrom(t, from.ID))
	}
	if e.lockHeld(t, from.ID) || e.lockHeld(t, to.ID) {
		t.Fatal("a wallet lock is held after the answer")
	}
	if n := len(e.queue.all()); n != 0 {
		t.Fatalf("%d tasks enqueued through a stalled queue", n)
	}
	close(q.gate)
	e.checkTasks(t, map[string]wallet.Operation{acc.Op.ID: acc.Op})
}
