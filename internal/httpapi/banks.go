package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

func (s *Server) routesBanks(api fiber.Router) {
	api.Post("/admin/banks", s.need(wallet.ScopeAdmin), s.adminOnly, s.requireJSON, s.createBank)
	api.Get("/admin/banks", s.need(wallet.ScopeAdmin), s.adminOnly, s.listAllBanks)
	api.Post("/admin/banks/:id/disable", s.need(wallet.ScopeAdmin), s.adminOnly, s.optionalJSON, s.disableBank)
	api.Get("/banks", s.need(wallet.ScopeWalletRead), s.listActiveBanks)
}

// adminOnly refuses everyone but admins.
func (s *Server) adminOnly(c *fiber.Ctx) error {
	if caller(c).User.Role != wallet.RoleAdmin {
		return s.writeError(c, wallet.Errorf(wallet.EForbidden, "admins only"))
	}
	return c.Next()
}

// bankJSON is a bank as admins see it; Balance is its settlement
// account's balance, in lists only.
type bankJSON struct {
	BankID             string  `json:"bank_id"`
	Name               string  `json:"name"`
	Email              string  `json:"email"`
	SettlementWalletID string  `json:"settlement_wallet_id"`
	Status             string  `json:"status"`
	Balance            *string `json:"balance,omitempty"`
}

func (s *Server) bankJSON(b wallet.Bank, withBalance bool) bankJSON {
	j := bankJSON{BankID: b.ID, Name: b.Name, Email: b.Email, SettlementWalletID: b.SettlementWalletID, Status: string(b.Status)}
	if withBalance {
		bal := s.cur.Format(b.Balance)
		j.Balance = &bal
	}
	return j
}

func (s *Server) createBank(c *fiber.Ctx) error {
	var b signupBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	bank, err := s.svc.CreateBank(c.UserContext(), b.Name, b.Email, b.Password)
	if err != nil {
		return s.writeError(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(s.bankJSON(bank, false))
}

func (s *Server) listAllBanks(c *fiber.Ctx) error {
	banks, err := s.store.Banks(c.UserContext(), false)
	if err != nil {
		return s.writeError(c, err)
	}
	out := make([]bankJSON, len(banks))
	for i, b := range banks {
		out[i] = s.bankJSON(b, true)
	}
	return c.JSON(fiber.Map{"banks": out})
}

func (s *Server) disableBank(c *fiber.Ctx) error {
	if err := noFields(c); err != nil {
		return s.writeError(c, err)
	}
	bank, err := s.store.DisableBank(c.UserContext(), c.Params("id"))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(s.bankJSON(bank, false))
}

// publicBankJSON is a bank as users see it, to withdraw through.
type publicBankJSON struct {
	BankID string `json:"bank_id"`
	Name   string `json:"name"`
}

func (s *Server) listActiveBanks(c *fiber.Ctx) error {
	banks, err := s.store.Banks(c.UserContext(), true)
	if err != nil {
		return s.writeError(c, err)
	}
	out := make([]publicBankJSON, len(banks))
	for i, b := range banks {
		out[i] = publicBankJSON{BankID: b.ID, Name: b.Name}
	}
	return c.JSON(fiber.Map{"banks": out})
}
