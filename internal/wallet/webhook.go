package wallet

import (
	"context"
	"time"
)

// EventTypes are every event type of API-EVENTS.md, in its order: a
// webhook registered without a list gets all of them.
var EventTypes = []string{
	"operation.completed", "operation.failed",
	"hold.active", "hold.captured", "hold.voided", "hold.expired",
	"payment_request.created", "payment_request.paid", "payment_request.declined",
	"payment_request.cancelled", "payment_request.expired",
	"withdrawal.pending", "withdrawal.processing", "withdrawal.completed", "withdrawal.failed",
	"withdrawal.cancelled", "withdrawal.expired",
}

// DeliveryClockSkew is how early by its own clock a process may take a
// delivery: the relay that made it due may run on another host.
const DeliveryClockSkew = 2 * time.Second

// DeliveryLease is how long after a pending delivery's next attempt is
// due its task has to record an attempt, before the sweep enqueues it
// again (its task was lost, or the process sending it died): more than
// an attempt's timeout.
const DeliveryLease = time.Minute

// Webhook is an endpoint a user or a bank registered to receive its
// events.
type Webhook struct {
	ID     string
	UserID string
	URL    string
	Events []string
	// Secret signs the deliveries (whsec_ and base64); shown once.
	Secret    string
	CreatedAt time.Time
}

// WebhookStore keeps the registered endpoints.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// Webhooks lists a user's endpoints, oldest first.
	Webhooks(ctx context.Context, userID string) ([]Webhook, error)
	// DeleteWebhook removes one of the user's endpoints: EWebhookNotFound
	// for another's or an unknown one.
	DeleteWebhook(ctx context.Context, userID, id string) error
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// EDeliveryNotFound: no such delivery of the caller's endpoint.
const EDeliveryNotFound = "delivery_not_found"

// Delivery is one event's delivery to one endpoint.
type Delivery struct {
	ID             string
	WebhookID      string
	NotificationID string
	Type           string
	Status         string
	Attempts       int
	LastStatusCode int
	LastError      string
	NextAttemptAt  *time.Time
	CreatedAt      time.Time
}

// DeliveryWork is what sending one delivery needs.
type DeliveryWork struct {
	Delivery Delivery
	Webhook  Webhook
	Disabled bool
	Event    Notification
}

// Attempt is the outcome of one attempt at a delivery, as recorded, or
// of none (Made false: its endpoint was at its limit, and the delivery is
// put off to NextAttemptAt).
type Attempt struct {
	DeliveryID string
	// N is the attempt's number (the delivery's attempts so far, plus one
	// when Made).
	N          int
	Made       bool
	StatusCode int
	Error      string
	// Status is the delivery's status after it; NextAttemptAt its next
	// attempt when still pending.
	Status        string
	NextAttemptAt *time.Time
	// Disable: the endpoint answered 410 Gone.
	Disable bool
}

// DeliveryStore keeps deliveries (the webhook side of the outbox).
type DeliveryStore interface {
	// RelayDeliveries turns the notifications that came after the relay's
	// place (at most limit of them) into deliveries to their users' active
	// endpoints that asked for their types (and were registered before
	// them), moves the place on, and returns the new deliveries; more
	// says it stopped at limit with more perhaps after it.
	RelayDeliveries(ctx context.Context, now time.Time, limit int) (ds []Delivery, more bool, err error)
	// ClaimDeliveries loads those of ids that are pending and due at now
	// (within DeliveryClockSkew), each with its endpoint and event. It
	// writes nothing: of two tasks sending one delivery at once (a sweep
	// that found it overdue, a manual retry), one records its attempt.
	ClaimDeliveries(ctx context.Context, ids []string, now time.Time) ([]DeliveryWork, error)
	// RecordAttempts records outcomes, each if its delivery is still
	// pending after the attempts before it (a duplicate records nothing),
	// and returns the ids of those it recorded.
	RecordAttempts(ctx context.Context, as []Attempt) ([]string, error)
	// DueDeliveries takes, for the sweep, the pending deliveries whose
	// attempt should have been recorded by now (DeliveryLease after it
	// was due), and gives each another lease from now.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// Deliveries lists an endpoint's deliveries, newest first.
	Deliveries(ctx context.Context, userID, webhookID, before string, limit int) ([]Delivery, error)
	// RetryDelivery makes one of the user's deliveries pending and due at
	// now, whatever its status.
	RetryDelivery(ctx context.Context, userID, webhookID, id string, now time.Time) (Delivery, error)
}
