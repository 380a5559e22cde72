package ledger

import (
	"context"
	"log/slog"

	"github.com/walletd/wallet/internal/wallet"
)

// Withdrawals: a wallet owner sends money out through a payment system.
// The withdrawal operation reserves the amount at once; the bank marks it
// processing, then completes it (a withdrawal_complete moves the money to
// its settlement account) or fails it (a withdrawal_fail releases it); the
// owner may cancel while it is pending; the service expires one left
// pending for WITHDRAWAL_TIMEOUT. Every end is an operation on the path of
// a transfer, decided in the worker's commit against the withdrawal's row.

// planWithdrawal plans a withdrawal through an active bank.
func (s *Service) planWithdrawal(ctx context.Context, req Request) (*pendingAccept, error) {
	bank, err := s.Store.Bank(ctx, req.BankID)
	if err == nil && bank.Status != wallet.BankActive {
		err = wallet.Errorf(wallet.EBankNotFound, "bank not found")
	}
	if err != nil {
		return nil, err
	}
	from, err := s.callerWallet(ctx, req.Caller, "withdraw")
	if err != nil {
		return nil, err
	}
	details, err := CheckDetails(req.Details, true)
	if err != nil {
		return nil, err
	}
	return &pendingAccept{
		op:      wallet.Operation{Amount: req.Amount, FromWalletID: from.ID, ToWalletID: bank.SettlementWalletID, Details: details},
		wallets: []string{from.ID}, debit: true, newWithdrawal: &wallet.Withdrawal{BankID: bank.ID},
	}, nil
}

// planWithdrawalEnd plans a complete (by its bank), a fail (by its bank
// or an admin), a cancel (by its owner) or an expiry (by the service).
func (s *Service) planWithdrawalEnd(ctx context.Context, req Request) (*pendingAccept, error) {
	w, err := s.Store.Withdrawal(ctx, req.WithdrawalID)
	if err != nil {
		return nil, err
	}
	endAs := req.EndAs
	if req.Type == wallet.OpWithdrawalComplete {
		endAs = ""
	}
	if !req.byService {
		if err := s.mayEndWithdrawal(ctx, req.Caller, w, req.Type, endAs); err != nil {
			return nil, err
		}
	}
	return &pendingAccept{
		op: wallet.Operation{Amount: w.Amount, FromWalletID: w.WalletID, ToWalletID: w.SettlementWalletID,
			Details: req.Details, WithdrawalID: w.ID, EndAs: endAs},
		wallets: []string{w.WalletID}, withdrawal: w.ID,
	}, nil
}

// mayEndWithdrawal is the access rule for ending a withdrawal.
func (s *Service) mayEndWithdrawal(ctx context.Context, caller wallet.User, w wallet.Withdrawal, typ wallet.OpType, endAs wallet.WithdrawalStatus) error {
	if err := s.SeeWithdrawal(ctx, caller, w); err != nil {
		return err
	}
	own, _ := s.walletOf(ctx, caller.ID)
	isBank := caller.ID == w.BankID
	switch {
	case typ == wallet.OpWithdrawalComplete && isBank:
		return nil
	case endAs == wallet.WithdrawalFailed && (isBank || caller.Role == wallet.RoleAdmin):
		return nil
	case endAs == wallet.WithdrawalCancelled && own.ID == w.WalletID:
		return nil
	case endAs == wallet.WithdrawalExpired:
		return wallet.Errorf(wallet.EForbidden, "only the service expires withdrawals")
	}
	return wallet.Errorf(wallet.EForbidden, "your role may not do that to this withdrawal")
}

// SeeWithdrawal returns EWithdrawalNotFound unless the caller may see the
// withdrawal: its owner, its bank, an admin.
func (s *Service) SeeWithdrawal(ctx context.Context, caller wallet.User, w wallet.Withdrawal) error {
	if caller.Role == wallet.RoleAdmin || caller.ID == w.BankID {
		return nil
	}
	if own, err := s.walletOf(ctx, caller.ID); err == nil && own.ID == w.WalletID {
		return nil
	}
	return wallet.Errorf(wallet.EWithdrawalNotFound, "withdrawal not found")
}

// Withdrawal returns a withdrawal the caller may see.
func (s *Service) Withdrawal(ctx context.Context, caller wallet.User, id string) (wallet.Withdrawal, error) {
	w, err := s.Store.Withdrawal(ctx, id)
	if err != nil {
		return wallet.Withdrawal{}, err
	}
	return w, s.SeeWithdrawal(ctx, caller, w)
}

// Withdrawals lists what the caller may see: a wallet owner's own, a
// bank's addressed to it, an admin's all.
func (s *Service) Withdrawals(ctx context.Context, caller wallet.User, f wallet.WithdrawalFilter) ([]wallet.Withdrawal, error) {
	f.WalletID, f.BankID = "", ""
	switch caller.Role {
	case wallet.RoleAdmin:
	case wallet.RoleBank:
		f.BankID = caller.ID
	default:
		own, err := s.callerWallet(ctx, caller, "withdraw")
		if err != nil {
			return nil, err
		}
		f.WalletID = own.ID
	}
	return s.Store.Withdrawals(ctx, f)
}

// MarkWithdrawalProcessing records that the withdrawal's bank took it:
// from then on only the bank can end it.
func (s *Service) MarkWithdrawalProcessing(ctx context.Context, caller wallet.User, id string) (wallet.Withdrawal, error) {
	w, err := s.Withdrawal(ctx, caller, id)
	if err != nil {
		return wallet.Withdrawal{}, err
	}
	if caller.ID != w.BankID {
		return wallet.Withdrawal{}, wallet.Errorf(wallet.EForbidden, "only the withdrawal's bank can take it")
	}
	return s.Store.MarkWithdrawalProcessing(ctx, id)
}

// ExpireWithdrawal submits the expiry of a withdrawal pending past its
// timeout, as the service. One no longer pending is done with; one not
// due yet returns its refusal, for the caller to try again later.
func (s *Service) ExpireWithdrawal(ctx context.Context, id string) error {
	_, err := s.Submit(ctx, Request{Type: wallet.OpWithdrawalFail, WithdrawalID: id, EndAs: wallet.WithdrawalExpired,
		Details: "not taken by the bank in time", byService: true})
	switch wallet.ErrorCode(err) {
	case "":
		s.Log.Info("withdrawal expiry accepted", slog.String("withdrawal_id", id))
		return nil
	case wallet.EWithdrawalNotFound:
		return nil
	case wallet.EWithdrawalNotPending:
		// Taken, ended, or not due yet: only the last is worth a retry.
		w, err := s.Store.Withdrawal(ctx, id)
		if err == nil && w.Status != wallet.WithdrawalPending {
			return nil
		}
	}
	return err
}
