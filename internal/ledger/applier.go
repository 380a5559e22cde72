package ledger

import (
	"context"
	"log/slog"
	"sync"

	"github.com/walletd/wallet/internal/wallet"
)

// applyReq is one task handler's request to apply its operations.
type applyReq struct {
	ids   []string
	locks []wallet.Lock
	done  chan applyRes
}

type applyRes struct {
	ops []wallet.Operation
	err error
}

// applier groups the Apply calls of a worker's concurrent task handlers
// into batches that commit in one transaction each. There is no waiting
// to fill a batch: while one commits, the next calls queue up, so batches
// grow with the load and a lone operation goes straight through.
type applier struct {
	reqs chan applyReq
	max  int
}

// StartApplier makes Apply batch through committers goroutines, each
// committing at most max operations at a time, until ctx ends. Call it
// before the first Apply; without it Apply commits one by one.
func (s *Service) StartApplier(ctx context.Context, committers, max int) *sync.WaitGroup {
	a := &applier{reqs: make(chan applyReq, max*committers), max: max}
	s.applier = a
	var wg sync.WaitGroup
	for range committers {
		wg.Go(func() { s.commitLoop(ctx, a) })
	}
	return &wg
}

func (s *Service) commitLoop(ctx context.Context, a *applier) {
	for {
		var batch []applyReq
		n := 0
		select {
		case <-ctx.Done():
			return
		case r := <-a.reqs:
			batch = append(batch, r)
			n += len(r.ids)
		}
	fill:
		for n < a.max {
			select {
			case r := <-a.reqs:
				batch = append(batch, r)
				n += len(r.ids)
			default:
				break fill
			}
		}
		s.commitBatch(context.WithoutCancel(ctx), batch)
	}
}

// commitBatch applies a batch in one transaction. If the batch fails as
// a whole, each of its operations is tried alone, so one bad operation
// (or one bad task) cannot hold up the others: the tasks whose operations
// all applied are answered, the others get the error and are retried by
// the queue.
func (s *Service) commitBatch(ctx context.Context, batch []applyReq) {
	var ids []string
	for _, r := range batch {
		ids = append(ids, r.ids...)
	}
	res, err := s.Store.ApplyOperations(ctx, ids)
	if err == nil {
		if s.Observer != nil {
			s.Observer.Batch("apply", len(ids))
		}
		byID := make(map[string]wallet.Applied, len(res))
		for i, r := range res {
			byID[ids[i]] = r
		}
		s.finish(ctx, batch, byID, nil)
		return
	}
	if len(ids) == 1 {
		s.finish(ctx, batch, nil, map[string]error{ids[0]: err})
		return
	}
	s.Log.Warn("batch failed; applying its operations one by one", slog.Int("operations", len(ids)),
		slog.Int("tasks", len(batch)), slog.Any("error", err))
	byID := map[string]wallet.Applied{}
	failed := map[string]error{}
	for _, id := range ids {
		if _, done := byID[id]; done {
			continue
		}
		if _, done := failed[id]; done {
			continue
		}
		one, err := s.Store.ApplyOperations(ctx, []string{id})
		if err != nil {
			failed[id] = err
			continue
		}
		if s.Observer != nil {
			s.Observer.Batch("apply", 1)
		}
		byID[id] = one[0]
	}
	s.finish(ctx, batch, byID, failed)
}

// finish answers the tasks of a batch from the results by operation id:
// a task whose operations all applied gets them (in its own order), the
// locks it carries (if any) are released and its operations announced;
// a task with a failed operation gets that operation's error.
func (s *Service) finish(ctx context.Context, batch []applyReq, byID map[string]wallet.Applied, failed map[string]error) {
	var locks []wallet.Lock
	var final []string
	var due []wallet.Due
	wake := map[string]bool{}
	for id, r := range byID {
		final = append(final, id)
		if r.Applied {
			if s.Observer != nil {
				s.Observer.OperationFinal(r.Op)
			}
			// Followers of these parties' notifications wake up.
			wake[WakeWallet(r.Op.FromWalletID)], wake[WakeWallet(r.Op.ToWalletID)] = true, true
			if r.Op.CreatedBy != "" {
				wake[WakeUser(r.Op.CreatedBy)] = true
			}
		}
		due = append(due, r.Due...)
	}
	for k := range wake {
		final = append(final, k)
	}
	answers := make([]applyRes, len(batch))
	for i, r := range batch {
		ops := make([]wallet.Operation, len(r.ids))
		for j, id := range r.ids {
			if err, bad := failed[id]; bad {
				answers[i] = applyRes{err: err}
				break
			}
			ops[j] = byID[id].Op
		}
		if answers[i].err == nil {
			answers[i].ops = ops
			locks = append(locks, r.locks...)
		}
	}
	s.release(locks, "a commit")
	s.publish(ctx, final)
	// The expiries' tasks are scheduled last, once the results are out:
	// their time decides nothing (the committing transaction does), and
	// the sweeper acts on whatever a lost schedule leaves.
	s.schedule(ctx, due...)
	for i, r := range batch {
		r.done <- answers[i]
	}
}

// publish announces final operations; waiting clients also poll
// Postgres, so a lost announcement only delays them.
func (s *Service) publish(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	if err := s.Publisher.PublishResults(ctx, ids...); err != nil {
		s.Log.Warn("publish results failed", slog.Int("count", len(ids)), slog.Any("error", err))
	}
}
