package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// The payment requests page: ask someone for money, approve or decline
// what others ask of you, cancel what you asked; the same use cases as
// the API.

func (s *Server) routesRequestsPage() {
	s.app.Get("/requests", pageHeaders, s.showPage(requestsPage))
	s.app.Post("/requests", pageHeaders, s.checkOrigin, s.createRequestForm)
	s.app.Post("/requests/:id/approve", pageHeaders, s.checkOrigin, s.approveRequestForm)
	s.app.Post("/requests/:id/decline", pageHeaders, s.checkOrigin, s.closeRequestForm(true))
	s.app.Post("/requests/:id/cancel", pageHeaders, s.checkOrigin, s.closeRequestForm(false))
}

// requestRow is a payment request in the page's lists.
type requestRow struct {
	ID, When, Status, Amount, Other, Details, Expires string
	Open                                              bool
}

var (
	requestsPage       = webPage{path: "/requests", fill: (*Server).fillRequests, users: true}
	errRequestNotFound = wallet.Errorf(wallet.EPaymentRequestNotFound, "payment request not found")
)

func (s *Server) fillRequests(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title = "Payment requests"
	for _, dir := range []string{"incoming", "outgoing"} {
		before, err := listCursor(c, dir)
		if err != nil {
			return "requests.html", err
		}
		rs, err := s.svc.PaymentRequests(c.UserContext(), p.User, wallet.RequestFilter{Direction: dir, Before: before, Limit: listLimit + 1})
		if err != nil {
			return "requests.html", err
		}
		rs, next := trimPage(rs, listLimit, func(r wallet.PaymentRequest) string { return r.ID })
		d.paged(dir, before, next)
		for _, r := range rs {
			row := requestRow{ID: r.ID, When: r.CreatedAt.UTC().Format(time.DateTime), Status: string(r.Status),
				Amount: s.cur.Format(r.Amount), Details: r.Details, Expires: r.ExpiresAt.UTC().Format(time.DateTime),
				Open: r.Status == wallet.RequestOpen}
			if dir == "incoming" {
				row.Other = r.ToWalletID
				d.Incoming = append(d.Incoming, row)
			} else {
				row.Other = r.FromWalletID
				d.Outgoing = append(d.Outgoing, row)
			}
		}
	}
	return "requests.html", nil
}

func (s *Server) createRequestForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, requestsPage, "request", append(moneyFormFields, "expires_in_hours")...)
	if p == nil {
		return fail(nil)
	}
	payer, amount, details, err := s.moneyFields(f, false)
	if err != nil {
		return fail(err)
	}
	exp, err := expiryField(f)
	if err != nil {
		return fail(err)
	}
	if _, err := s.svc.CreatePaymentRequest(c.UserContext(), p.User, payer, amount, details, exp); err != nil {
		return fail(err)
	}
	return c.Redirect(requestsPage.path, fiber.StatusSeeOther)
}

func (s *Server) approveRequestForm(c *fiber.Ctx) error {
	p, f, fail, id := s.rowFormStart(c, requestsPage, "approve", errRequestNotFound)
	if p == nil {
		return fail(nil)
	}
	return s.submitFormWith(c, p, f, requestsPage, fail, ledger.Request{Caller: p.User, PaymentRequestID: id,
		RequestHash: ledger.HashRequest("approve", id)}, s.svc.ApprovePaymentRequest)
}

// closeRequestForm declines (the payer, with an optional reason) or
// cancels (the requester) a request.
func (s *Server) closeRequestForm(decline bool) fiber.Handler {
	action := "cancel"
	if decline {
		action = "decline"
	}
	return func(c *fiber.Ctx) error {
		p, f, fail, id := s.rowFormStart(c, requestsPage, action, errRequestNotFound, "reason")
		if p == nil {
			return fail(nil)
		}
		var err error
		if decline {
			_, err = s.svc.DeclinePaymentRequest(c.UserContext(), p.User, id, f.get("reason"))
		} else {
			_, err = s.svc.CancelPaymentRequest(c.UserContext(), p.User, id)
		}
		if err != nil {
			return fail(err)
		}
		return c.Redirect(requestsPage.path, fiber.StatusSeeOther)
	}
}
