package ledger

import (
	"context"
	"log/slog"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// Payment requests: the person to be paid asks (answered at once, no
// money moves), the payer approves with a transfer (an operation that
// approves the request in the commit that stores it), declines, or the
// requester cancels; the service expires an open request at expires_at.
// The request's state changes are conditional updates in Postgres, so of
// an approve and a cancel exactly one wins.

// CreatePaymentRequest asks the payer's wallet for amount, to be paid to
// the caller's. Returns EWalletNotFound, ESameWallet, EInvalidExpiry,
// ETooManyRequests.
func (s *Service) CreatePaymentRequest(ctx context.Context, caller wallet.User, payerWalletID string, amount wallet.Amount,
	details string, expiresIn time.Duration) (wallet.PaymentRequest, error) {
	to, err := s.callerWallet(ctx, caller, "request payments")
	if err != nil {
		return wallet.PaymentRequest{}, err
	}
	from, err := s.userWallet(ctx, payerWalletID)
	if err != nil {
		return wallet.PaymentRequest{}, err
	}
	if from.ID == to.ID {
		return wallet.PaymentRequest{}, wallet.Errorf(wallet.ESameWallet, "cannot ask your own wallet to pay you")
	}
	if expiresIn < wallet.MinHoldExpiry || expiresIn > wallet.MaxHoldExpiry {
		return wallet.PaymentRequest{}, wallet.Errorf(wallet.EInvalidExpiry, "expires_in must be 1 to 2592000 seconds")
	}
	if details, err = CheckDetails(details, false); err != nil {
		return wallet.PaymentRequest{}, err
	}
	r, err := s.Store.CreatePaymentRequest(ctx, wallet.PaymentRequest{Amount: amount, Currency: s.Currency.Code,
		FromWalletID: from.ID, ToWalletID: to.ID, RequestedBy: caller.ID, Details: details}, expiresIn)
	if err != nil {
		return wallet.PaymentRequest{}, err
	}
	s.schedule(ctx, wallet.Due{Kind: wallet.DueRequest, ID: r.ID, At: r.ExpiresAt})
	return r, nil
}

// SeePaymentRequest returns EPaymentRequestNotFound unless the caller may
// see the request: its requester, its payer, an admin.
func (s *Service) SeePaymentRequest(ctx context.Context, caller wallet.User, r wallet.PaymentRequest) error {
	if s.partyOrAdmin(ctx, caller, r.FromWalletID, r.ToWalletID) {
		return nil
	}
	return wallet.Errorf(wallet.EPaymentRequestNotFound, "payment request not found")
}

// PaymentRequest returns a request the caller may see.
func (s *Service) PaymentRequest(ctx context.Context, caller wallet.User, id string) (wallet.PaymentRequest, error) {
	r, err := s.Store.PaymentRequest(ctx, id)
	if err != nil {
		return wallet.PaymentRequest{}, err
	}
	return r, s.SeePaymentRequest(ctx, caller, r)
}

// PaymentRequests lists the caller's requests: incoming (to pay),
// outgoing (asked), or both. An account without a wallet has none.
func (s *Service) PaymentRequests(ctx context.Context, caller wallet.User, f wallet.RequestFilter) ([]wallet.PaymentRequest, error) {
	own, err := s.walletOf(ctx, caller.ID)
	if wallet.ErrorCode(err) == wallet.EWalletNotFound || (err == nil && own.Kind != wallet.KindUser) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f.WalletID = own.ID
	return s.Store.PaymentRequests(ctx, f)
}

// partyTo loads a request the caller may see and checks the caller is
// the party that may act: the payer or the requester.
func (s *Service) partyTo(ctx context.Context, caller wallet.User, id string, payer bool) (wallet.PaymentRequest, error) {
	r, err := s.PaymentRequest(ctx, caller, id)
	if err != nil {
		return wallet.PaymentRequest{}, err
	}
	own, _ := s.walletOf(ctx, caller.ID)
	switch {
	case payer && own.ID != r.FromWalletID:
		return wallet.PaymentRequest{}, wallet.Errorf(wallet.EForbidden, "only the payer can do that")
	case !payer && own.ID != r.ToWalletID:
		return wallet.PaymentRequest{}, wallet.Errorf(wallet.EForbidden, "only the requester can do that")
	}
	return r, nil
}

// ApprovePaymentRequest pays a request with a transfer from the payer:
// req carries the caller, the idempotency key and the wait; the rest
// comes from the request. The transfer's commit makes the request paid;
// its failure opens it again. Returns what Submit returns, and
// EPaymentRequestNotOpen.
func (s *Service) ApprovePaymentRequest(ctx context.Context, req Request) (Accepted, error) {
	r, err := s.partyTo(ctx, req.Caller, req.PaymentRequestID, true)
	if err != nil {
		return Accepted{}, err
	}
	req.Type, req.ToWalletID, req.Amount, req.Details = wallet.OpTransfer, r.ToWalletID, r.Amount, r.Details
	acc, err := s.Submit(ctx, req)
	if wallet.ErrorCode(err) == wallet.EPaymentRequestNotOpen {
		// Past its expiry, perhaps, and not swept yet: expire it now.
		_, _ = s.Store.ExpirePaymentRequests(ctx, []string{r.ID}, 1)
	}
	return acc, err
}

// DeclinePaymentRequest closes an open request on the payer's word.
func (s *Service) DeclinePaymentRequest(ctx context.Context, caller wallet.User, id, reason string) (wallet.PaymentRequest, error) {
	if _, err := s.partyTo(ctx, caller, id, true); err != nil {
		return wallet.PaymentRequest{}, err
	}
	reason, err := CheckDetails(reason, false)
	if err != nil {
		return wallet.PaymentRequest{}, err
	}
	return s.Store.ClosePaymentRequest(ctx, id, wallet.RequestDeclined, reason)
}

// CancelPaymentRequest closes an open request on the requester's word.
func (s *Service) CancelPaymentRequest(ctx context.Context, caller wallet.User, id string) (wallet.PaymentRequest, error) {
	if _, err := s.partyTo(ctx, caller, id, false); err != nil {
		return wallet.PaymentRequest{}, err
	}
	return s.Store.ClosePaymentRequest(ctx, id, wallet.RequestCancelled, "")
}

// ExpirePaymentRequests expires open requests past their expiry: those
// of ids, or any (at most limit) when ids is nil.
func (s *Service) ExpirePaymentRequests(ctx context.Context, ids []string, limit int) (int, error) {
	rs, err := s.Store.ExpirePaymentRequests(ctx, ids, limit)
	for _, r := range rs {
		s.Log.Info("payment request expired", slog.String("payment_request_id", r.ID))
	}
	return len(rs), err
}
