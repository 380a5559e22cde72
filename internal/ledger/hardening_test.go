package ledger_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/redislock"
	"github.com/walletd/wallet/internal/wallet"
)

// A hung Postgres (every byte black-holed, connections left open) must
// not stall the acceptor: a request is answered 503 unavailable once the
// store step's deadline passes, and the acceptor takes requests again
// when the database answers again.
func TestAcceptStalledDatabaseAnswersUnavailable(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDBURL(t)
	direct := postgres.NewStore(pgtest.OpenPool(t, dbURL))
	proxy := pgtest.NewProxy(t, pgtest.URLTarget(dbURL))
	store := postgres.NewStore(pgtest.OpenPool(t, proxy.ProxyURL(dbURL)))
	rdb, prefix := pgtest.NewRedis(t)
	bank, settlement := pgtest.CreateUser(t, direct, wallet.RoleBank)
	payer, from := pgtest.CreateUser(t, direct, wallet.RoleUser)
	_, to := pgtest.CreateUser(t, direct, wallet.RoleUser)
	pgtest.Deposit(t, direct, bank, settlement, from, 10000)

	queue := newFakeQueue()
	svc := &ledger.Service{
		Store: store, Accounts: store, Locker: redislock.New(rdb, prefix, lockTTL), Queue: queue,
		Claims: &pgtest.Claims{}, Publisher: &pgtest.Publisher{}, Log: slog.New(slog.DiscardHandler),
		Currency: rub, LockWait: time.Second, AcceptTimeout: 300 * time.Millisecond,
	}
	stop := svc.StartAcceptor(1, 16)
	t.Cleanup(stop)
	transfer := func(key string) (ledger.Accepted, error) {
		return svc.Submit(context.Background(), ledger.Request{Caller: payer, Type: wallet.OpTransfer,
			ToWalletID: to.ID, Amount: 100, IdempotencyKey: key, RequestHash: ledger.HashRequest(key)})
	}
	// Warm the wallet identities while the database answers, so the
	// stall hits the accept itself.
	if _, err := transfer("warm"); err != nil {
		t.Fatalf("transfer before the stall: %v", err)
	}

	proxy.Stall()
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := transfer("stalled-" + string(rune('a'+i)))
			errs <- err
		}()
	}
	for range n {
		select {
		case err := <-errs:
			if code := wallet.ErrorCode(err); code != wallet.EUnavailable {
				t.Errorf("a transfer against a stalled database got %v, want %s", err, wallet.EUnavailable)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a transfer against a stalled database was never answered: the accept has no deadline")
		}
	}

	proxy.Resume()
	var acc ledger.Accepted
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if acc, err = transfer("after"); wallet.ErrorCode(err) != wallet.EUnavailable {
			break
		}
	}
	if err != nil || acc.Op.ID == "" {
		t.Fatalf("transfer after the database answers again: %+v, %v", acc, err)
	}
	pgtest.CheckLedger(t, direct.Pool())
}

// A request that waits for its result (Prefer: wait) has not answered
// while it waits: a replay meanwhile is request_in_progress, not a 202
// that the first answer (200) would contradict; once Answered records
// the status, replays carry it.
func TestReplayWhileFirstRequestWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	e.startAcceptor(t, 1, 16)
	payer, _ := e.user(t, 10000)
	_, to := e.user(t, 0)
	req := ledger.Request{Caller: payer, Type: wallet.OpTransfer, ToWalletID: to.ID, Amount: 250,
		IdempotencyKey: "wait-1", RequestHash: ledger.HashRequest("a"), Wait: 5 * time.Second}
	ctx := context.Background()

	first, err := e.svc.Submit(ctx, req)
	if err != nil || first.Replayed {
		t.Fatalf("first Submit: %+v, %v", first, err)
	}
	// The first request is "waiting" now: its key is stored, unanswered.
	replayReq := req
	replayReq.Wait = 0
	if _, err := e.svc.Submit(ctx, replayReq); wallet.ErrorCode(err) != wallet.ERequestInProgress {
		t.Fatalf("replay while the first request waits: %v, want %s", err, wallet.ERequestInProgress)
	}
	if err := e.svc.Answered(ctx, req, 200); err != nil {
		t.Fatalf("Answered: %v", err)
	}
	again, err := e.svc.Submit(ctx, replayReq)
	if err != nil || !again.Replayed || again.StatusCode != 200 || again.Op.ID != first.Op.ID {
		t.Fatalf("replay after the first answered 200: %+v, %v; want a replay of %s with 200", again, err, first.Op.ID)
	}
	// A second Answered cannot change what was recorded.
	if err := e.svc.Answered(ctx, req, 202); err != nil {
		t.Fatalf("second Answered: %v", err)
	}
	if again, err = e.svc.Submit(ctx, replayReq); err != nil || again.StatusCode != 200 {
		t.Fatalf("replay after a second Answered: %+v, %v; want 200", again, err)
	}
	if e.claims.Held() != 0 {
		t.Errorf("%d idempotency claims left", e.claims.Held())
	}
}

