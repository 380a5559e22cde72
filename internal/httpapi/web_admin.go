package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// The admin console: the payment systems (create, disable, their
// settlement balances), the ledger audit, and a link to the queue
// dashboard; the same use cases as the API.

func (s *Server) routesAdminConsole() {
	s.app.Post("/admin/banks", pageHeaders, s.checkOrigin, s.createBankForm)
	s.app.Post("/admin/banks/:id/disable", pageHeaders, s.checkOrigin, s.disableBankForm)
	s.app.Get("/admin/audit", pageHeaders, s.auditPage)
}

// bankRow is a payment system in the console's list.
type bankRow struct {
	ID, Name, Email, Status, Balance, Since string
	Active                                  bool
}

// auditRow is one check of the audit report.
type auditRow struct {
	Name       string
	Violations int64
	Examples   []string
}

func (s *Server) adminConsole(c *fiber.Ctx, p *principal, d pageData) error {
	d.Title, d.Admin = "Admin console", true
	banks, err := s.store.Banks(c.UserContext(), false)
	if err != nil {
		return s.renderError(c, "admin.html", d, err)
	}
	for _, b := range banks {
		d.Banks = append(d.Banks, bankRow{ID: b.ID, Name: b.Name, Email: b.Email, Status: string(b.Status),
			Balance: s.cur.Format(b.Balance), Since: b.CreatedAt.UTC().Format(time.DateTime), Active: b.Status == wallet.BankActive})
	}
	return s.render(c, fiber.StatusOK, "admin.html", d)
}

// adminPage is the session of an admin signed in on the web, or nil.
func (s *Server) adminPage(c *fiber.Ctx) *principal {
	p := s.webSession(c)
	if p == nil || p.User.Role != wallet.RoleAdmin {
		return nil
	}
	return p
}

func (s *Server) createBankForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, "/")
	if p == nil {
		return fail("")
	}
	if p.User.Role != wallet.RoleAdmin {
		return fail(wallet.EForbidden)
	}
	if _, err := s.svc.CreateBank(c.UserContext(), f.get("name"), f.get("email"), f.get("password")); err != nil {
		return fail(wallet.ErrorCode(err))
	}
	return c.Redirect("/", fiber.StatusSeeOther)
}

func (s *Server) disableBankForm(c *fiber.Ctx) error {
	p, _, fail := s.formStart(c, "/")
	if p == nil {
		return fail("")
	}
	if p.User.Role != wallet.RoleAdmin {
		return fail(wallet.EForbidden)
	}
	if _, err := s.store.DisableBank(c.UserContext(), c.Params("id")); err != nil {
		return fail(wallet.ErrorCode(err))
	}
	return c.Redirect("/", fiber.StatusSeeOther)
}

// auditPage runs the ledger audit and shows its report.
func (s *Server) auditPage(c *fiber.Ctx) error {
	p := s.adminPage(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	d := pageData{Title: "Ledger audit", SignedIn: true, CSRF: p.CSRF, Name: p.User.Name, Admin: true}
	r, err := s.store.Audit(c.UserContext())
	if err != nil {
		return s.renderError(c, "audit.html", d, err)
	}
	d.AuditOK, d.AuditAt = r.OK(), r.CheckedAt.UTC().Format(time.DateTime)
	for _, ch := range r.Checks {
		d.Audit = append(d.Audit, auditRow{Name: ch.Name, Violations: ch.Violations, Examples: ch.Examples})
	}
	return s.render(c, fiber.StatusOK, "audit.html", d)
}
