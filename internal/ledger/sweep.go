package ledger

import (
	"context"
	"log/slog"
	"time"
)

// Sweep makes sure every operation pending for longer than age gets
// applied. It works by task, since operations accepted together share
// one: it re-enqueues a task that was lost (a failed enqueue, a flushed
// Redis) or archived, under its own name, so a task still queued or
// retrying is never doubled; and it applies at once the operations of a
// task that sits active, which is what a worker that died mid-task
// leaves behind until the queue's lease runs out. Applying beside a live
// worker is safe: the operation's row lock lets only one of them apply
// it. It returns how many operations it re-enqueued or applied.
func (s *Service) Sweep(ctx context.Context, age time.Duration) (int, error) {
	ops, err := s.Store.PendingOperations(ctx, s.now().Add(-age), 1000)
	if err != nil {
		return 0, err
	}
	var order []string
	groups := map[string][]string{}
	for _, op := range ops {
		task := op.TaskID
		if task == "" {
			task = op.ID
		}
		if groups[task] == nil {
			order = append(order, task)
		}
		groups[task] = append(groups[task], op.ID)
	}
	n := s.sweepDue(ctx)
	for _, task := range order {
		ids := groups[task]
		r, err := s.Queue.Requeue(ctx, task, ids)
		if err != nil {
			return n, err
		}
		log := s.Log.With(slog.String("task_id", task), slog.Int("operations", len(ids)))
		switch {
		case r.Enqueued:
			n += len(ids)
			log.Info("sweeper re-enqueued pending operations")
		case r.Active:
			// The active task's payload lists its whole group: apply all
			// of it, then its locks are released.
			applyIDs := r.OperationIDs
			if len(applyIDs) == 0 {
				applyIDs = ids
			}
			if _, err := s.Apply(ctx, applyIDs, r.Locks); err != nil {
				return n, err
			}
			n += len(ids)
			log.Info("sweeper applied the operations of a task stuck active")
		}
	}
	return n, nil
}

// dueBatch bounds what one sweep acts on of each kind.
const dueBatch = 100

// sweepDue acts on what fell due whether or not its task ran (a flushed
// Redis loses scheduled tasks): it expires active holds and open payment
// requests past their expiry and withdrawals pending past the timeout.
// Failures are logged: the next sweep tries again. It returns how many
// it acted on.
func (s *Service) sweepDue(ctx context.Context) int {
	n := 0
	holds, err := s.Store.DueHolds(ctx, dueBatch)
	if err != nil {
		s.Log.Warn("sweep: due holds", slog.Any("error", err))
	}
	for _, h := range holds {
		if err := s.ExpireHold(ctx, h.ID); err != nil {
			s.Log.Info("sweep: hold expiry must wait", slog.String("hold_id", h.ID), slog.Any("error", err))
			continue
		}
		n++
	}
	ws, err := s.Store.DueWithdrawals(ctx, dueBatch)
	if err != nil {
		s.Log.Warn("sweep: due withdrawals", slog.Any("error", err))
	}
	for _, w := range ws {
		if err := s.ExpireWithdrawal(ctx, w.ID); err != nil {
			s.Log.Info("sweep: withdrawal expiry must wait", slog.String("withdrawal_id", w.ID), slog.Any("error", err))
			continue
		}
		n++
	}
	expired, err := s.ExpirePaymentRequests(ctx, nil, 1000)
	if err != nil {
		s.Log.Warn("sweep: due payment requests", slog.Any("error", err))
	}
	return n + expired
}
