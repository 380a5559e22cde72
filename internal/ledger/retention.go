package ledger

import (
	"context"
	"time"
)

// pruneBatch is how many idempotency keys one statement deletes, and
// prunePause the breath between two, so pruning a backlog never competes
// with the ledger's own writes for long.
const (
	pruneBatch = 1000
	prunePause = 20 * time.Millisecond
)

// PruneIdempotencyKeys deletes the idempotency keys stored more than
// retention ago, in batches, until none is left or ctx ends, and returns
// how many it deleted. A request repeated with a pruned key is a new
// request: the contract keeps keys at least 24 hours, and the
// configuration refuses a shorter retention.
func (s *Service) PruneIdempotencyKeys(ctx context.Context, retention time.Duration) (int, error) {
	return s.pruneIdempotencyKeys(ctx, retention, pruneBatch)
}

func (s *Service) pruneIdempotencyKeys(ctx context.Context, retention time.Duration, batch int) (int, error) {
	before := s.now().Add(-retention)
	total := 0
	for {
		n, err := s.Store.DeleteIdempotencyKeys(ctx, before, batch)
		total += n
		if err != nil || n < batch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, nil
		case <-time.After(prunePause):
		}
	}
}
