package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

// CreateWebhook implements wallet.WebhookStore.
func (s *Store) CreateWebhook(ctx context.Context, w wallet.Webhook) (wallet.Webhook, error) {
	w.ID = newID()
	err := s.pool.QueryRow(ctx, `INSERT INTO webhooks (id, user_id, url, events, secret) VALUES ($1, $2, $3, $4, $5)
		RETURNING created_at`, w.ID, w.UserID, w.URL, w.Events, w.Secret).Scan(&w.CreatedAt)
	return w, translate(err)
}

// Webhooks implements wallet.WebhookStore.
func (s *Store) Webhooks(ctx context.Context, userID string) ([]wallet.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, user_id::text, url, events, secret, created_at FROM webhooks w
		WHERE w.user_id = $1 ORDER BY w.id`, userID)
	if err != nil {
		return nil, translate(err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Webhook, error) {
		var w wallet.Webhook
		err := r.Scan(&w.ID, &w.UserID, &w.URL, &w.Events, &w.Secret, &w.CreatedAt)
		return w, err
	})
	return ws, translate(err)
}

// DeleteWebhook implements wallet.WebhookStore.
func (s *Store) DeleteWebhook(ctx context.Context, userID, id string) error {
	notFound := wallet.Errorf(wallet.EWebhookNotFound, "webhook not found")
	if _, ok := wallet.CanonicalID(id); !ok {
		return notFound
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return notFound
	}
	return nil
}
