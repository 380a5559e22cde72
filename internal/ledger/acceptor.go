package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// An operation is accepted in groups: the API collects the requests that
// arrive while it works, takes the wallet locks they need together,
// checks their balances with one query, stores them with one insert (one
// commit), releases the locks and enqueues one task for the group, whose
// worker commits it (with whatever other tasks have queued up) in one
// transaction. A lock covers the accept's decision, the funds check and
// the insert, and nothing after it: what is stored is pending, and every
// later accept counts it. Requests for a wallet whose lock is held wait in
// the acceptor and join the next group that gets it, which is what keeps
// one hot wallet fast: its requests share each lock cycle instead of
// taking turns.

// pendingAccept is one request waiting to be accepted.
type pendingAccept struct {
	ctx context.Context
	op  wallet.Operation
	key *wallet.IdempotencyKey
	// claim is the key's idempotency claim; the group ends the claims of
	// its requests together once they are stored, except those of
	// requests that wait for their result (key Unanswered), which end
	// when they answer.
	claim string
	// wallets are the user wallets to lock; debit is set when op's
	// source must have the funds available.
	wallets []string
	debit   bool
	// hold and withdrawal name what the operation acts on, whose state
	// is checked under the locks (admit.go); newHold and newWithdrawal
	// are what it creates.
	hold, withdrawal string
	newHold          *wallet.NewHold
	newWithdrawal    *wallet.Withdrawal
	// asRecipient says the caller acts on the hold as its recipient,
	// whose wallet is op.ToWalletID: the group checks that against the
	// hold and fills in the payer.
	asRecipient bool
	start       time.Time
	deadline    time.Time
	// arrived and locked are when the request reached the acceptor and
	// when its locks were held, on the real clock, for the accept stage
	// metrics.
	arrived, locked time.Time
	// busy is a wallet whose lock was taken at the last try.
	busy string
	// tried is set once the locks were tried: a request always gets one
	// try, however short its wait.
	tried bool
	done  chan acceptResult
}

// acceptResult answers a pendingAccept. op.ID is empty when the request's
// idempotency key was used before (the caller replays it); available is
// set with EInsufficientFunds; unclaimed says the claim was ended.
type acceptResult struct {
	op        wallet.Operation
	available wallet.Amount
	unclaimed bool
	err       error
}

// acceptor is the API process's accepting loop (see StartAcceptor).
type acceptor struct {
	reqs chan *pendingAccept
	// quit is closed when the acceptor stops; requests sent after that
	// are answered at once.
	quit chan struct{}
	max  int
	// sem bounds the groups being stored at once.
	sem chan struct{}
	wg  sync.WaitGroup
	// hot holds the wallets whose lock was taken at the last round, so
	// the next round tries those first and skips the rest of what is
	// blocked.
	hot map[string]bool
	// freed receives the wallets of stored groups' released locks
	// (acceptor_freed.go).
	freed chan []string
}

// errShuttingDown answers requests that reach an acceptor that stopped:
// nothing of them was stored, and another API process can take them.
var errShuttingDown = wallet.Errorf(wallet.EUnavailable, "the service is shutting down; retry shortly")

// unavailable is the answer when Postgres or Redis did not answer in
// time. After a timed-out insert the outcome is unknown (the commit may
// have happened), which a retry with the same Idempotency-Key settles.
func unavailable(what string, err error) error {
	if code := wallet.ErrorCode(err); code != "" && code != wallet.EInternal {
		return err // already says what happened
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %w", wallet.Errorf(wallet.EUnavailable,
			"%s did not answer in time; retry with the same Idempotency-Key", what), err)
	}
	return err
}

// retryDelay is the acceptor's short jittered wait before it tries the
// locks it did not get again: redsync's default (50-250 ms) would starve
// a hot wallet's waiters.
func (s *Service) retryDelay() time.Duration {
	if s.lockRetry > 0 {
		return s.lockRetry
	}
	return time.Duration(500+rand.IntN(1500)) * time.Microsecond
}

