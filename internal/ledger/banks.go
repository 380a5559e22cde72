package ledger

import (
	"context"

	"github.com/walletd/wallet/internal/wallet"
)

// Payment systems: each bank is an account of its own (RoleBank) with a
// settlement account, created by an admin (or from BANK_EMAIL at start).
// A disabled bank's credentials are refused on every request; what it
// accepted before is still applied.

// CreateBank creates a bank account and its settlement account. Returns
// EInvalidName, EInvalidEmail, EWeakPassword, EEmailTaken.
func (s *Service) CreateBank(ctx context.Context, name, email, password string) (wallet.Bank, error) {
	name, err := CheckName(name)
	if err != nil {
		return wallet.Bank{}, err
	}
	email, err = NormalizeEmail(email)
	if err != nil {
		return wallet.Bank{}, err
	}
	if err := CheckPassword(password); err != nil {
		return wallet.Bank{}, err
	}
	hash, err := s.HashPassword(password)
	if err != nil {
		return wallet.Bank{}, err
	}
	u, _, err := s.Accounts.CreateUser(ctx, wallet.User{Name: name, Email: email, PasswordHash: hash, Role: wallet.RoleBank}, s.Currency.Code)
	if err != nil {
		return wallet.Bank{}, err
	}
	return s.Store.Bank(ctx, u.ID)
}

// CheckBank returns EAccountDisabled for a disabled bank's account: the
// check every request of a bank makes, whichever way it authenticated.
func (s *Service) CheckBank(ctx context.Context, bankID string) error {
	status, err := s.Store.BankStatus(ctx, bankID)
	if err != nil {
		return err
	}
	if status != wallet.BankActive {
		return wallet.Errorf(wallet.EAccountDisabled, "this payment system's account is disabled")
	}
	return nil
}
