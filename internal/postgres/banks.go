package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

const bankSelect = `SELECT b.id, b.name, u.email, b.settlement_wallet_id, b.status,
	(SELECT coalesce(sum(s.balance), 0)::bigint FROM settlement_shards s WHERE s.wallet_id = b.settlement_wallet_id),
	b.created_at, b.disabled_at
	FROM banks b JOIN users u ON u.id = b.id`

func scanBank(row pgx.Row) (wallet.Bank, error) {
	var b wallet.Bank
	var status string
	err := row.Scan(&b.ID, &b.Name, &b.Email, &b.SettlementWalletID, &status, &b.Balance, &b.CreatedAt, &b.DisabledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Bank{}, wallet.Errorf(wallet.EBankNotFound, "bank not found")
	}
	b.Status = wallet.BankStatus(status)
	return b, translate(err)
}

// Banks implements wallet.Store: every bank, or the active ones, oldest
// first, with their settlement balances.
func (s *Store) Banks(ctx context.Context, activeOnly bool) ([]wallet.Bank, error) {
	rows, err := s.pool.Query(ctx, bankSelect+` WHERE NOT $1 OR b.status = 'active' ORDER BY b.created_at, b.id`, activeOnly)
	if err != nil {
		return nil, translate(err)
	}
	banks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Bank, error) { return scanBank(r) })
	return banks, translate(err)
}

// Bank implements wallet.Store.
func (s *Store) Bank(ctx context.Context, id string) (wallet.Bank, error) {
	if _, ok := wallet.CanonicalID(id); !ok {
		return wallet.Bank{}, wallet.Errorf(wallet.EBankNotFound, "bank not found")
	}
	return scanBank(s.pool.QueryRow(ctx, bankSelect+` WHERE b.id = $1`, id))
}

// BankStatus implements wallet.Store: one primary-key read, for the check
// every request of a bank makes.
func (s *Store) BankStatus(ctx context.Context, id string) (wallet.BankStatus, error) {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM banks WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", wallet.Errorf(wallet.EBankNotFound, "bank not found")
	}
	return wallet.BankStatus(status), translate(err)
}

// DisableBank implements wallet.Store. Disabling a disabled bank changes
// nothing.
func (s *Store) DisableBank(ctx context.Context, id string) (wallet.Bank, error) {
	if _, ok := wallet.CanonicalID(id); !ok {
		return wallet.Bank{}, wallet.Errorf(wallet.EBankNotFound, "bank not found")
	}
	if _, err := s.pool.Exec(ctx, `UPDATE banks SET status = 'disabled', disabled_at = now()
		WHERE id = $1 AND status = 'active'`, id); err != nil {
		return wallet.Bank{}, translate(err)
	}
	return s.Bank(ctx, id)
}
