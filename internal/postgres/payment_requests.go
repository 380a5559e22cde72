package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

const requestColumns = `p.id, p.status, p.amount, p.currency, p.from_wallet_id, p.to_wallet_id, p.requested_by,
	p.details, coalesce(p.decline_reason, ''), coalesce(p.operation_id::text, ''), p.expires_at, p.created_at, p.closed_at`

func scanRequest(row pgx.Row) (wallet.PaymentRequest, error) {
	var r wallet.PaymentRequest
	var status string
	err := row.Scan(&r.ID, &status, &r.Amount, &r.Currency, &r.FromWalletID, &r.ToWalletID, &r.RequestedBy,
		&r.Details, &r.DeclineReason, &r.OperationID, &r.ExpiresAt, &r.CreatedAt, &r.ClosedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.PaymentRequest{}, wallet.Errorf(wallet.EPaymentRequestNotFound, "payment request not found")
	}
	r.Status = wallet.PaymentRequestStatus(status)
	return r, translate(err)
}

// CreatePaymentRequest implements wallet.Store. The requester's open
// requests are counted under a transaction lock of their wallet, so
// concurrent creates cannot pass the cap together.
func (s *Store) CreatePaymentRequest(ctx context.Context, r wallet.PaymentRequest, expiresIn time.Duration) (wallet.PaymentRequest, error) {
	r.ID = newID()
	var out wallet.PaymentRequest
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "payment_requests:"+r.ToWalletID); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM payment_requests WHERE to_wallet_id = $1 AND status = 'open'`,
			r.ToWalletID).Scan(&open); err != nil {
			return err
		}
		if open >= wallet.MaxOpenRequests {
			return wallet.Errorf(wallet.ETooManyRequests, "at most %d payment requests may be open at once", wallet.MaxOpenRequests)
		}
		var err error
		out, err = scanRequest(tx.QueryRow(ctx, `
			WITH changed AS (
				INSERT INTO payment_requests (id, amount, currency, from_wallet_id, to_wallet_id, requested_by, details, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval)
				RETURNING *),
			`+tellSQL(wallet.SubjectPaymentRequest)+`
			SELECT `+requestColumns+` FROM changed p`,
			r.ID, int64(r.Amount), r.Currency, r.FromWalletID, r.ToWalletID, r.RequestedBy, r.Details, expiresIn))
		return err
	})
	if err != nil {
		return wallet.PaymentRequest{}, translate(err)
	}
	return out, nil
}

// PaymentRequest implements wallet.Store.
func (s *Store) PaymentRequest(ctx context.Context, id string) (wallet.PaymentRequest, error) {
	if _, ok := wallet.CanonicalID(id); !ok {
		return wallet.PaymentRequest{}, wallet.Errorf(wallet.EPaymentRequestNotFound, "payment request not found")
	}
	return scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM payment_requests p WHERE p.id = $1`, id))
}

// PaymentRequests implements wallet.Store: incoming (the wallet is asked
// to pay) or outgoing (it asked), newest first.
func (s *Store) PaymentRequests(ctx context.Context, f wallet.RequestFilter) ([]wallet.PaymentRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM payment_requests p
		WHERE ((p.from_wallet_id = $1 AND $5 <> 'outgoing') OR (p.to_wallet_id = $1 AND $5 <> 'incoming'))
		  AND p.id < $2 AND ($3 = '' OR p.status = $3)
		ORDER BY p.id DESC LIMIT $4`, f.WalletID, before(f.Before), string(f.Status), f.Limit, f.Direction)
	if err != nil {
		return nil, translate(err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.PaymentRequest, error) { return scanRequest(r) })
	return rs, translate(err)
}

// ClosePaymentRequest implements wallet.Store: a conditional update, so
// of a close and an approve (which needs the request open too) exactly one
// wins; a request past its expiry is closed as expired instead, and the
// caller learns it was not open.
func (s *Store) ClosePaymentRequest(ctx context.Context, id string, as wallet.PaymentRequestStatus, reason string) (wallet.PaymentRequest, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `
		WITH changed AS (
			UPDATE payment_requests p SET status = $2, decline_reason = $3, closed_at = now()
			WHERE p.id = $1 AND p.status = 'open' AND p.expires_at > now()
			RETURNING p.*),
		`+tellSQL(wallet.SubjectPaymentRequest)+`
		SELECT `+requestColumns+` FROM changed p`, id, string(as), nullString(reason)))
	if wallet.ErrorCode(err) == wallet.EPaymentRequestNotFound {
		if _, err := s.ExpirePaymentRequests(ctx, []string{id}, 1); err != nil {
			return wallet.PaymentRequest{}, err
		}
		if _, err := s.PaymentRequest(ctx, id); err != nil {
			return wallet.PaymentRequest{}, err
		}
		return wallet.PaymentRequest{}, wallet.Errorf(wallet.EPaymentRequestNotOpen, "the payment request is not open")
	}
	return r, err
}

// ExpirePaymentRequests implements wallet.Store: open requests past their
// expiry (of ids, or any when ids is nil) become expired, at most limit.
func (s *Store) ExpirePaymentRequests(ctx context.Context, ids []string, limit int) ([]wallet.PaymentRequest, error) {
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM payment_requests
			WHERE status = 'open' AND expires_at <= now() AND ($1::uuid[] IS NULL OR id = ANY($1))
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),
		changed AS (
			UPDATE payment_requests p SET status = 'expired', closed_at = now()
			FROM due WHERE p.id = due.id AND p.status = 'open'
			RETURNING p.*),
		`+tellSQL(wallet.SubjectPaymentRequest)+`
		SELECT `+requestColumns+` FROM changed p`, ids, limit)
	if err != nil {
		return nil, translate(err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.PaymentRequest, error) { return scanRequest(r) })
	return rs, translate(err)
}
