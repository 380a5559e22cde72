package ledger

import (
	"context"
	"log/slog"

	"github.com/walletd/wallet/internal/wallet"
)

// Holds: the payer reserves money for a recipient (POST /api/holds), who
// captures it in full, in part or in parts, or voids it; the service
// expires what is left at expires_at. Each step is an operation on the
// path of a transfer (locks, a pending row, the queue, the worker's
// commit); the commit decides, against the hold's row.

// planHold plans placing a hold: the payer's wallet is locked and its
// available funds checked, and the hold is stored with the operation.
func (s *Service) planHold(ctx context.Context, req Request) (*pendingAccept, error) {
	to, err := s.userWallet(ctx, req.ToWalletID)
	if err != nil {
		return nil, err
	}
	from, err := s.callerWallet(ctx, req.Caller, "place holds")
	if err != nil {
		return nil, err
	}
	if from.ID == to.ID {
		return nil, wallet.Errorf(wallet.ESameWallet, "cannot hold money for the same wallet")
	}
	if req.ExpiresIn < wallet.MinHoldExpiry || req.ExpiresIn > wallet.MaxHoldExpiry {
		return nil, wallet.Errorf(wallet.EInvalidExpiry, "expires_in must be 1 to 2592000 seconds")
	}
	return &pendingAccept{
		op:      wallet.Operation{Amount: req.Amount, FromWalletID: from.ID, ToWalletID: to.ID, Details: req.Details},
		wallets: []string{from.ID}, debit: true, newHold: &wallet.NewHold{ExpiresIn: req.ExpiresIn},
	}, nil
}

// planHoldAction plans a capture (by the recipient), a void (by the
// recipient or an admin) or an expiry (by the service). Every action on a
// hold locks its recipient's wallet, which serialises the accepts that
// decide on the hold's state; the payer's available balance is not
// theirs to decide (a capture takes what is already held, a void or an
// expiry only releases). A recipient's capture or void is planned without
// reading the hold: the caller's own wallet is the one to lock, and the
// group checks the hold's parties with its state (admit.go), so that a
// merchant capturing many holds costs no read per request.
func (s *Service) planHoldAction(ctx context.Context, req Request) (*pendingAccept, error) {
	op := wallet.Operation{Amount: req.Amount, Details: req.Details, HoldID: req.HoldID, CaptureFinal: req.CaptureFinal}
	if !req.byService {
		if req.Type == wallet.OpHoldExpire {
			return nil, wallet.Errorf(wallet.EForbidden, "only the service expires holds")
		}
		if own, err := s.walletOf(ctx, req.Caller.ID); err == nil && own.Kind == wallet.KindUser {
			op.ToWalletID = own.ID
			return &pendingAccept{op: op, wallets: []string{own.ID}, hold: req.HoldID, asRecipient: true}, nil
		}
	}
	// An admin's void, or the service's expiry: the hold names its
	// recipient.
	h, err := s.Store.Hold(ctx, req.HoldID)
	if err != nil {
		return nil, err
	}
	if !req.byService {
		if err := s.mayActOnHold(ctx, req.Caller, h, req.Type); err != nil {
			return nil, err
		}
	}
	op.FromWalletID, op.ToWalletID = h.FromWalletID, h.ToWalletID
	return &pendingAccept{op: op, wallets: []string{h.ToWalletID}, hold: h.ID}, nil
}

// mayActOnHold is the access rule of a hold: its payer, its recipient and
// admins may see it; only the recipient captures; the recipient or an
// admin voids. Anyone else gets EHoldNotFound, a party whose role may not
// EForbidden.
func (s *Service) mayActOnHold(ctx context.Context, caller wallet.User, h wallet.Hold, typ wallet.OpType) error {
	if err := s.SeeHold(ctx, caller, h); err != nil {
		return err
	}
	own, _ := s.walletOf(ctx, caller.ID)
	switch {
	case own.ID == h.ToWalletID:
		return nil
	case typ == wallet.OpHoldVoid && caller.Role == wallet.RoleAdmin:
		return nil
	}
	if typ == wallet.OpHoldCapture {
		return wallet.Errorf(wallet.EForbidden, "only the hold's recipient can capture it")
	}
	return wallet.Errorf(wallet.EForbidden, "only the hold's recipient or an admin can void it")
}

// SeeHold returns EHoldNotFound unless the caller may see the hold: its
// payer, its recipient, an admin.
func (s *Service) SeeHold(ctx context.Context, caller wallet.User, h wallet.Hold) error {
	if s.partyOrAdmin(ctx, caller, h.FromWalletID, h.ToWalletID) {
		return nil
	}
	return wallet.Errorf(wallet.EHoldNotFound, "hold not found")
}

// partyOrAdmin reports whether the caller is an admin or owns one of the
// wallets, the two parties of a hold or a payment request.
func (s *Service) partyOrAdmin(ctx context.Context, caller wallet.User, from, to string) bool {
	if caller.Role == wallet.RoleAdmin {
		return true
	}
	own, err := s.walletOf(ctx, caller.ID)
	return err == nil && (own.ID == from || own.ID == to)
}

// Hold returns a hold the caller may see.
func (s *Service) Hold(ctx context.Context, caller wallet.User, id string) (wallet.Hold, error) {
	h, err := s.Store.Hold(ctx, id)
	if err != nil {
		return wallet.Hold{}, err
	}
	return h, s.SeeHold(ctx, caller, h)
}

// ExpireHold submits the expiry of a hold whose time has come, as the
// service. A hold no longer active is done with; a hold whose expiry must
// wait (not due yet, or a capture accepted in time still being applied)
// returns its refusal, for the caller to try again later.
func (s *Service) ExpireHold(ctx context.Context, holdID string) error {
	_, err := s.Submit(ctx, Request{Type: wallet.OpHoldExpire, HoldID: holdID, byService: true})
	switch wallet.ErrorCode(err) {
	case "":
		s.Log.Info("hold expiry accepted", slog.String("hold_id", holdID))
		return nil
	case wallet.EHoldNotActive, wallet.EHoldNotFound:
		return nil
	}
	return err
}

// Holds lists the caller's holds: placed, placed for it, or both. An
// account without a wallet has none.
func (s *Service) Holds(ctx context.Context, caller wallet.User, f wallet.HoldFilter) ([]wallet.Hold, error) {
	own, err := s.walletOf(ctx, caller.ID)
	if wallet.ErrorCode(err) == wallet.EWalletNotFound || (err == nil && own.Kind != wallet.KindUser) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f.WalletID = own.ID
	return s.Store.Holds(ctx, f)
}
