package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

func (s *Server) routesWebhooks(api fiber.Router) {
	if s.hooks == nil {
		return
	}
	api.Post("/webhooks", s.need(wallet.ScopeWalletRead), s.walletOwners, s.requireJSON, s.createWebhook)
	api.Get("/webhooks", s.need(wallet.ScopeWalletRead), s.walletOwners, s.listWebhooks)
	api.Delete("/webhooks/:id", s.need(wallet.ScopeWalletRead), s.walletOwners, s.deleteWebhook)
	if s.deliveries != nil {
		api.Get("/webhooks/:id/deliveries", s.need(wallet.ScopeWalletRead), s.walletOwners, s.listDeliveries)
		api.Post("/webhooks/:id/deliveries/:delivery_id/retry", s.need(wallet.ScopeWalletRead), s.walletOwners, s.optionalJSON, s.retryDelivery)
	}
}

// walletOwners lets users and banks through: the parties events go to.
func (s *Server) walletOwners(c *fiber.Ctx) error {
	if caller(c).User.Role == wallet.RoleAdmin {
		return s.writeError(c, wallet.Errorf(wallet.EForbidden, "webhooks are for users and payment systems"))
	}
	return c.Next()
}

type webhookBody struct {
	URL    string    `json:"url"`
	Events *[]string `json:"events"`
}

type webhookJSON struct {
	WebhookID string    `json:"webhook_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func toWebhookJSON(w wallet.Webhook) webhookJSON {
	return webhookJSON{WebhookID: w.ID, URL: w.URL, Events: w.Events, CreatedAt: w.CreatedAt.UTC()}
}

// createWebhook registers an endpoint; its secret is in this answer only.
func (s *Server) createWebhook(c *fiber.Ctx) error {
	var b webhookBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	w, err := s.hooks.Register(c.UserContext(), caller(c).User.ID, b.URL, b.Events)
	if err != nil {
		return s.writeError(c, err)
	}
	j := toWebhookJSON(w)
	j.Secret = w.Secret
	return c.Status(fiber.StatusCreated).JSON(j)
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	ws, err := s.hooks.List(c.UserContext(), caller(c).User.ID)
	if err != nil {
		return s.writeError(c, err)
	}
	out := make([]webhookJSON, len(ws))
	for i, w := range ws {
		out[i] = toWebhookJSON(w)
	}
	return c.JSON(fiber.Map{"webhooks": out})
}

type deliveryJSON struct {
	DeliveryID     string     `json:"delivery_id"`
	EventID        string     `json:"event_id"`
	Type           string     `json:"type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
}

func toDeliveryJSON(d wallet.Delivery) deliveryJSON {
	j := deliveryJSON{DeliveryID: d.ID, EventID: d.NotificationID, Type: d.Type, Status: d.Status, Attempts: d.Attempts,
		LastError: d.LastError, CreatedAt: d.CreatedAt.UTC()}
	if d.LastStatusCode != 0 {
		code := d.LastStatusCode
		j.LastStatusCode = &code
	}
	if d.NextAttemptAt != nil {
		t := d.NextAttemptAt.UTC()
		j.NextAttemptAt = &t
	}
	return j
}

func (s *Server) listDeliveries(c *fiber.Ctx) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return s.writeError(c, err)
	}
	ds, err := s.deliveries.Deliveries(c.UserContext(), caller(c).User.ID, c.Params("id"), before, limit+1)
	if err != nil {
		return s.writeError(c, err)
	}
	ds, next := trimPage(ds, limit, func(d wallet.Delivery) string { return d.ID })
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = toDeliveryJSON(d)
	}
	return c.JSON(fiber.Map{"deliveries": out, "next_cursor": next})
}

// retryDelivery schedules a delivery again now (a succeeded one too).
func (s *Server) retryDelivery(c *fiber.Ctx) error {
	if err := noFields(c); err != nil {
		return s.writeError(c, err)
	}
	d, err := s.deliveries.Retry(c.UserContext(), caller(c).User.ID, c.Params("id"), c.Params("delivery_id"))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.Status(fiber.StatusAccepted).JSON(toDeliveryJSON(d))
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	if err := s.hooks.Delete(c.UserContext(), caller(c).User.ID, c.Params("id")); err != nil {
		return s.writeError(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
