package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// The notifications page: the signed-in user's feed, newest first, with
// what is unread marked, a form to mark one read and one to mark them all
// read. Every page shows the unread count beside its link, updated live.

func (s *Server) routesNotificationsPage() {
	s.app.Get("/notifications", pageHeaders, s.showPage(notificationsPage))
	s.app.Post("/notifications/read", pageHeaders, s.checkOrigin, s.markReadForm)
	s.app.Post("/notifications/:id/read", pageHeaders, s.checkOrigin, s.markOneReadForm)
}

// noteRow is a notification in the page's list.
type noteRow struct {
	ID, When, Type, What string
	Unread               bool
}

var notificationsPage = webPage{path: "/notifications", fill: (*Server).fillNotifications}

// unread is the user's unread count, 0 without notifications.
func (s *Server) unread(c *fiber.Ctx, userID string) int {
	if s.notes == nil {
		return 0
	}
	n, err := s.notes.Store.UnreadCount(c.UserContext(), userID)
	if err != nil {
		return 0 // the page still works; the count comes back with the next update
	}
	return n
}

func (s *Server) fillNotifications(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title = "Notifications"
	if s.notes == nil {
		return "notifications.html", nil
	}
	before, err := listCursor(c, "notes")
	if err != nil {
		return "notifications.html", err
	}
	ns, count, err := s.notes.Feed(c.UserContext(), p.User.ID, before, false, listLimit+1)
	if err != nil {
		return "notifications.html", err
	}
	ns, next := trimPage(ns, listLimit, func(n wallet.Notification) string { return n.ID })
	d.paged("notes", before, next)
	d.Unread = count
	for _, n := range ns {
		d.Notes = append(d.Notes, noteRow{ID: n.ID, When: n.CreatedAt.UTC().Format(time.DateTime), Type: n.Type,
			What: s.noteSummary(n), Unread: !n.Read})
	}
	return "notifications.html", nil
}

// noteSummary says in a few words what a notification is about.
func (s *Server) noteSummary(n wallet.Notification) string {
	switch {
	case n.Operation != nil:
		return string(n.Operation.Type) + " of " + s.cur.Format(n.Operation.Amount) + " " + s.cur.Code + ", " + string(n.Operation.Status)
	case n.Hold != nil:
		return "hold of " + s.cur.Format(n.Hold.Amount) + " " + s.cur.Code + ", " + string(n.Hold.Status)
	case n.PaymentRequest != nil:
		return "request for " + s.cur.Format(n.PaymentRequest.Amount) + " " + s.cur.Code + ", " + string(n.PaymentRequest.Status)
	case n.Withdrawal != nil:
		return "withdrawal of " + s.cur.Format(n.Withdrawal.Amount) + " " + s.cur.Code + ", " + string(n.Withdrawal.Status)
	}
	return ""
}

func (s *Server) markReadForm(c *fiber.Ctx) error {
	p, _, fail := s.formStart(c, notificationsPage, "read")
	if p == nil {
		return fail(nil)
	}
	if s.notes == nil {
		return fail(wallet.Errorf(wallet.EInvalidRequest, "notifications are off"))
	}
	if err := s.notes.MarkRead(c.UserContext(), p.User.ID, nil, true); err != nil {
		return fail(err)
	}
	return c.Redirect(notificationsPage.path, fiber.StatusSeeOther)
}

// markOneReadForm marks one notification read.
func (s *Server) markOneReadForm(c *fiber.Ctx) error {
	p, _, fail, id := s.rowFormStart(c, notificationsPage, "read", wallet.Errorf(eNotFound, "notification not found"))
	if p == nil {
		return fail(nil)
	}
	if s.notes == nil {
		return fail(wallet.Errorf(wallet.EInvalidRequest, "notifications are off"))
	}
	if err := s.notes.MarkRead(c.UserContext(), p.User.ID, []string{id}, false); err != nil {
		return fail(err)
	}
	return c.Redirect(notificationsPage.path, fiber.StatusSeeOther)
}
