package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

const holdColumns = `h.id, h.status, h.amount, h.captured, h.released, h.currency, h.from_wallet_id, h.to_wallet_id,
	h.details, coalesce(h.failure_code, ''), h.operation_id, h.expires_at, h.created_at, h.closed_at`

func scanHold(row pgx.Row) (wallet.Hold, error) {
	var h wallet.Hold
	var status string
	err := row.Scan(&h.ID, &status, &h.Amount, &h.Captured, &h.Released, &h.Currency, &h.FromWalletID, &h.ToWalletID,
		&h.Details, &h.FailureCode, &h.OperationID, &h.ExpiresAt, &h.CreatedAt, &h.ClosedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Hold{}, wallet.Errorf(wallet.EHoldNotFound, "hold not found")
	}
	h.Status = wallet.HoldStatus(status)
	return h, translate(err)
}

// Hold implements wallet.Store.
func (s *Store) Hold(ctx context.Context, id string) (wallet.Hold, error) {
	if _, ok := wallet.CanonicalID(id); !ok {
		return wallet.Hold{}, wallet.Errorf(wallet.EHoldNotFound, "hold not found")
	}
	return scanHold(s.pool.QueryRow(ctx, `SELECT `+holdColumns+` FROM holds h WHERE h.id = $1`, id))
}

// Holds implements wallet.Store: a wallet's holds as payer or recipient,
// newest first.
func (s *Store) Holds(ctx context.Context, f wallet.HoldFilter) ([]wallet.Hold, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+` FROM holds h
		WHERE ((h.from_wallet_id = $1 AND $5 <> 'recipient') OR (h.to_wallet_id = $1 AND $5 <> 'payer'))
		  AND h.id < $2 AND ($3 = '' OR h.status = $3)
		ORDER BY h.id DESC LIMIT $4`, f.WalletID, before(f.Before), string(f.Status), f.Limit, f.Role)
	if err != nil {
		return nil, translate(err)
	}
	holds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Hold, error) { return scanHold(r) })
	return holds, translate(err)
}

// DueHolds implements wallet.Store: active holds whose expiry has come
// (by the database's clock), oldest first. closed_at IS NULL is what
// lets it read the index of open holds (holds_open_due).
func (s *Store) DueHolds(ctx context.Context, limit int) ([]wallet.Hold, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+` FROM holds h
		WHERE h.closed_at IS NULL AND h.status = 'active' AND h.expires_at <= now()
		ORDER BY h.expires_at LIMIT $1`, limit)
	if err != nil {
		return nil, translate(err)
	}
	holds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Hold, error) { return scanHold(r) })
	return holds, translate(err)
}

// before is a page's exclusive upper bound on ids: all of them when
// unset.
func before(id string) string {
	if id == "" {
		return "ffffffff-ffff-ffff-ffff-ffffffffffff"
	}
	return id
}
