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

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	if err := s.hooks.Delete(c.UserContext(), caller(c).User.ID, c.Params("id")); err != nil {
		return s.writeError(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}
