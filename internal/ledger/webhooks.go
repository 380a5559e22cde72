package ledger

import (
	"context"
	"slices"

	"github.com/walletd/wallet/internal/wallet"
)

// Webhooks are the registration use cases of webhook endpoints
// (API-EVENTS.md). The checks of a URL and the secrets come from the
// webhook adapter (internal/webhook), given at wiring.
type Webhooks struct {
	Store wallet.WebhookStore
	// CheckURL refuses a URL the deliveries may not go to.
	CheckURL func(raw string) error
	// NewSecret makes an endpoint's signing secret.
	NewSecret func() string
}

// MaxWebhooks bounds the endpoints of one account.
const MaxWebhooks = 20

// Register registers an endpoint for the user; events nil means every
// type (listed in full), an empty list is refused.
func (w *Webhooks) Register(ctx context.Context, userID, url string, events *[]string) (wallet.Webhook, error) {
	if err := w.CheckURL(url); err != nil {
		return wallet.Webhook{}, wallet.Errorf(wallet.EInvalidURL, "%s", err.Error())
	}
	types := wallet.EventTypes
	if events != nil {
		if len(*events) == 0 {
			return wallet.Webhook{}, wallet.Errorf(wallet.EInvalidEventType, "events must name at least one type (omit it for all)")
		}
		types = nil
		for _, t := range *events {
			if !slices.Contains(wallet.EventTypes, t) {
				return wallet.Webhook{}, wallet.Errorf(wallet.EInvalidEventType, "unknown event type %.64q", t)
			}
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	have, err := w.Store.Webhooks(ctx, userID)
	if err != nil {
		return wallet.Webhook{}, err
	}
	if len(have) >= MaxWebhooks {
		return wallet.Webhook{}, wallet.Errorf(wallet.EInvalidRequest, "at most %d webhooks per account", MaxWebhooks)
	}
	return w.Store.CreateWebhook(ctx, wallet.Webhook{UserID: userID, URL: url, Events: types, Secret: w.NewSecret()})
}

// List lists the user's endpoints.
func (w *Webhooks) List(ctx context.Context, userID string) ([]wallet.Webhook, error) {
	return w.Store.Webhooks(ctx, userID)
}

// Delete removes one of the user's endpoints.
func (w *Webhooks) Delete(ctx context.Context, userID, id string) error {
	return w.Store.DeleteWebhook(ctx, userID, id)
}
