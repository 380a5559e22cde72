package ledger

import (
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// OperationView is an operation as the API shows it to one party: the
// API's answers and the events (feed, live updates, webhooks) alike.
type OperationView struct {
	OperationID  string     `json:"operation_id"`
	Type         string     `json:"type"`
	Status       string     `json:"status"`
	FailureCode  string     `json:"failure_code,omitempty"`
	Amount       string     `json:"amount"`
	Currency     string     `json:"currency"`
	FromWalletID string     `json:"from_wallet_id,omitempty"`
	ToWalletID   string     `json:"to_wallet_id"`
	Details      string     `json:"details"`
	CreatedAt    time.Time  `json:"created_at"`
	CompletedAt  *time.Time `json:"completed_at,omitempty"`
	BalanceAfter *string    `json:"balance_after,omitempty"`
	// What the operation belongs to, if anything.
	HoldID           string `json:"hold_id,omitempty"`
	WithdrawalID     string `json:"withdrawal_id,omitempty"`
	PaymentRequestID string `json:"payment_request_id,omitempty"`
}

// ViewOperation renders op; its BalanceAfter is the viewer's.
func ViewOperation(op wallet.Operation, cur wallet.Currency) OperationView {
	j := OperationView{
		OperationID: op.ID, Type: string(op.Type), Status: string(op.Status), FailureCode: op.FailureCode,
		Amount: cur.Format(op.Amount), Currency: op.Currency, FromWalletID: op.FromWalletID,
		ToWalletID: op.ToWalletID, Details: op.Details, CreatedAt: op.CreatedAt.UTC(),
		HoldID: op.HoldID, WithdrawalID: op.WithdrawalID, PaymentRequestID: op.PaymentRequestID,
	}
	if op.CompletedAt != nil {
		t := op.CompletedAt.UTC()
		j.CompletedAt = &t
	}
	if op.BalanceAfter != nil {
		b := cur.Format(*op.BalanceAfter)
		j.BalanceAfter = &b
	}
	return j
}

// HoldView is a hold as the API shows it.
type HoldView struct {
	HoldID       string     `json:"hold_id"`
	Status       string     `json:"status"`
	Amount       string     `json:"amount"`
	Captured     string     `json:"captured"`
	Remaining    string     `json:"remaining"`
	Currency     string     `json:"currency"`
	FromWalletID string     `json:"from_wallet_id"`
	ToWalletID   string     `json:"to_wallet_id"`
	Details      string     `json:"details"`
	ExpiresAt    time.Time  `json:"expires_at"`
	CreatedAt    time.Time  `json:"created_at"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	FailureCode  string     `json:"failure_code,omitempty"`
}

// ViewHold renders h.
func ViewHold(h wallet.Hold, cur wallet.Currency) HoldView {
	return HoldView{
		HoldID: h.ID, Status: string(h.Status), Amount: cur.Format(h.Amount), Captured: cur.Format(h.Captured),
		Remaining: cur.Format(h.Remaining()), Currency: h.Currency, FromWalletID: h.FromWalletID, ToWalletID: h.ToWalletID,
		Details: h.Details, ExpiresAt: h.ExpiresAt.UTC(), CreatedAt: h.CreatedAt.UTC(), ClosedAt: utc(h.ClosedAt),
		FailureCode: h.FailureCode,
	}
}

// WithdrawalView is a withdrawal as the API shows it.
type WithdrawalView struct {
	WithdrawalID  string     `json:"withdrawal_id"`
	Status        string     `json:"status"`
	Amount        string     `json:"amount"`
	Currency      string     `json:"currency"`
	WalletID      string     `json:"wallet_id"`
	BankID        string     `json:"bank_id"`
	Details       string     `json:"details"`
	Reference     string     `json:"reference,omitempty"`
	FailureReason string     `json:"failure_reason,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
}

// ViewWithdrawal renders w.
func ViewWithdrawal(w wallet.Withdrawal, cur wallet.Currency) WithdrawalView {
	return WithdrawalView{
		WithdrawalID: w.ID, Status: string(w.Status), Amount: cur.Format(w.Amount), Currency: w.Currency,
		WalletID: w.WalletID, BankID: w.BankID, Details: w.Details, Reference: w.Reference,
		FailureReason: w.FailureReason, CreatedAt: w.CreatedAt.UTC(), ClosedAt: utc(w.ClosedAt),
	}
}

// PaymentRequestView is a payment request as the API shows it.
type PaymentRequestView struct {
	PaymentRequestID string     `json:"payment_request_id"`
	Status           string     `json:"status"`
	Amount           string     `json:"amount"`
	Currency         string     `json:"currency"`
	FromWalletID     string     `json:"from_wallet_id"`
	ToWalletID       string     `json:"to_wallet_id"`
	Details          string     `json:"details"`
	DeclineReason    string     `json:"decline_reason,omitempty"`
	ExpiresAt        time.Time  `json:"expires_at"`
	CreatedAt        time.Time  `json:"created_at"`
	ClosedAt         *time.Time `json:"closed_at,omitempty"`
	OperationID      string     `json:"operation_id,omitempty"`
}

// ViewPaymentRequest renders r.
func ViewPaymentRequest(r wallet.PaymentRequest, cur wallet.Currency) PaymentRequestView {
	return PaymentRequestView{
		PaymentRequestID: r.ID, Status: string(r.Status), Amount: cur.Format(r.Amount), Currency: r.Currency,
		FromWalletID: r.FromWalletID, ToWalletID: r.ToWalletID, Details: r.Details, DeclineReason: r.DeclineReason,
		ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC(), ClosedAt: utc(r.ClosedAt), OperationID: r.OperationID,
	}
}

// NotificationView is a notification as the feed and the live updates
// show it. Data is the object it is about: an OperationView, HoldView,
// PaymentRequestView or WithdrawalView.
type NotificationView struct {
	NotificationID string    `json:"notification_id"`
	EventID        string    `json:"event_id"`
	Type           string    `json:"type"`
	CreatedAt      time.Time `json:"created_at"`
	Read           bool      `json:"read"`
	Data           any       `json:"data"`
}

// ViewNotification renders a notification.
func ViewNotification(n wallet.Notification, cur wallet.Currency) NotificationView {
	return NotificationView{NotificationID: n.ID, EventID: n.EventID, Type: n.Type, CreatedAt: n.CreatedAt.UTC(),
		Read: n.Read, Data: viewSubject(n, cur)}
}

// EventView is an event as a webhook delivery carries it:
// {event_id, type, created_at, data}.
type EventView struct {
	EventID   string    `json:"event_id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// ViewEvent renders a notification as its event.
func ViewEvent(n wallet.Notification, cur wallet.Currency) EventView {
	return EventView{EventID: n.EventID, Type: n.Type, CreatedAt: n.CreatedAt.UTC(), Data: viewSubject(n, cur)}
}

// viewSubject renders what a notification is about.
func viewSubject(n wallet.Notification, cur wallet.Currency) any {
	switch {
	case n.Hold != nil:
		return ViewHold(*n.Hold, cur)
	case n.PaymentRequest != nil:
		return ViewPaymentRequest(*n.PaymentRequest, cur)
	case n.Withdrawal != nil:
		return ViewWithdrawal(*n.Withdrawal, cur)
	case n.Operation != nil:
		return ViewOperation(*n.Operation, cur)
	}
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
