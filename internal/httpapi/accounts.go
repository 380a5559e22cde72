package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

type signupBody struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type userJSON struct {
	UserID   string `json:"user_id"`
	WalletID string `json:"wallet_id,omitempty"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Role     string `json:"role,omitempty"`
}

func (s *Server) signup(c *fiber.Ctx) error {
	var b signupBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	if err := s.signupAllowed(c); err != nil {
		return s.writeError(c, err)
	}
	u, w, err := s.svc.Signup(c.UserContext(), b.Name, b.Email, b.Password)
	s.countSignup(c, err)
	if err != nil {
		return s.writeError(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(userJSON{UserID: u.ID, WalletID: w.ID, Name: u.Name, Email: u.Email})
}

func (s *Server) login(c *fiber.Ctx) error {
	var b loginBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	u, err := s.checkPassword(c, b.Email, b.Password)
	if err != nil {
		return s.writeError(c, err)
	}
	if _, err := s.startSession(c, u.ID); err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(userJSON{UserID: u.ID, Name: u.Name, Email: u.Email, Role: string(u.Role)})
}

// logout ends the session, opaque token or OAuth access token on the
// server. With Basic there is nothing to end.
func (s *Server) logout(c *fiber.Ctx) error {
	p := caller(c)
	if p.Claims != nil {
		// An OAuth access token stops at once; its refresh token (if any)
		// is ended through /oauth/revoke.
		if err := s.oauth.RevokeAccess(c.UserContext(), *p.Claims); err != nil {
			return s.writeError(c, err)
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	if p.Token != "" {
		if err := s.sessions.DeleteSession(c.UserContext(), p.Token); err != nil {
			return s.writeError(c, err)
		}
	}
	if p.ViaCookie {
		s.clearSessionCookie(c)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// createToken issues a Bearer access token for API clients, with the
// lifetime of a session; POST /api/logout with it revokes it, and so does
// ending the session or token it was minted with (with Basic there is
// nothing to end).
func (s *Server) createToken(c *fiber.Ctx) error {
	p := caller(c)
	token, _, err := s.sessions.CreateSession(c.UserContext(), p.User.ID, s.cfg.SessionTTL, p.Token)
	if err != nil {
		return s.writeError(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"access_token": token, "token_type": "Bearer", "expires_in": int(s.cfg.SessionTTL.Seconds()),
	})
}

// audit runs the ledger audit for admins: 200 with the report, whose "ok"
// is false when any invariant is broken.
func (s *Server) audit(c *fiber.Ctx) error {
	if caller(c).User.Role != wallet.RoleAdmin {
		return s.writeError(c, wallet.Errorf(wallet.EForbidden, "admins only"))
	}
	r, err := s.store.Audit(c.UserContext())
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(fiber.Map{"ok": r.OK(), "report": r})
}