// A first request that died while it waited (its claim lapsed, nothing
// recorded) is settled by the next replay: 202 while the operation is
// pending, and every later replay agrees.
func TestReplaySettlesAnUnansweredKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	e.startAcceptor(t, 1, 16)
	payer, _ := e.user(t, 10000)
	_, to := e.user(t, 0)
	req := ledger.Request{Caller: payer, Type: wallet.OpTransfer, ToWalletID: to.ID, Amount: 250,
		IdempotencyKey: "dies-1", RequestHash: ledger.HashRequest("a"), Wait: 5 * time.Second}
	ctx := context.Background()
	first, err := e.svc.Submit(ctx, req)
	if err != nil {
		t.Fatalf("first Submit: %v", err)
	}
	e.claims.Unclaim(payer.ID + ":" + req.IdempotencyKey) // the claim lapsed with its process
	replayReq := req
	replayReq.Wait = 0
	for range 2 {
		r, err := e.svc.Submit(ctx, replayReq)
		if err != nil || !r.Replayed || r.StatusCode != 202 || r.Op.ID != first.Op.ID {
			t.Fatalf("replay of an unanswered key: %+v, %v; want a replay of %s with 202", r, err, first.Op.ID)
		}
	}
	// The dead request's Answered, had it come late, changes nothing.
	if err := e.svc.Answered(ctx, req, 200); err != nil {
		t.Fatalf("late Answered: %v", err)
	}
	if r, err := e.svc.Submit(ctx, replayReq); err != nil || r.StatusCode != 202 {
		t.Fatalf("replay after a late Answered: %+v, %v; want 202", r, err)
	}
}

// recordingQueue answers Requeue as told and records each call.
type recordingQueue struct {
	*fakeQueue
	mu     sync.Mutex
	calls  []requeueCall
	answer func(taskID string, ids []string) wallet.Requeued
}

type requeueCall struct {
	task string
	ids  []string
}

func (q *recordingQueue) Requeue(_ context.Context, taskID string, ids []string) (wallet.Requeued, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, requeueCall{task: taskID, ids: slices.Clone(ids)})
	if q.answer == nil {
		return wallet.Requeued{Enqueued: true}, nil
	}
	return q.answer(taskID, ids), nil
}