// StartAcceptor makes Submit accept through one loop that groups requests,
// at most max to a group, with at most committers groups being stored at
// once. Call it before the first Submit; without it each Submit is a
// group of one. The returned stop ends the loop once in-flight groups are
// stored; call it after the HTTP server stopped taking requests.
func (s *Service) StartAcceptor(committers, max int) (stop func()) {
	a := &acceptor{
		reqs:  make(chan *pendingAccept, max),
		quit:  make(chan struct{}),
		max:   max,
		sem:   make(chan struct{}, committers),
		hot:   map[string]bool{},
		freed: make(chan []string, freedBuffer),
	}
	s.acceptor = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.acceptLoop(ctx, a)
		close(a.quit)
		// A request sent while the loop was ending is answered too.
		go func() {
			for p := range a.reqs {
				p.done <- acceptResult{err: errShuttingDown}
			}
		}()
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			a.wg.Wait()
		})
	}
}

// accept hands p to the acceptor and waits for its answer, which always
// comes: by LOCK_WAIT at the latest for the locks, then after the store.
func (s *Service) accept(p *pendingAccept) acceptResult {
	if a := s.acceptor; a != nil {
		select {
		case a.reqs <- p:
			return <-p.done
		case <-a.quit:
			return acceptResult{err: errShuttingDown}
		}
	}
	for {
		group, held, retry := s.lockRound(context.Background(), []*pendingAccept{p}, nil)
		if len(group) > 0 {
			s.storeGroup(group, held)
			break
		}
		if len(retry) == 0 {
			break // answered
		}
		time.Sleep(s.retryDelay())
	}
	return <-p.done
}

