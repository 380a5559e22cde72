package postgres

import (
	"context"
	"time"
)

// DeleteIdempotencyKeys implements wallet.Store: one short statement
// over the created_at index, so that pruning never holds many rows or
// a long transaction.
func (s *Store) DeleteIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		WITH d AS (
			SELECT user_id, key FROM idempotency_keys
			WHERE created_at < $1 ORDER BY created_at LIMIT $2
			FOR UPDATE SKIP LOCKED
		)
		DELETE FROM idempotency_keys k USING d WHERE k.user_id = d.user_id AND k.key = d.key`, before, limit)
	if err != nil {
		return 0, translate(err)
	}
	return int(tag.RowsAffected()), nil
}