// The sweeper re-enqueues by task: a group accepted together is one call
// under the group's task id with all of its pending operations, never one
// task per operation beside the group's (issue 8); a task stuck active is
// applied whole, and its locks are released.
func TestSweepByTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	payer, from := e.user(t, 10000)
	_, to := e.user(t, 0)
	ctx := context.Background()
	op := func(amount wallet.Amount) wallet.NewOperation {
		return wallet.NewOperation{Op: wallet.Operation{Type: wallet.OpTransfer, Amount: amount, Currency: rub.Code,
			FromWalletID: from.ID, ToWalletID: to.ID, CreatedBy: payer.ID}}
	}
	group, err := e.store.CreateOperations(ctx, []wallet.NewOperation{op(100), op(200), op(300)})
	if err != nil {
		t.Fatalf("CreateOperations: %v", err)
	}
	lone, err := e.store.CreateOperations(ctx, []wallet.NewOperation{op(50)})
	if err != nil {
		t.Fatalf("CreateOperations: %v", err)
	}
	groupIDs := []string{group[0].Op.ID, group[1].Op.ID, group[2].Op.ID}
	for _, o := range group {
		if o.Op.TaskID != groupIDs[0] {
			t.Fatalf("operation %s of a group has task %s, want the group's %s", o.Op.ID, o.Op.TaskID, groupIDs[0])
		}
	}
	q := &recordingQueue{fakeQueue: e.queue}
	e.svc.Queue = q
	e.svc.Now = func() time.Time { return time.Now().Add(time.Minute) }

	n, err := e.svc.Sweep(ctx, 5*time.Second)
	if err != nil || n != 4 {
		t.Fatalf("Sweep = %d, %v; want 4 operations re-enqueued", n, err)
	}
	want := []requeueCall{{task: group[0].Op.ID, ids: groupIDs}, {task: lone[0].Op.ID, ids: []string{lone[0].Op.ID}}}
	if len(q.calls) != len(want) {
		t.Fatalf("Sweep made Requeue calls %+v, want %+v", q.calls, want)
	}
	for i := range want {
		if q.calls[i].task != want[i].task || !slices.Equal(q.calls[i].ids, want[i].ids) {
			t.Errorf("Requeue call %d = %+v, want %+v", i, q.calls[i], want[i])
		}
	}

	// The group's task sits active with a dead worker: the sweeper
	// applies the whole group and releases the locks it carries.
	held, err := e.locker.TryAcquire(ctx, []string{from.ID, to.ID})
	if err != nil || len(held) != 2 {
		t.Fatalf("TryAcquire: %v, %v", held, err)
	}
	q.calls = nil
	q.answer = func(taskID string, _ []string) wallet.Requeued {
		if taskID == group[0].Op.ID {
			return wallet.Requeued{Active: true, OperationIDs: groupIDs, Locks: []wallet.Lock{held[from.ID], held[to.ID]}}
		}
		return wallet.Requeued{} // queued: a worker will take it
	}
	if n, err := e.svc.Sweep(ctx, 5*time.Second); err != nil || n != 3 {
		t.Fatalf("Sweep of an active group = %d, %v; want its 3 operations applied", n, err)
	}
	for _, id := range groupIDs {
		got, err := e.store.Operation(ctx, id, "")
		if err != nil || got.Status != wallet.StatusCompleted {
			t.Errorf("operation %s after the sweep: %s, %v; want completed", id, got.Status, err)
		}
	}
	if e.lockHeld(t, from.ID) || e.lockHeld(t, to.ID) {
		t.Error("the active task's locks are still held after the sweeper applied it")
	}
	if got, _ := e.store.Operation(ctx, lone[0].Op.ID, ""); got.Status != wallet.StatusPending {
		t.Errorf("the queued lone operation is %s, want it left pending for its worker", got.Status)
	}
}

// cleanupObserver counts what ledger.Observer.CleanupFailed reports.
type cleanupObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *cleanupObserver) LockWait(time.Duration, bool)           {}
func (o *cleanupObserver) OperationFinal(wallet.Operation)        {}
func (o *cleanupObserver) Batch(string, int)                      {}
func (o *cleanupObserver) AcceptStage(string, time.Duration, int) {}
func (o *cleanupObserver) CleanupFailed(kind string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[kind] += n
}

func (o *cleanupObserver) count(kind string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[kind]
}

// An idempotency claim that Redis fails to end is counted, never
// swallowed: its key answers request_in_progress until the claim lapses.
func TestFailedUnclaimIsCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2*time.Second)
	obs := &cleanupObserver{}
	e.svc.Observer = obs
	e.claims.Fail = errors.New("redis is down")
	e.startAcceptor(t, 1, 16)
	payer, _ := e.user(t, 10000)
	_, to := e.user(t, 0)
	if _, err := e.transfer(context.Background(), payer, to, 100, "k-1"); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if got := obs.count("unclaim"); got != 1 {
		t.Errorf("unclaim failures counted: %d, want 1", got)
	}
}
