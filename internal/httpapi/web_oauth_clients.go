package httpapi

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// The admin console's OAuth clients page: the registered clients, and a
// form to register one (a confidential client's secret shown once); the
// same use case as the API.

func (s *Server) routesOAuthClientsPage() {
	s.app.Get("/admin/oauth", pageHeaders, s.showPage(oauthClientsPage))
	s.app.Post("/admin/oauth/clients", pageHeaders, s.checkOrigin, s.addOAuthClientForm)
}

// clientRow is a client in the page's list.
type clientRow struct {
	ID, Name, Type, RedirectURIs, Since string
}

var (
	oauthClientsPage = webPage{path: "/admin/oauth", fill: (*Server).fillOAuthClients}
	errOAuthOff      = wallet.Errorf(wallet.EForbidden, "the OAuth server is off in this deployment")
	clientFields     = []string{"name", "type", "redirect_uris"}
)

func (s *Server) fillOAuthClients(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title, d.Admin = "OAuth clients", true
	if p.User.Role != wallet.RoleAdmin {
		return "oauth_clients.html", errNotAdmin
	}
	if s.oauth == nil {
		return "oauth_clients.html", errOAuthOff
	}
	cs, err := s.oauth.Clients(c.UserContext())
	if err != nil {
		return "oauth_clients.html", err
	}
	for _, cl := range cs {
		d.Clients = append(d.Clients, clientRow{ID: cl.ID, Name: cl.Name, Type: string(cl.Type),
			RedirectURIs: strings.Join(cl.RedirectURIs, " "), Since: cl.CreatedAt.UTC().Format(time.DateTime)})
	}
	return "oauth_clients.html", nil
}

// addOAuthClientForm registers a client: redirect URIs one per line.
func (s *Server) addOAuthClientForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, oauthClientsPage, "client", clientFields...)
	if p == nil {
		return fail(nil)
	}
	if p.User.Role != wallet.RoleAdmin {
		return fail(errNotAdmin)
	}
	if s.oauth == nil {
		return fail(errOAuthOff)
	}
	var uris []string
	for _, line := range strings.Split(f.get("redirect_uris"), "\n") {
		if u := strings.TrimSpace(line); u != "" {
			uris = append(uris, u)
		}
	}
	typ := wallet.ClientType(f.get("type"))
	if typ != wallet.ClientPublic && typ != wallet.ClientConfidential {
		return fail(atField("type", wallet.Errorf(wallet.EInvalidRequest, `type must be "public" or "confidential"`)))
	}
	cl, secret, err := s.oauth.RegisterClient(c.UserContext(), f.get("name"), typ, uris)
	if wallet.ErrorCode(err) == wallet.EInvalidRequest {
		err = atField("redirect_uris", err) // the type is checked above; a bad name is invalid_name
	}
	if err != nil {
		return fail(err)
	}
	notice := "Client " + cl.ID + " registered."
	if secret != "" {
		notice += " Its secret is below: copy it now, it is shown only this once."
	}
	return s.renderCreated(c, p, oauthClientsPage, notice, secret)
}
