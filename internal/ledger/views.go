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

// NotificationView is a notification as the feed and the live updates
// show it.
type NotificationView struct {
	NotificationID string        `json:"notification_id"`
	EventID        string        `json:"event_id"`
	Type           string        `json:"type"`
	CreatedAt      time.Time     `json:"created_at"`
	Read           bool          `json:"read"`
	Data           OperationView `json:"data"`
}

// ViewNotification renders a notification.
func ViewNotification(n wallet.Notification, cur wallet.Currency) NotificationView {
	return NotificationView{NotificationID: n.ID, EventID: n.ID, Type: n.Type, CreatedAt: n.CreatedAt.UTC(),
		Read: n.Read, Data: ViewOperation(*n.Operation, cur)}
}

// EventView is an event as a webhook delivery carries it:
// {event_id, type, created_at, data}.
type EventView struct {
	EventID   string        `json:"event_id"`
	Type      string        `json:"type"`
	CreatedAt time.Time     `json:"created_at"`
	Data      OperationView `json:"data"`
}

// ViewEvent renders a notification as its event.
func ViewEvent(n wallet.Notification, cur wallet.Currency) EventView {
	return EventView{EventID: n.ID, Type: n.Type, CreatedAt: n.CreatedAt.UTC(), Data: ViewOperation(*n.Operation, cur)}
}
