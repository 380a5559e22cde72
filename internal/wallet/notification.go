package wallet

import (
	"context"
	"time"
)

// The operation events, written in the commit that makes an operation
// final. The events of holds, payment requests and withdrawals are named
// after the status their object enters (see SubjectEvent).
const (
	EventOperationCompleted = "operation.completed"
	EventOperationFailed    = "operation.failed"
)

// The kinds of object an event other than an operation's is about, the
// first part of its type.
const (
	SubjectHold           = "hold"
	SubjectPaymentRequest = "payment_request"
	SubjectWithdrawal     = "withdrawal"
)

// SubjectEvent is the event type of an object of kind entering status,
// "" when that change is not an event (a hold that failed is told by its
// operation.failed; an approved request waits for its transfer). A
// payment request's open status is its creation.
func SubjectEvent(kind, status string) string {
	if kind == SubjectPaymentRequest && status == string(RequestOpen) {
		status = "created"
	}
	t := kind + "." + status
	for _, e := range EventTypes {
		if e == t {
			return t
		}
	}
	return ""
}

// Notification is one event for one party: its feed entry, its live
// update, and (later) its webhook delivery.
type Notification struct {
	// ID is the notification_id and the event_id.
	ID      string
	EventID string
	UserID  string
	Type    string
	// The event's object, one of these. Operation is as its party sees
	// it (with the party's balance_after); it never changes once final.
	// A hold, payment request or withdrawal is as it was when the event
	// was recorded.
	Operation      *Operation
	Hold           *Hold
	PaymentRequest *PaymentRequest
	Withdrawal     *Withdrawal
	CreatedAt      time.Time
	Read           bool
}

// NotificationStore is the outbox's read side.
type NotificationStore interface {
	// Notifications lists a user's notifications newest first, before
	// the notification id before ("" from the newest), at most limit;
	// unread limits them to the unread ones.
	Notifications(ctx context.Context, userID, before string, unread bool, limit int) ([]Notification, error)
	// NotificationsAfter lists a user's notifications after the one id
	// ("" from the first), oldest first, at most limit; an id that is not
	// the user's lists nothing and reports found false.
	NotificationsAfter(ctx context.Context, userID, after string, limit int) (ns []Notification, found bool, err error)
	// LatestNotification is the id of the user's newest notification, ""
	// for none.
	LatestNotification(ctx context.Context, userID string) (string, error)
	UnreadCount(ctx context.Context, userID string) (int, error)
	// MarkRead marks the user's notifications read: those of ids (others'
	// ignored), or all of them.
	MarkRead(ctx context.Context, userID string, ids []string, all bool, now time.Time) error
}
