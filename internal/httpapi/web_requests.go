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
	s.app.Get("/requests", pageHeaders, s.requestsPage)
	s.app.Post("/requests", pageHeaders, s.checkOrigin, s.createRequestForm)
	s.app.Post("/requests/:id/approve", pageHeaders, s.checkOrigin, s.approveRequestForm)
	s.app.Post("/requests/:id/decline", pageHeaders, s.checkOrigin, s.closeRequestForm(true))
	s.app.Post("/requests/:id/cancel", pageHeaders, s.checkOrigin, s.closeRequestForm(false))
}

// requestRow is a payment request in the page's lists.
type requestRow struct {
	ID, When, Status, Amount, Other, Details string
	Open                                     bool
}

const requestsPage = "/requests"

func (s *Server) requestsPage(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	d := pageData{Title: "Payment requests", SignedIn: true, CSRF: p.CSRF, Name: p.User.Name, Currency: s.cur.Code,
		WalletID: p.WalletID, EventTypes: "payment_request.created payment_request.paid payment_request.declined " +
			"payment_request.cancelled payment_request.expired", FormKey: newFormKey()}
	flash(c, &d)
	for _, dir := range []string{"incoming", "outgoing"} {
		rs, err := s.svc.PaymentRequests(c.UserContext(), p.User, wallet.RequestFilter{Direction: dir, Limit: 20})
		if err != nil {
			return s.renderError(c, "requests.html", d, err)
		}
		for _, r := range rs {
			row := requestRow{ID: r.ID, When: r.CreatedAt.UTC().Format(time.DateTime), Status: string(r.Status),
				Amount: s.cur.Format(r.Amount), Details: r.Details, Open: r.Status == wallet.RequestOpen}
			if dir == "incoming" {
				row.Other = r.ToWalletID
				d.Incoming = append(d.Incoming, row)
			} else {
				row.Other = r.FromWalletID
				d.Outgoing = append(d.Outgoing, row)
			}
		}
	}
	return s.render(c, fiber.StatusOK, "requests.html", d)
}

func (s *Server) createRequestForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, requestsPage)
	if p == nil {
		return fail("")
	}
	payer, amount, details, code := s.moneyFields(f, false)
	if code != "" {
		return fail(code)
	}
	if _, err := s.svc.CreatePaymentRequest(c.UserContext(), p.User, payer, amount, details, wallet.DefaultHoldExpiry); err != nil {
		return fail(wallet.ErrorCode(err))
	}
	return c.Redirect(requestsPage, fiber.StatusSeeOther)
}

func (s *Server) approveRequestForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, requestsPage)
	if p == nil {
		return fail("")
	}
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		return fail(wallet.EPaymentRequestNotFound)
	}
	return s.submitFormWith(c, p, f, requestsPage, fail, ledger.Request{Caller: p.User, PaymentRequestID: id,
		RequestHash: ledger.HashRequest("approve", id)}, s.svc.ApprovePaymentRequest)
}

// closeRequestForm declines (the payer, with an optional reason) or
// cancels (the requester) a request.
func (s *Server) closeRequestForm(decline bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, f, fail := s.formStart(c, requestsPage)
		if p == nil {
			return fail("")
		}
		var err error
		if decline {
			_, err = s.svc.DeclinePaymentRequest(c.UserContext(), p.User, c.Params("id"), f.get("reason"))
		} else {
			_, err = s.svc.CancelPaymentRequest(c.UserContext(), p.User, c.Params("id"))
		}
		if err != nil {
			return fail(wallet.ErrorCode(err))
		}
		return c.Redirect(requestsPage, fiber.StatusSeeOther)
	}
}