func (s *Service) acceptLoop(ctx context.Context, a *acceptor) {
	var waiting []*pendingAccept
	// ready is a group whose locks are held, waiting for a free
	// committer. The rounds that get their locks meanwhile join it, so
	// under load a group holds what arrived while the groups before it
	// were stored, and one commit (one WAL flush) carries all of it;
	// the lock tries still overlap the stores.
	var ready []*pendingAccept
	var readyHeld map[string]wallet.Lock
	launch := func() { // with a committer's slot taken
		group, held := ready, readyHeld
		ready, readyHeld = nil, nil
		a.wg.Go(func() {
			defer func() { <-a.sem }()
			s.storeGroup(group, held)
		})
	}
	stopping := func() {
		// The ready group holds its locks and is stored; the requests
		// still waiting for theirs are answered.
		if len(ready) > 0 {
			a.sem <- struct{}{}
			launch()
		}
		for _, p := range waiting {
			p.done <- acceptResult{err: errShuttingDown}
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	armed := false // timer runs for the waiting requests' retry
	for {
		if len(ready) >= a.max {
			// Full: no more rounds until a committer takes it.
			select {
			case a.sem <- struct{}{}:
				launch()
			case <-ctx.Done():
				stopping()
				return
			}
		}
		// A send that can happen only while a group is ready.
		var free chan<- struct{}
		if len(ready) > 0 {
			free = a.sem
		}
		// Some wallets were busy: try again shortly, or at once when new
		// requests come or a stored group frees a wallet they wait for.
		var retry <-chan time.Time
		if len(waiting) > 0 {
			if !armed {
				timer.Reset(s.retryDelay())
				armed = true
			}
			retry = timer.C
		}
		select {
		case p := <-a.reqs:
			waiting = append(waiting, p)
		case <-retry:
		case freed := <-a.freed:
			if !freesAny(waiting, freed) {
				continue // the timer keeps running
			}
		case free <- struct{}{}:
			launch()
		case <-ctx.Done():
			stopping()
			return
		}
		timer.Stop()
		armed = false
		if len(waiting) == 0 {
			continue
		}
	drain:
		for len(waiting) < a.max {
			select {
			case p := <-a.reqs:
				waiting = append(waiting, p)
			default:
				break drain
			}
		}
		round := waiting[:min(len(waiting), a.max-len(ready))]
		rest := waiting[len(round):]
		// The round runs to its end even when the acceptor is stopping,
		// so no request is answered with a cancelled lock try.
		group, held, again := s.lockRound(context.Background(), round, a.hot)
		waiting = append(again, rest...)
		if len(group) == 0 {
			continue
		}
		ready = append(ready, group...)
		if readyHeld == nil {
			readyHeld = held
		} else {
			maps.Copy(readyHeld, held)
		}
		select {
		case a.sem <- struct{}{}:
			launch()
		default:
		}
	}
}

// lockRound tries once, without waiting, the locks that the requests in
// round need, and returns the group of requests that got all of theirs,
// the locks held for the group by wallet id, and the requests to retry.
// It answers requests whose wait ran out (EWalletBusy) or whose caller
// left. A lock is never waited for while others are held, so two
// acceptors cannot deadlock. With hot set, wallets whose lock was taken
// last time are tried first, and the other locks of requests blocked on
// them are not tried at all.
func (s *Service) lockRound(ctx context.Context, round []*pendingAccept, hot map[string]bool) (group []*pendingAccept, held map[string]wallet.Lock, retry []*pendingAccept) {
	now := s.now()
	live := round[:0:0]
	for _, p := range round {
		switch {
		case p.ctx.Err() != nil:
			p.done <- acceptResult{err: p.ctx.Err()}
		case p.tried && now.After(p.deadline):
			s.observeLockWait(now.Sub(p.start), true)
			p.done <- acceptResult{err: wallet.Errorf(wallet.EWalletBusy, "wallet %s is busy with other operations; retry shortly", p.busy)}
		default:
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return nil, nil, nil
	}

	held = map[string]wallet.Lock{}
	try := func(ids []string) error {
		if len(ids) == 0 {
			return nil
		}
		tctx, cancel := context.WithTimeout(ctx, s.acceptTimeout())
		got, err := s.Locker.TryAcquire(tctx, ids)
		cancel()
		if err != nil {
			s.Log.Warn("lock round failed", slog.Int("wallets", len(ids)), slog.Any("error", err))
			return wallet.Errorf(wallet.EUnavailable, "the lock service is not answering; retry shortly")
		}
		for _, id := range ids {
			if lk, ok := got[id]; ok {
				held[id] = lk
				delete(hot, id)
			} else if hot != nil {
				hot[id] = true
			}
		}
		return nil
	}
	tried := map[string]bool{}
	var first []string
	for _, p := range live {
		for _, w := range p.wallets {
			if hot[w] && !tried[w] {
				tried[w] = true
				first = append(first, w)
			}
		}
	}
	clear(hot) // what was taken last round is in tried now
	err := try(first)
	var then []string
	if err == nil {
		for _, p := range live {
			if !p.blockedBy(tried, held) {
				for _, w := range p.wallets {
					if !tried[w] {
						tried[w] = true
						then = append(then, w)
					}
				}
			}
		}
		err = try(then)
	}
	if err != nil {
		s.release(lockList(held), "a failed lock round")
		for _, p := range live {
			p.done <- acceptResult{err: err}
		}
		return nil, nil, nil
	}

	used := map[string]bool{}
	locked := time.Now()
	for _, p := range live {
		p.tried = true
		if w, ok := p.missing(held); ok {
			p.busy = w
			retry = append(retry, p)
			continue
		}
		s.observeLockWait(now.Sub(p.start), false)
		p.locked = locked
		s.observeStage(StageLocks, locked.Sub(p.arrived), 1)
		group = append(group, p)
		for _, w := range p.wallets {
			used[w] = true
		}
	}
	var unused []wallet.Lock
	for w, lk := range held {
		if !used[w] {
			unused = append(unused, lk)
			delete(held, w)
		}
	}
	s.release(unused, "a lock round")
	return group, held, retry
}

// blockedBy reports whether a lock of p's was tried and not got.
func (p *pendingAccept) blockedBy(tried map[string]bool, held map[string]wallet.Lock) bool {
	for _, w := range p.wallets {
		if _, ok := held[w]; tried[w] && !ok {
			return true
		}
	}
	return false
}

// missing returns a wallet whose lock p needs and is not held.
func (p *pendingAccept) missing(held map[string]wallet.Lock) (string, bool) {
	for _, w := range p.wallets {
		if _, ok := held[w]; !ok {
			return w, true
		}
	}
	return "", false
}

// lockList returns the locks of held.
func lockList(held map[string]wallet.Lock) []wallet.Lock {
	out := make([]wallet.Lock, 0, len(held))
	for _, lk := range held {
		out = append(out, lk)
	}
	return out
}

// storeGroup accepts a group whose locks are held: it checks the funds of
// the wallets it debits in one query, deciding in arrival order, stores
// the operations that pass with one insert, releases the locks, enqueues
// one task for the stored operations, and answers every request. It runs
// detached from the requests: once a group is being stored, a client that
// leaves does not stop it.
//
// The funds check and the insert share one deadline (AcceptTimeout): a
// hung Postgres answers the group 503 instead of stalling every accept
// behind it.
func (s *Service) storeGroup(group []*pendingAccept, held map[string]wallet.Lock) {
	ctx, cancel := context.WithTimeout(context.Background(), s.acceptTimeout())
	defer cancel()
	began := time.Now()
	for _, p := range group {
		s.observeStage(StageCommitter, began.Sub(p.locked), 1)
	}
	stage := func(name string, since time.Time) time.Time {
		now := time.Now()
		s.observeStage(name, now.Sub(since), len(group))
		return now
	}
	fail := func(err error) {
		err = unavailable("the database", err)
		s.Log.Warn("accept group failed", slog.Int("requests", len(group)), slog.Any("error", err))
		s.releaseGroup(held, "a failed accept")
		for _, p := range group {
			p.done <- acceptResult{err: err}
		}
	}

	results, batch, index, err := s.admit(ctx, group)
	if err != nil {
		fail(err)
		return
	}
	at := stage(StageFunds, began)

	var ids []string
	taskID := ""
	if len(batch) > 0 {
		if s.Observer != nil {
			s.Observer.Batch("accept", len(batch))
		}
		stored, err := s.Store.CreateOperations(ctx, batch)
		if err != nil {
			fail(err)
			return
		}
		at = stage(StageInsert, at)
		for j, st := range stored {
			switch {
			case st.KeyUsed:
				results[index[j]] = acceptResult{} // the caller replays the key
				continue
			case st.Refused != "":
				results[index[j]] = acceptResult{err: refusal(st.Refused)}
				continue
			}
			op := st.Op
			results[index[j]] = acceptResult{op: op}
			ids, taskID = append(ids, op.ID), op.TaskID
		}
	}
	// Stored, the operations need the locks no longer: whatever the
	// acceptors store next for these wallets counts them as pending
	// (their funds reserved, their holds' and withdrawals' closers
	// known), and the worker's commit decides under row locks whatever
	// order the tasks run in. The requests that wait here for one of the
	// wallets try again at once.
	//
	// The keys answer duplicates from Postgres now: end the claims of
	// the stored requests in one command (a request that waits for its
	// result keeps its claim until it answers). The release and the
	// claims go through pipelines of their own, side by side.
	var claims, claimWallets []string
	for i, p := range group {
		if p.claim != "" && results[i].err == nil && !(results[i].op.ID != "" && p.key.StatusCode == wallet.Unanswered) {
			claims, claimWallets = append(claims, p.claim), append(claimWallets, p.wallets...)
			results[i].unclaimed = true
		}
	}
	var released sync.WaitGroup
	released.Go(func() { s.releaseGroup(held, "an accept") })
	s.unclaim(claims, claimWallets)
	released.Wait()
	at = stage(StageRedis, at)
	for i, p := range group {
		p.done <- results[i]
	}
	if len(ids) > 0 {
		// The operations are durable, so the requests are answered
		// before their task is enqueued: the enqueue's round trip is not
		// part of an accept's latency (an idle worker takes the task as
		// soon as it is there, and a waiting request waits for the
		// operation's final state, not for its task). If the enqueue
		// fails, the sweeper enqueues them later. The committer's slot
		// stays taken until here, so stopping the acceptor still waits
		// for the enqueue.
		qctx, qcancel := context.WithTimeout(context.Background(), s.acceptTimeout())
		err := s.Queue.EnqueueApply(qctx, taskID, ids, nil)
		qcancel()
		if err != nil {
			s.Log.Warn("enqueue failed; the sweeper will retry", slog.String("task_id", taskID),
				slog.Int("operations", len(ids)), slog.Any("error", err))
		}
		stage(StageEnqueue, at)
	}
}

// The stages of an accept, in order, for Observer.AcceptStage: the
// request's wait for its locks (from reaching the acceptor, busy wallets'
// retries included), its group's wait for a free committer, the funds
// check, the insert and its commit, and the Redis steps after it
// (releasing the locks, ending the idempotency claims). StageEnqueue
// comes after the request is answered: it is the enqueue of the group's
// task, counted for each request of a group that stored operations.
const (
	StageLocks     = "locks"
	StageCommitter = "committer"
	StageFunds     = "funds"
	StageInsert    = "insert"
	StageRedis     = "redis"
	StageEnqueue   = "enqueue"
)

// observeStage counts n requests that spent d in stage.
func (s *Service) observeStage(stage string, d time.Duration, n int) {
	if s.Observer != nil {
		s.Observer.AcceptStage(stage, d, n)
	}
}

func (s *Service) observeLockWait(d time.Duration, busy bool) {
	if s.Observer != nil {
		s.Observer.LockWait(d, busy)
	}
}
