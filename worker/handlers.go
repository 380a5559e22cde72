package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/queue"
	"github.com/walletd/wallet/internal/wallet"
)

type handlers struct {
	svc          *ledger.Service
	log          *slog.Logger
	sweepAfter   time.Duration
	keyRetention time.Duration
	oauth        *ledger.Authorizer
}

// pruneInterval is how often a worker's scheduler (once across all
// workers, by Unique) deletes the idempotency keys past retention.
const pruneInterval = time.Minute

// apply commits the operations of one task (a group accepted together).
// Errors are retried, except those that no retry can fix (a malformed
// payload, an unknown operation).
func (h *handlers) apply(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeApply(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	ops, err := h.svc.Apply(ctx, p.OperationIDs, p.Locks)
	switch wallet.ErrorCode(err) {
	case "":
		h.log.Debug("operations final", slog.String("operation_id", p.OperationIDs[0]), slog.Int("operations", len(ops)))
		return nil
	case wallet.EOperationNotFound, wallet.EInvalidRequest:
		return fmt.Errorf("operations %s (%d): %w: %w", p.OperationIDs[0], len(p.OperationIDs), err, asynq.SkipRetry)
	}
	return fmt.Errorf("operations %s (%d): %w", p.OperationIDs[0], len(p.OperationIDs), err)
}

func (h *handlers) sweep(ctx context.Context, _ *asynq.Task) error {
	n, err := h.svc.Sweep(ctx, h.sweepAfter)
	if n > 0 {
		h.log.Info("sweep", slog.Int("requeued", n))
	}
	return err
}

// expireHold expires a hold at its time. A hold whose expiry must wait (a
// capture accepted in time still being applied) is retried.
func (h *handlers) expireHold(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeDue(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return h.svc.ExpireHold(ctx, p.ID)
}

// expireWithdrawal expires a withdrawal left pending past the timeout.
func (h *handlers) expireWithdrawal(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeDue(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return h.svc.ExpireWithdrawal(ctx, p.ID)
}

// expireRequest expires an open payment request at its time.
func (h *handlers) expireRequest(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeDue(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	_, err = h.svc.ExpirePaymentRequests(ctx, []string{p.ID}, 1)
	return err
}

// maintainOAuth repairs the copy of the OAuth revocations in Redis (after
// a flush or a failover) and prunes codes and token families that ended.
func (h *handlers) maintainOAuth(ctx context.Context, _ *asynq.Task) error {
	synced, pruned, err := h.oauth.MaintainOAuth(ctx)
	if pruned > 0 {
		h.log.Info("oauth maintained", slog.Int("revocations", synced), slog.Int("pruned", pruned))
	}
	return err
}

// pruneKeys deletes the idempotency keys past their retention, in small
// batches, within the task's timeout; what is left waits for the next run.
func (h *handlers) pruneKeys(ctx context.Context, _ *asynq.Task) error {
	n, err := h.svc.PruneIdempotencyKeys(ctx, h.keyRetention)
	if n > 0 {
		h.log.Info("idempotency keys pruned", slog.Int("deleted", n), slog.Duration("retention", h.keyRetention))
	}
	if ctx.Err() != nil {
		return nil // the rest next time
	}
	return err
}
