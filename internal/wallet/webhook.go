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
