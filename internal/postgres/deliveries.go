package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

const deliveryColumns = `d.id::text, d.webhook_id::text, d.notification_id::text, n.type, d.status, d.attempts,
	coalesce(d.last_status_code, 0), coalesce(d.last_error, ''), d.next_attempt_at, d.created_at`

func scanDelivery(row pgx.Row) (wallet.Delivery, error) {
	var d wallet.Delivery
	err := row.Scan(&d.ID, &d.WebhookID, &d.NotificationID, &d.Type, &d.Status, &d.Attempts,
		&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, wallet.Errorf(wallet.EDeliveryNotFound, "delivery not found")
	}
	return d, translate(err)
}

func collectDeliveries(rows pgx.Rows, err error) ([]wallet.Delivery, error) {
	if err != nil {
		return nil, translate(err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Delivery, error) { return scanDelivery(r) })
	return ds, translate(err)
}

// RelayDeliveries implements wallet.DeliveryStore. One relay at a time
// (the cursor row's lock) reads the notifications after its cursor in
// (xid, id) order and only below the oldest running transaction, so a
// notification that commits late is relayed late, never skipped; it
// turns those whose user has a matching endpoint into deliveries and
// moves the cursor on, in one transaction. Its cost follows the events,
// not the number of endpoints.
func (s *Store) RelayDeliveries(ctx context.Context, now time.Time, limit int) ([]wallet.Delivery, error) {
	var out []wallet.Delivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var curXID int64
		var curID string
		if err := tx.QueryRow(ctx, `SELECT xid::text::bigint, notification_id::text FROM webhook_relay WHERE id = 1 FOR UPDATE`).
			Scan(&curXID, &curID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id::text, user_id::text, type, xid::text::bigint, created_at FROM notifications
			WHERE (xid, id) > ($1::text::xid8, $2::uuid) AND xid < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY xid, id LIMIT $3`, strconv.FormatInt(curXID, 10), curID, limit)
		if err != nil {
			return err
		}
		type note struct {
			id, user, typ string
			xid           int64
			at            time.Time
		}
		var notes []note
		var nt note
		if _, err := pgx.ForEachRow(rows, []any{&nt.id, &nt.user, &nt.typ, &nt.xid, &nt.at}, func() error {
			notes = append(notes, nt)
			return nil
		}); err != nil {
			return err
		}
		if len(notes) == 0 {
			return nil
		}
		users := make([]string, 0, len(notes))
		for _, n := range notes {
			users = append(users, n.user)
		}
		rows, err = tx.Query(ctx, `SELECT id::text, user_id::text, events, created_at FROM webhooks
			WHERE user_id = ANY($1::uuid[]) AND disabled_at IS NULL`, users)
		if err != nil {
			return err
		}
		type hook struct {
			id     string
			events []string
			since  time.Time
		}
		byUser := map[string][]hook{}
		var uid string
		var h hook
		if _, err := pgx.ForEachRow(rows, []any{&h.id, &uid, &h.events, &h.since}, func() error {
			byUser[uid] = append(byUser[uid], h)
			return nil
		}); err != nil {
			return err
		}
		var ids, hooks, nids []string
		for _, n := range notes {
			for _, h := range byUser[n.user] {
				if !n.at.Before(h.since) && slices.Contains(h.events, n.typ) {
					ids, hooks, nids = append(ids, newID()), append(hooks, h.id), append(nids, n.id)
				}
			}
		}
		last := notes[len(notes)-1]
		if _, err := tx.Exec(ctx, `UPDATE webhook_relay SET xid = $1::text::xid8, notification_id = $2 WHERE id = 1`,
			strconv.FormatInt(last.xid, 10), last.id); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `
			WITH ins AS (
				INSERT INTO webhook_deliveries (id, webhook_id, notification_id, next_attempt_at, created_at)
				SELECT v.id, v.hook, v.note, $4, $4 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS v(id, hook, note)
				ON CONFLICT (webhook_id, notification_id) DO NOTHING
				RETURNING *
			)
			SELECT `+deliveryColumns+` FROM ins d JOIN notifications n ON n.id = d.notification_id ORDER BY d.id`, ids, hooks, nids, now)
		out, err = collectDeliveries(rows, err)
		return err
	})
	return out, translate(err)
}

// DeliveryWork implements wallet.DeliveryStore.
func (s *Store) DeliveryWork(ctx context.Context, id string) (wallet.DeliveryWork, error) {
	var w wallet.DeliveryWork
	if _, ok := wallet.CanonicalID(id); !ok {
		return w, wallet.Errorf(wallet.EDeliveryNotFound, "delivery not found")
	}
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+`
		FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id WHERE d.id = $1`, id))
	if err != nil {
		return w, err
	}
	w.Delivery = d
	err = s.pool.QueryRow(ctx, `SELECT id::text, user_id::text, url, events, secret, created_at, disabled_at IS NOT NULL
		FROM webhooks WHERE id = $1`, d.WebhookID).Scan(&w.Webhook.ID, &w.Webhook.UserID, &w.Webhook.URL, &w.Webhook.Events,
		&w.Webhook.Secret, &w.Webhook.CreatedAt, &w.Disabled)
	if err != nil {
		return w, translate(err)
	}
	rows, err := s.pool.Query(ctx, notificationSelect+` WHERE n.id = $1`, d.NotificationID)
	if err != nil {
		return w, translate(err)
	}
	ns, err := scanNotifications(rows, 1)
	if err != nil || len(ns) != 1 {
		return w, errors.Join(err, errors.New("postgres: a delivery's notification is missing"))
	}
	w.Event = ns[0]
	return w, nil
}

// RecordAttempt implements wallet.DeliveryStore.
func (s *Store) RecordAttempt(ctx context.Context, id string, n int, a wallet.Attempt) (bool, error) {
	var ok bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var hook string
		err := tx.QueryRow(ctx, `UPDATE webhook_deliveries SET attempts = $2, last_status_code = nullif($3, 0),
				last_error = nullif($4, ''), status = $5, next_attempt_at = $6
			WHERE id = $1 AND status = 'pending' AND attempts = $2 - 1 RETURNING webhook_id::text`,
			id, n, a.StatusCode, a.Error, a.Status, a.NextAttemptAt).Scan(&hook)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		if a.Disable {
			_, err = tx.Exec(ctx, `UPDATE webhooks SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1`, hook)
		}
		return err
	})
	return ok, translate(err)
}

// DueDeliveries implements wallet.DeliveryStore.
func (s *Store) DueDeliveries(ctx context.Context, t time.Time, limit int) ([]wallet.Delivery, error) {
	return collectDeliveries(s.pool.Query(ctx, `SELECT `+deliveryColumns+`
		FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id
		WHERE d.status = 'pending' AND d.next_attempt_at < $1 ORDER BY d.next_attempt_at LIMIT $2`, t, limit))
}

// Deliveries implements wallet.DeliveryStore.
func (s *Store) Deliveries(ctx context.Context, userID, webhookID, before string, limit int) ([]wallet.Delivery, error) {
	if _, ok := wallet.CanonicalID(webhookID); !ok {
		return nil, wallet.Errorf(wallet.EWebhookNotFound, "webhook not found")
	}
	var mine bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND user_id = $2)`, webhookID, userID).Scan(&mine); err != nil {
		return nil, translate(err)
	}
	if !mine {
		return nil, wallet.Errorf(wallet.EWebhookNotFound, "webhook not found")
	}
	if before == "" {
		before = "ffffffff-ffff-ffff-ffff-ffffffffffff"
	}
	return collectDeliveries(s.pool.Query(ctx, `SELECT `+deliveryColumns+`
		FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id
		WHERE d.webhook_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3`, webhookID, before, limit))
}

// RetryDelivery implements wallet.DeliveryStore.
func (s *Store) RetryDelivery(ctx context.Context, userID, webhookID, id string, now time.Time) (wallet.Delivery, error) {
	notFound := wallet.Errorf(wallet.EDeliveryNotFound, "delivery not found")
	if _, ok := wallet.CanonicalID(id); !ok {
		return wallet.Delivery{}, notFound
	}
	if _, ok := wallet.CanonicalID(webhookID); !ok {
		return wallet.Delivery{}, notFound
	}
	d, err := scanDelivery(s.pool.QueryRow(ctx, `
		WITH u AS (
			UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = $4
			FROM webhooks w WHERE d.id = $1 AND d.webhook_id = $2 AND w.id = d.webhook_id AND w.user_id = $3
			RETURNING d.*
		)
		SELECT `+deliveryColumns+` FROM u d JOIN notifications n ON n.id = d.notification_id`, id, webhookID, userID, now))
	if wallet.ErrorCode(err) == wallet.EDeliveryNotFound {
		return d, notFound
	}
	return d, err
}
