package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// The admin console: the payment systems (create, disable, their
// settlement balances), every withdrawal (to fail a stuck one), a hold to
// void by its id, the ledger audit, and a link to the queue dashboard;
// the same use cases as the API.

func (s *Server) routesAdminConsole() {
	s.app.Post("/admin/banks", pageHeaders, s.checkOrigin, s.createBankForm)
	s.app.Post("/admin/banks/:id/disable", pageHeaders, s.checkOrigin, s.disableBankForm)
	s.app.Post("/admin/holds/void", pageHeaders, s.checkOrigin, s.voidHoldByIDForm)
	s.app.Get("/admin/audit", pageHeaders, s.showPage(auditPage))
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

func (s *Server) fillAdminConsole(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title, d.Admin = "Admin console", true
	banks, err := s.store.Banks(c.UserContext(), false)
	if err != nil {
		return "admin.html", err
	}
	names := map[string]string{}
	for _, b := range banks {
		d.Banks = append(d.Banks, bankRow{ID: b.ID, Name: b.Name, Email: b.Email, Status: string(b.Status),
			Balance: s.cur.Format(b.Balance), Since: b.CreatedAt.UTC().Format(time.DateTime), Active: b.Status == wallet.BankActive})
		names[b.ID] = b.Name
	}
	// Every withdrawal, to fail one that is stuck (an admin may, as the
	// bank may).
	if err := s.fillWithdrawalList(c, p, d, names); err != nil {
		return "admin.html", err
	}
	return "admin.html", nil
}

// voidHoldByIDForm voids the hold whose id the admin gives (a dispute, a
// merchant gone): the same operation as the recipient's void.
func (s *Server) voidHoldByIDForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, homePage, "void", "hold_id")
	if p == nil {
		return fail(nil)
	}
	if p.User.Role != wallet.RoleAdmin {
		return fail(errNotAdmin)
	}
	id, ok := wallet.CanonicalID(f.get("hold_id"))
	if !ok {
		return fail(atField("hold_id", errHoldNotFound))
	}
	return s.submitForm(c, p, f, homePage, fail, ledger.Request{Caller: p.User, Type: wallet.OpHoldVoid, HoldID: id,
		RequestHash: ledger.HashRequest(string(wallet.OpHoldVoid), id)})
}

// errNotAdmin refuses an admin form to anyone else.
var errNotAdmin = wallet.Errorf(wallet.EForbidden, "only admins can do that")

func (s *Server) createBankForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, homePage, "bank", "name", "email", "password")
	if p == nil {
		return fail(nil)
	}
	if p.User.Role != wallet.RoleAdmin {
		return fail(errNotAdmin)
	}
	if _, err := s.svc.CreateBank(c.UserContext(), f.get("name"), f.get("email"), f.get("password")); err != nil {
		return fail(err)
	}
	return c.Redirect(homePage.path, fiber.StatusSeeOther)
}

func (s *Server) disableBankForm(c *fiber.Ctx) error {
	p, _, fail, id := s.rowFormStart(c, homePage, "disable", wallet.Errorf(wallet.EBankNotFound, "bank not found"))
	if p == nil {
		return fail(nil)
	}
	if p.User.Role != wallet.RoleAdmin {
		return fail(errNotAdmin)
	}
	if _, err := s.store.DisableBank(c.UserContext(), id); err != nil {
		return fail(err)
	}
	return c.Redirect(homePage.path, fiber.StatusSeeOther)
}

// auditPage runs the ledger audit and shows its report to an admin.
var auditPage = webPage{path: "/admin/audit", fill: (*Server).fillAudit}

func (s *Server) fillAudit(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title, d.Admin = "Ledger audit", true
	if p.User.Role != wallet.RoleAdmin {
		return "audit.html", errNotAdmin
	}
	r, err := s.store.Audit(c.UserContext())
	if err != nil {
		return "audit.html", err
	}
	d.AuditOK, d.AuditAt = r.OK(), r.CheckedAt.UTC().Format(time.DateTime)
	for _, ch := range r.Checks {
		d.Audit = append(d.Audit, auditRow{Name: ch.Name, Violations: ch.Violations, Examples: ch.Examples})
	}
	return "audit.html", nil
}
