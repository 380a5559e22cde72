package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

func (s *Server) routesOAuthClients(api fiber.Router) {
	api.Post("/admin/oauth/clients", s.need(wallet.ScopeAdmin), s.adminOnly, s.requireJSON, s.createOAuthClient)
	api.Get("/admin/oauth/clients", s.need(wallet.ScopeAdmin), s.adminOnly, s.listOAuthClients)
}

type clientBody struct {
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	Type         string   `json:"type"`
}

type clientJSON struct {
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret,omitempty"`
	Name         string    `json:"name"`
	RedirectURIs []string  `json:"redirect_uris"`
	Type         string    `json:"type"`
	CreatedAt    time.Time `json:"created_at"`
}

func toClientJSON(c wallet.OAuthClient) clientJSON {
	return clientJSON{ClientID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, Type: string(c.Type), CreatedAt: c.CreatedAt.UTC()}
}

// createOAuthClient registers a client; a confidential client's secret is
// in this answer only.
func (s *Server) createOAuthClient(c *fiber.Ctx) error {
	if s.oauth == nil {
		return s.writeError(c, fiber.ErrNotFound)
	}
	var b clientBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	cl, secret, err := s.oauth.RegisterClient(c.UserContext(), b.Name, wallet.ClientType(b.Type), b.RedirectURIs)
	if err != nil {
		return s.writeError(c, err)
	}
	j := toClientJSON(cl)
	j.ClientSecret = secret
	return c.Status(fiber.StatusCreated).JSON(j)
}

func (s *Server) listOAuthClients(c *fiber.Ctx) error {
	if s.oauth == nil {
		return s.writeError(c, fiber.ErrNotFound)
	}
	cs, err := s.oauth.Clients(c.UserContext())
	if err != nil {
		return s.writeError(c, err)
	}
	out := make([]clientJSON, len(cs))
	for i, cl := range cs {
		out[i] = toClientJSON(cl)
	}
	return c.JSON(fiber.Map{"clients": out})
}
