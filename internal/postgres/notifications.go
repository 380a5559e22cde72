package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

// The outbox's read side. Rows are written by the commit that makes an
// operation final (batch.write); each carries the id of the transaction
// that wrote it (xid), so that a reader following a user's notifications
// in order reads only what no transaction still running can precede: rows
// whose xid is below the oldest transaction still running, in (xid, id)
// order. A notification that commits late is then read late, never
// skipped.

// queueNotifications adds to a batch the statement that records the
// operation events of the operations it makes final: operation.completed
// for every party (the owners of both wallets), operation.failed for its
// creator only. One multi-row insert for the whole batch.
func (b *batch) queueNotifications(q *pgx.Batch) {
	var id, user, typ, op []string
	add := func(o *wallet.Operation, owner, t string) {
		if owner == "" {
			return
		}
		id, user, typ, op = append(id, newID()), append(user, owner), append(typ, t), append(op, o.ID)
	}
	for _, o := range b.pending {
		switch o.Status {
		case wallet.StatusCompleted:
			from, to := b.owner(o.FromWalletID), b.owner(o.ToWalletID)
			add(o, from, wallet.EventOperationCompleted)
			if to != from {
				add(o, to, wallet.EventOperationCompleted)
			}
		case wallet.StatusFailed:
			add(o, o.CreatedBy, wallet.EventOperationFailed)
		}
	}
	if len(id) == 0 {
		return
	}
	q.Queue(`INSERT INTO notifications (id, user_id, type, operation_id, created_at)
		SELECT v.id, v.user_id, v.type, v.op, $5
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[]) AS v(id, user_id, type, op)`, id, user, typ, op, b.now)
}

// owner is the user a locked wallet belongs to.
func (b *batch) owner(walletID string) string {
	if a := b.accounts[walletID]; a != nil {
		return a.owner
	}
	if o, ok := b.store.owners.Load(walletID); ok {
		return o.(string)
	}
	return ""
}

const notificationSelect = `SELECT ` + opColumns + `,
		(SELECT e.balance_after FROM entries e JOIN wallets w ON w.id = e.wallet_id
			WHERE e.operation_id = o.id AND w.user_id = n.user_id LIMIT 1),
		n.id::text, n.id::text, n.user_id::text, n.type, n.created_at, n.read_at IS NOT NULL
	FROM notifications n JOIN operations o ON o.id = n.operation_id`

func scanNotifications(rows pgx.Rows, limit int) ([]wallet.Notification, error) {
	defer rows.Close()
	out := make([]wallet.Notification, 0, limit)
	for rows.Next() {
		var n wallet.Notification
		var after *int64
		op, err := scanOperation(rows, &after, &n.ID, &n.EventID, &n.UserID, &n.Type, &n.CreatedAt, &n.Read)
		if err != nil {
			return nil, err
		}
		if after != nil {
			a := wallet.Amount(*after)
			op.BalanceAfter = &a
		}
		n.Operation = &op
		out = append(out, n)
	}
	return out, translate(rows.Err())
}

// Notifications implements wallet.NotificationStore.
func (s *Store) Notifications(ctx context.Context, userID, before string, unread bool, limit int) ([]wallet.Notification, error) {
	rows, err := s.pool.Query(ctx, notificationSelect+`
		WHERE n.user_id = $1
		  AND ($2::uuid IS NULL OR (n.xid, n.id) < (SELECT c.xid, c.id FROM notifications c WHERE c.id = $2 AND c.user_id = $1))
		  AND (NOT $3 OR n.read_at IS NULL)
		ORDER BY n.xid DESC, n.id DESC LIMIT $4`, userID, uuidOrNil(before), unread, limit)
	if err != nil {
		return nil, translate(err)
	}
	return scanNotifications(rows, limit)
}

// NotificationsAfter implements wallet.NotificationStore.
func (s *Store) NotificationsAfter(ctx context.Context, userID, after string, limit int) ([]wallet.Notification, bool, error) {
	if after == "" {
		rows, err := s.pool.Query(ctx, notificationSelect+`
			WHERE n.user_id = $1 AND n.xid < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY n.xid, n.id LIMIT $2`, userID, limit)
		if err != nil {
			return nil, true, translate(err)
		}
		ns, err := scanNotifications(rows, limit)
		return ns, true, err
	}
	if _, ok := wallet.CanonicalID(after); !ok {
		return nil, false, nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notifications WHERE id = $1 AND user_id = $2)`, after, userID).Scan(&exists); err != nil {
		return nil, false, translate(err)
	}
	if !exists {
		return nil, false, nil
	}
	rows, err := s.pool.Query(ctx, notificationSelect+`
		CROSS JOIN (SELECT xid, id FROM notifications WHERE id = $2) c
		WHERE n.user_id = $1 AND (n.xid, n.id) > (c.xid, c.id)
		  AND n.xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY n.xid, n.id LIMIT $3`, userID, after, limit)
	if err != nil {
		return nil, true, translate(err)
	}
	ns, err := scanNotifications(rows, limit)
	return ns, true, err
}

// LatestNotification implements wallet.NotificationStore: the newest of
// the user's notifications that a reader in order may pass (see above).
func (s *Store) LatestNotification(ctx context.Context, userID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id::text FROM notifications
		WHERE user_id = $1 AND xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY xid DESC, id DESC LIMIT 1`, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, translate(err)
}

// UnreadCount implements wallet.NotificationStore.
func (s *Store) UnreadCount(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n)
	return n, translate(err)
}

// MarkRead implements wallet.NotificationStore.
func (s *Store) MarkRead(ctx context.Context, userID string, ids []string, all bool, now time.Time) error {
	if all {
		_, err := s.pool.Exec(ctx, `UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL`, userID, now)
		return translate(err)
	}
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if c, ok := wallet.CanonicalID(id); ok {
			valid = append(valid, c)
		}
	}
	if len(valid) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE notifications SET read_at = $3
		WHERE user_id = $1 AND id = ANY($2::uuid[]) AND read_at IS NULL`, userID, valid, now)
	return translate(err)
}
