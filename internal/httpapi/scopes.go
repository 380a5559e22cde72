package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// need authenticates the caller and requires one of the scopes (none
// given: any authenticated caller). Each route names its scopes where it
// is registered, so the route table is the one place they are checked.
// Sessions, Basic and the opaque tokens carry every scope of their role;
// an OAuth access token carries what was granted. A caller without the
// scope gets 403 insufficient_scope with RFC 6750's challenge.
func (s *Server) need(anyOf ...wallet.Scope) fiber.Handler {
	var names []string
	for _, sc := range anyOf {
		names = append(names, sc.String())
	}
	challenge := `Bearer error="insufficient_scope", scope="` + strings.Join(names, " ") + `"`
	return func(c *fiber.Ctx) error {
		p, err := s.resolve(c)
		if err != nil {
			return s.writeError(c, err)
		}
		// Only a token narrower than its role is refused here: what the
		// role itself may not do is the handler's 403 forbidden, as for
		// every way of signing in.
		has, roleHas := len(anyOf) == 0, len(anyOf) == 0
		for _, sc := range anyOf {
			has = has || p.Scopes.Has(sc)
			roleHas = roleHas || wallet.RoleScopes(p.User.Role).Has(sc)
		}
		if roleHas && !has {
			c.Set(fiber.HeaderWWWAuthenticate, challenge)
			return s.writeError(c, wallet.Errorf(wallet.EInsufficientScope, "this token lacks the scope %s", strings.Join(names, " or ")))
		}
		c.Locals("principal", p)
		return c.Next()
	}
}

// needRole authenticates the caller and requires every scope of its role:
// what mints a token that carries them all (POST /api/tokens) must not be
// reachable with a narrower OAuth token.
func (s *Server) needRole(c *fiber.Ctx) error {
	p, err := s.resolve(c)
	if err != nil {
		return s.writeError(c, err)
	}
	if all := wallet.RoleScopes(p.User.Role); !p.Scopes.Contains(all) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="insufficient_scope", scope="`+all.String()+`"`)
		return s.writeError(c, wallet.Errorf(wallet.EInsufficientScope, "this needs every scope of the account: %s", all.String()))
	}
	c.Locals("principal", p)
	return c.Next()
}
