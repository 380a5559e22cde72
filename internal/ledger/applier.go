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
// a whole, each operation is tried alone, so one bad operation cannot hold
// up the others.
func (s *Service) commitBatch(ctx context.Context, batch []applyReq) {
	var ids []string
	for _, r := range batch {
		ids = append(ids, r.ids...)
	}
	res, err := s.Store.ApplyOperations(ctx, ids)
	if err == nil && s.Observer != nil {
		s.Observer.Batch("apply", len(ids))
	}
	if err != nil && len(batch) > 1 {
		s.Log.Warn("batch failed; applying its operations one by one", slog.Int("size", len(batch)), slog.Any("error", err))
		for _, r := range batch {
			s.commitBatch(ctx, []applyReq{r})
		}
		return
	}
	if err != nil {
		batch[0].done <- applyRes{err: err}
		return
	}
	var locks []wallet.Lock
	final := make([]string, len(res))
	for i, r := range res {
		final[i] = r.Op.ID
		if r.Applied && s.Observer != nil {
			s.Observer.OperationFinal(r.Op)
		}
	}
	for _, r := range batch {
		locks = append(locks, r.locks...)
	}
	s.Locker.Release(locks)
	s.publish(ctx, final)
	for _, r := range batch {
		ops := make([]wallet.Operation, len(r.ids))
		for j := range ops {
			ops[j] = res[0].Op
			res = res[1:]
		}
		r.done <- applyRes{ops: ops}
	}
}

// publish announces final operations; waiting clients also poll
// Postgres, so a lost announcement only delays them.
func (s *Service) publish(ctx context.Context, ids []string) {
	if err := s.Publisher.PublishResults(ctx, ids...); err != nil {
		s.Log.Warn("publish results failed", slog.Int("count", len(ids)), slog.Any("error", err))
	}
}
