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

// deliveryTx is keyedTx with a plan made for each execution. The
// deliveries' statements join the log, the schedule, the notifications
// and the endpoints, and a connection's generic plan, cached while those
// were small, chose joins that read a whole index for every batch, key
// conditions or not; sequential scans off does not stop that. A custom
// plan sees the batch's arrays and the tables as they are now
// (TestDeliveryPlansFollowTheTables). Planning is per batch of up to
// DeliveryBatch deliveries, not per delivery.
var deliveryTx = pgx.TxOptions{BeginQuery: keyedTx.BeginQuery + "; SET LOCAL plan_cache_mode = force_custom_plan"}

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

// defaultRelayFewUsers is how many users with endpoints the relay reads
// the notifications of one by one; past it, it reads them all.
const defaultRelayFewUsers = 256

// RelayDeliveries implements wallet.DeliveryStore. One relay at a time
// (the cursor row's lock) reads the notifications after its cursor in
// (xid, id) order and only below the oldest transaction running when it
// began, so a notification that commits late is relayed late, never
// skipped; it turns those whose user has a matching endpoint into
// deliveries and moves the cursor on, in one transaction.
//
// Which notifications it reads depends on who has endpoints. With none
// active it reads nothing and moves the cursor to the newest
// notification below that bound; when the active endpoints belong to at
// most relayFewUsers users it reads only theirs (notifications_user, one
// range per user); with more it reads every notification in order. A
// service with no webhooks, or a few merchants with them, thus does not
// read each of its events back once a second.
func (s *Store) RelayDeliveries(ctx context.Context, now time.Time, limit int) ([]wallet.Delivery, bool, error) {
	relayFewUsers := defaultRelayFewUsers
	if s.relayFewUsers != nil {
		relayFewUsers = *s.relayFewUsers
	}
	var out []wallet.Delivery
	more := false
	err := pgx.BeginTxFunc(ctx, s.pool, deliveryTx, func(tx pgx.Tx) error {
		var curXID, bound int64
		var curID string
		// Every transaction below bound has ended, so the later
		// statements (each with a snapshot of its own) see all the
		// notifications below it that will ever exist.
		if err := tx.QueryRow(ctx, `SELECT xid::text::bigint, notification_id::text,
				pg_snapshot_xmin(pg_current_snapshot())::text::bigint FROM webhook_relay WHERE id = 1 FOR UPDATE`).
			Scan(&curXID, &curID, &bound); err != nil {
			return err
		}
		// Read in webhooks_user's order, up to one user past the few.
		rows, err := tx.Query(ctx, `SELECT u::text FROM (SELECT DISTINCT user_id AS u FROM webhooks
			WHERE disabled_at IS NULL ORDER BY user_id LIMIT $1) few`, relayFewUsers+1)
		if err != nil {
			return err
		}
		hookUsers, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		cur, b := strconv.FormatInt(curXID, 10), strconv.FormatInt(bound, 10)
		if len(hookUsers) > relayFewUsers {
			rows, err = tx.Query(ctx, `SELECT n.id::text, n.user_id::text, n.type, n.xid::text::bigint, n.created_at FROM notifications n
				WHERE (n.xid, n.id) > ($1::text::xid8, $2::uuid) AND n.xid < $3::text::xid8
				ORDER BY n.xid, n.id LIMIT $4`, cur, curID, b, limit)
		} else if len(hookUsers) > 0 {
			rows, err = tx.Query(ctx, `SELECT n.id::text, n.user_id::text, n.type, n.xid::text::bigint, n.created_at FROM notifications n
				WHERE n.user_id = ANY($5::uuid[]) AND (n.xid, n.id) > ($1::text::xid8, $2::uuid) AND n.xid < $3::text::xid8
				ORDER BY n.xid, n.id LIMIT $4`, cur, curID, b, limit, hookUsers)
		}
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
		if len(hookUsers) > 0 {
			if _, err := pgx.ForEachRow(rows, []any{&nt.id, &nt.user, &nt.typ, &nt.xid, &nt.at}, func() error {
				notes = append(notes, nt)
				return nil
			}); err != nil {
				return err
			}
		}
		more = len(notes) == limit
		// When only some users' notifications were read and none is left
		// past them, the cursor moves past every notification below the
		// bound; else to the last one read.
		var lastXID int64
		var lastID string
		switch {
		case !more && len(hookUsers) <= relayFewUsers:
			err := tx.QueryRow(ctx, `SELECT n.xid::text::bigint, n.id::text FROM notifications n
				WHERE (n.xid, n.id) > ($1::text::xid8, $2::uuid) AND n.xid < $3::text::xid8
				ORDER BY n.xid DESC, n.id DESC LIMIT 1`, cur, curID, b).Scan(&lastXID, &lastID)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // nothing new
			}
			if err != nil {
				return err
			}
		case len(notes) > 0:
			lastXID, lastID = notes[len(notes)-1].xid, notes[len(notes)-1].id
		default:
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_relay SET xid = $1::text::xid8, notification_id = $2 WHERE id = 1`,
			strconv.FormatInt(lastXID, 10), lastID); err != nil {
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
		var ids, hooks, nids, types []string
		for _, n := range notes {
			for _, h := range byUser[n.user] {
				if !n.at.Before(h.since) && slices.Contains(h.events, n.typ) {
					ids, hooks, nids, types = append(ids, newID()), append(hooks, h.id), append(nids, n.id), append(types, n.typ)
				}
			}
		}
		if len(ids) == 0 {
			return nil
		}
		// What is returned is known here: the insert says which it made
		// (a delivery relayed before, by a relay that crashed before
		// moving the cursor, is not made twice), and nothing is read back.
		rows, err = tx.Query(ctx, `
			WITH ins AS (
				INSERT INTO webhook_deliveries (id, webhook_id, notification_id, next_attempt_at, created_at)
				SELECT v.id, v.hook, v.note, $4, $4 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS v(id, hook, note)
				ON CONFLICT (webhook_id, notification_id) DO NOTHING
				RETURNING id
			), sched AS (
				INSERT INTO webhook_schedule (delivery_id, due_at) SELECT id, $5 FROM ins
			)
			SELECT id::text FROM ins`,
			ids, hooks, nids, now, now.Add(wallet.DeliveryLease))
		if err != nil {
			return err
		}
		made, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		index := make(map[string]int, len(ids))
		for i, id := range ids {
			index[id] = i
		}
		for _, id := range made {
			i := index[id]
			at := now
			out = append(out, wallet.Delivery{ID: id, WebhookID: hooks[i], NotificationID: nids[i], Type: types[i],
				Status: wallet.DeliveryPending, NextAttemptAt: &at, CreatedAt: now})
		}
		return nil
	})
	return out, more, translate(err)
}

// ClaimDeliveries implements wallet.DeliveryStore: one query for the due
// ones with their endpoints, one more for their events (deliveryTx).
func (s *Store) ClaimDeliveries(ctx context.Context, ids []string, now time.Time) ([]wallet.DeliveryWork, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if c, ok := wallet.CanonicalID(id); ok {
			valid = append(valid, c)
		}
	}
	var work []wallet.DeliveryWork
	err := pgx.BeginTxFunc(ctx, s.pool, deliveryTx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, claimDeliveriesSQL, valid, now.Add(wallet.DeliveryClockSkew))
		if err != nil {
			return err
		}
		work, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.DeliveryWork, error) {
			var w wallet.DeliveryWork
			d := &w.Delivery
			err := r.Scan(&d.ID, &d.WebhookID, &d.NotificationID, &d.Type, &d.Status, &d.Attempts,
				&d.LastStatusCode, &d.LastError, &d.NextAttemptAt, &d.CreatedAt,
				&w.Webhook.UserID, &w.Webhook.URL, &w.Webhook.Events, &w.Webhook.Secret, &w.Webhook.CreatedAt, &w.Disabled)
			w.Webhook.ID = d.WebhookID
			return w, err
		})
		if err != nil || len(work) == 0 {
			return err
		}
		nids := make([]string, len(work))
		for i, w := range work {
			nids[i] = w.Delivery.NotificationID
		}
		ns, err := queryNotificationsOn(ctx, tx, len(nids), notificationSelect+` WHERE n.id = ANY($1)`, nids)
		if err != nil {
			return err
		}
		byID := make(map[string]wallet.Notification, len(ns))
		for _, n := range ns {
			byID[n.ID] = n
		}
		for i := range work {
			n, ok := byID[work[i].Delivery.NotificationID]
			if !ok {
				return errors.New("postgres: a delivery's notification is missing")
			}
			work[i].Event = n
		}
		return nil
	})
	if err != nil || len(work) == 0 {
		return nil, translate(err)
	}
	return work, nil
}

// RecordAttempts implements wallet.DeliveryStore: one statement for the
// outcomes, their schedule (a delivery that ended leaves it; one still
// pending is due its lease after its next attempt) and disabling the
// endpoints that answered 410.
func (s *Store) RecordAttempts(ctx context.Context, as []wallet.Attempt) ([]string, error) {
	n := len(as)
	if n == 0 {
		return nil, nil
	}
	ids, statuses, errs := make([]string, n), make([]string, n), make([]*string, n)
	num, made, codes := make([]int32, n), make([]bool, n), make([]int32, n)
	next, disable := make([]*time.Time, n), make([]bool, n)
	for i, a := range as {
		ids[i], statuses[i], errs[i], next[i] = a.DeliveryID, a.Status, nullString(a.Error), a.NextAttemptAt
		num[i], made[i], codes[i], disable[i] = int32(a.N), a.Made, int32(a.StatusCode), a.Disable
	}
	var recorded []string
	err := pgx.BeginTxFunc(ctx, s.pool, deliveryTx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, recordAttemptsSQL, ids, num, made, codes, errs, statuses, next, disable, wallet.DeliveryLease)
		if err != nil {
			return err
		}
		recorded, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return recorded, translate(err)
}

// claimDeliveriesSQL is ClaimDeliveries' first statement.
const claimDeliveriesSQL = `
	SELECT ` + deliveryColumns + `, w.user_id::text, w.url, w.events, w.secret, w.created_at, w.disabled_at IS NOT NULL
	FROM webhook_deliveries d JOIN notifications n ON n.id = d.notification_id JOIN webhooks w ON w.id = d.webhook_id
	WHERE d.id = ANY($1) AND d.status = 'pending' AND d.next_attempt_at <= $2
	ORDER BY d.id`

// recordAttemptsSQL is RecordAttempts' statement. Every table is reached
// by key through = ANY of an array (an index condition), never by a join
// alone: with the small row estimates of fresh tables, a connection's
// generic plan scanned the whole index of the deliveries or of the
// schedule (a queue, full of dead rows between vacuums) for each batch
// and filtered it against the other side (TestDeliveryPlansFollowTheTables).
const recordAttemptsSQL = `
	WITH u AS (
		UPDATE webhook_deliveries d SET attempts = v.n,
			last_status_code = CASE WHEN v.made THEN nullif(v.code, 0) ELSE d.last_status_code END,
			last_error = CASE WHEN v.made THEN v.err ELSE d.last_error END,
			status = v.status, next_attempt_at = v.next
		FROM unnest($1::uuid[], $2::int[], $3::bool[], $4::int[], $5::text[], $6::text[], $7::timestamptz[], $8::bool[])
			AS v(id, n, made, code, err, status, next, disable)
		WHERE d.id = ANY($1::uuid[]) AND d.id = v.id AND d.status = 'pending'
			AND d.attempts = v.n - CASE WHEN v.made THEN 1 ELSE 0 END
		RETURNING d.id, d.webhook_id, v.disable, v.next),
	off AS (
		UPDATE webhooks w SET disabled_at = coalesce(w.disabled_at, now())
		WHERE w.id = ANY(ARRAY(SELECT webhook_id FROM u WHERE disable))),
	ended AS (
		DELETE FROM webhook_schedule s WHERE s.delivery_id = ANY(ARRAY(SELECT id FROM u WHERE next IS NULL))),
	later AS (
		UPDATE webhook_schedule s SET due_at = u.next + $9::interval FROM u
		WHERE s.delivery_id = ANY(ARRAY(SELECT id FROM u WHERE next IS NOT NULL)) AND s.delivery_id = u.id)
	SELECT id::text FROM u`

// dueDeliveriesSQL is DueDeliveries' statement; its update reaches the
// schedule by key, as recordAttemptsSQL's do.
const dueDeliveriesSQL = `
	WITH due AS (
		SELECT delivery_id FROM webhook_schedule WHERE due_at < $1
		ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED),
	taken AS (
		UPDATE webhook_schedule s SET due_at = $3 WHERE s.delivery_id = ANY(ARRAY(SELECT delivery_id FROM due))
		RETURNING s.delivery_id)
	SELECT ` + deliveryColumns + `
	FROM taken t JOIN webhook_deliveries d ON d.id = t.delivery_id JOIN notifications n ON n.id = d.notification_id
	ORDER BY d.next_attempt_at`

// DueDeliveries implements wallet.DeliveryStore. Concurrent sweeps take
// different rows (SKIP LOCKED).
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]wallet.Delivery, error) {
	var out []wallet.Delivery
	err := pgx.BeginTxFunc(ctx, s.pool, deliveryTx, func(tx pgx.Tx) error {
		var err error
		out, err = collectDeliveries(tx.Query(ctx, dueDeliveriesSQL, now, limit, now.Add(wallet.DeliveryLease)))
		return err
	})
	return out, translate(err)
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
		), sched AS (
			INSERT INTO webhook_schedule (delivery_id, due_at) SELECT id, $5 FROM u
			ON CONFLICT (delivery_id) DO UPDATE SET due_at = excluded.due_at
		)
		SELECT `+deliveryColumns+` FROM u d JOIN notifications n ON n.id = d.notification_id`,
		id, webhookID, userID, now, now.Add(wallet.DeliveryLease)))
	if wallet.ErrorCode(err) == wallet.EDeliveryNotFound {
		return d, notFound
	}
	return d, err
}
