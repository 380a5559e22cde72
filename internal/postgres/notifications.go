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

// queueNotifications adds to a batch the statement that records its
// events: of the operations it makes final, operation.completed for every
// party (the owners of both wallets), operation.failed for its creator
// only; and those of the objects it changed (see tell). One multi-row
// insert for the whole batch, after the statements that change the
// objects.
func (b *batch) queueNotifications(q *pgx.Batch) {
	var id, user, typ []string
	var op, subject []*string
	add := func(o *wallet.Operation, owner, t string) {
		if owner == "" {
			return
		}
		id, user, typ = append(id, newID()), append(user, owner), append(typ, t)
		op, subject = append(op, &o.ID), append(subject, nil)
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
	for _, e := range b.events {
		snapshot := string(e.snapshot)
		for _, u := range e.users {
			id, user, typ = append(id, newID()), append(user, u), append(typ, e.typ)
			op, subject = append(op, nil), append(subject, &snapshot)
		}
	}
	if len(id) == 0 {
		return
	}
	q.Queue(`INSERT INTO notifications (id, user_id, type, operation_id, subject, created_at)
		SELECT v.id, v.user_id, v.type, v.op, v.subject, $6
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::jsonb[]) AS v(id, user_id, type, op, subject)`,
		id, user, typ, op, subject, b.now)
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

const notificationSelect = `SELECT n.id::text, n.user_id::text, n.type, n.created_at, n.read_at IS NOT NULL,
		n.operation_id::text, n.subject FROM notifications n`

// queryNotifications reads the notifications that sql
// (notificationSelect and its conditions) selects, then, in a second
// query, their operations as their users see them.
func (s *Store) queryNotifications(ctx context.Context, limit int, sql string, args ...any) ([]wallet.Notification, error) {
	return queryNotificationsOn(ctx, s.pool, limit, sql, args...)
}

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryNotificationsOn is queryNotifications on q.
func queryNotificationsOn(ctx context.Context, q querier, limit int, sql string, args ...any) ([]wallet.Notification, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := make([]wallet.Notification, 0, limit)
	var ops, users []string
	for rows.Next() {
		var n wallet.Notification
		var op *string
		var subject []byte
		if err := rows.Scan(&n.ID, &n.UserID, &n.Type, &n.CreatedAt, &n.Read, &op, &subject); err != nil {
			return nil, translate(err)
		}
		n.EventID = n.ID
		if op != nil {
			ops, users = append(ops, *op), append(users, n.UserID)
		} else if err := decodeSubject(&n, subject); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	if len(ops) == 0 {
		return out, nil
	}
	rows, err = q.Query(ctx, `SELECT `+opColumns+`,
			`+userBalanceAfter("v.user_id")+`
		FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS v(op, user_id, i)
		JOIN operations o ON o.id = v.op ORDER BY v.i`, ops, users)
	if err != nil {
		return nil, translate(err)
	}
	viewed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Operation, error) { return scanViewed(r) })
	if err != nil {
		return nil, translate(err)
	}
	if len(viewed) != len(ops) {
		return nil, errors.New("postgres: a notification's operation is missing")
	}
	for i := range out {
		if out[i].Hold == nil && out[i].PaymentRequest == nil && out[i].Withdrawal == nil {
			out[i].Operation, viewed = &viewed[0], viewed[1:]
		}
	}
	return out, nil
}

// Notifications implements wallet.NotificationStore.
func (s *Store) Notifications(ctx context.Context, userID, before string, unread bool, limit int) ([]wallet.Notification, error) {
	return s.queryNotifications(ctx, limit, notificationSelect+`
		WHERE n.user_id = $1
		  AND ($2::uuid IS NULL OR (n.xid, n.id) < (SELECT c.xid, c.id FROM notifications c WHERE c.id = $2 AND c.user_id = $1))
		  AND (NOT $3 OR n.read_at IS NULL)
		ORDER BY n.xid DESC, n.id DESC LIMIT $4`, userID, uuidOrNil(before), unread, limit)
}

// NotificationsAfter implements wallet.NotificationStore.
func (s *Store) NotificationsAfter(ctx context.Context, userID, after string, limit int) ([]wallet.Notification, bool, error) {
	if after == "" {
		ns, err := s.queryNotifications(ctx, limit, notificationSelect+`
			WHERE n.user_id = $1 AND n.xid < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY n.xid, n.id LIMIT $2`, userID, limit)
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
	ns, err := s.queryNotifications(ctx, limit, notificationSelect+`
		CROSS JOIN (SELECT xid, id FROM notifications WHERE id = $2) c
		WHERE n.user_id = $1 AND (n.xid, n.id) > (c.xid, c.id)
		  AND n.xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY n.xid, n.id LIMIT $3`, userID, after, limit)
	return ns, true, err
}

// LatestNotification implements wallet.NotificationStore: the newest of
// the user's notifications that a reader in order may pass (see above).
func (s *Store) LatestNotification(ctx context.Context, userID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT n.id::text FROM notifications n
		WHERE n.user_id = $1 AND n.xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY n.xid DESC, n.id DESC LIMIT 1`, userID).Scan(&id)
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
