package ledger

import (
	"context"
	"time"
)

// PruneIdempotencyKeysBy is PruneIdempotencyKeys with a batch size of
// the test's choosing.
func (s *Service) PruneIdempotencyKeysBy(ctx context.Context, retention time.Duration, batch int) (int, error) {
	return s.pruneIdempotencyKeys(ctx, retention, batch)
}

// SetLockRetry replaces the acceptor's jittered retry delay.
func (s *Service) SetLockRetry(d time.Duration) { s.lockRetry = d }
