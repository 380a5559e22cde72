package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

const withdrawalColumns = `w.id, w.status, w.amount, w.currency, w.wallet_id, w.bank_id, w.settlement_wallet_id,
	w.details, coalesce(w.reference, ''), coalesce(w.failure_reason, ''), w.operation_id, w.pending_since,
	w.created_at, w.closed_at`

func scanWithdrawal(row pgx.Row) (wallet.Withdrawal, error) {
	var w wallet.Withdrawal
	var status string
	err := row.Scan(&w.ID, &status, &w.Amount, &w.Currency, &w.WalletID, &w.BankID, &w.SettlementWalletID,
		&w.Details, &w.Reference, &w.FailureReason, &w.OperationID, &w.PendingSince, &w.CreatedAt, &w.ClosedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Withdrawal{}, wallet.Errorf(wallet.EWithdrawalNotFound, "withdrawal not found")
	}
	w.Status = wallet.WithdrawalStatus(status)
	return w, translate(err)
}

// Withdrawal implements wallet.Store.
func (s *Store) Withdrawal(ctx context.Context, id string) (wallet.Withdrawal, error) {
	if _, ok := wallet.CanonicalID(id); !ok {
		return wallet.Withdrawal{}, wallet.Errorf(wallet.EWithdrawalNotFound, "withdrawal not found")
	}
	return scanWithdrawal(s.pool.QueryRow(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals w WHERE w.id = $1`, id))
}

// Withdrawals implements wallet.Store: newest first, a wallet's, a bank's
// or all of them.
func (s *Store) Withdrawals(ctx context.Context, f wallet.WithdrawalFilter) ([]wallet.Withdrawal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals w
		WHERE ($1::uuid IS NULL OR w.wallet_id = $1) AND ($2::uuid IS NULL OR w.bank_id = $2)
		  AND w.id < $3 AND ($4 = '' OR w.status = $4)
		ORDER BY w.id DESC LIMIT $5`, uuidOrNil(f.WalletID), uuidOrNil(f.BankID), before(f.Before), string(f.Status), f.Limit)
	if err != nil {
		return nil, translate(err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Withdrawal, error) { return scanWithdrawal(r) })
	return ws, translate(err)
}

// MarkWithdrawalProcessing implements wallet.Store: a conditional update,
// so it wins only against a withdrawal still pending (a cancel that
// committed first makes it EWithdrawalNotPending).
func (s *Store) MarkWithdrawalProcessing(ctx context.Context, id string) (wallet.Withdrawal, error) {
	w, err := scanWithdrawal(s.pool.QueryRow(ctx, `
		WITH changed AS (
			UPDATE withdrawals w SET status = 'processing' WHERE w.id = $1 AND w.status = 'pending'
			RETURNING w.*),
		`+tellSQL(wallet.SubjectWithdrawal)+`
		SELECT `+withdrawalColumns+` FROM changed w`, id))
	if wallet.ErrorCode(err) == wallet.EWithdrawalNotFound {
		if _, err := s.Withdrawal(ctx, id); err != nil {
			return wallet.Withdrawal{}, err
		}
		return wallet.Withdrawal{}, wallet.Errorf(wallet.EWithdrawalNotPending, "the withdrawal is not pending")
	}
	return w, err
}

// DueWithdrawals implements wallet.Store: withdrawals pending for longer
// than the timeout (by the database's clock), oldest first.
func (s *Store) DueWithdrawals(ctx context.Context, limit int) ([]wallet.Withdrawal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals w
		WHERE w.status = 'pending' AND w.pending_since <= now() - $1::interval
		ORDER BY w.pending_since LIMIT $2`, s.withdrawalTimeout(), limit)
	if err != nil {
		return nil, translate(err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Withdrawal, error) { return scanWithdrawal(r) })
	return ws, translate(err)
}
