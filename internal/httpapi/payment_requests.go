package httpapi

import (
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

func (s *Server) routesPaymentRequests(api fiber.Router) {
	api.Post("/payment_requests", s.need(wallet.ScopeWalletTransfer), s.requireJSON, s.createPaymentRequest)
	api.Get("/payment_requests", s.need(wallet.ScopeWalletRead), s.listPaymentRequests)
	api.Get("/payment_requests/:id", s.need(wallet.ScopeWalletRead), s.getPaymentRequest)
	api.Post("/payment_requests/:id/approve", s.need(wallet.ScopeWalletTransfer), s.optionalJSON, s.approvePaymentRequest)
	api.Post("/payment_requests/:id/decline", s.need(wallet.ScopeWalletTransfer), s.optionalJSON, s.declinePaymentRequest)
	api.Post("/payment_requests/:id/cancel", s.need(wallet.ScopeWalletTransfer), s.optionalJSON, s.cancelPaymentRequest)
}

type requestJSON = ledger.PaymentRequestView

func (s *Server) requestJSON(r wallet.PaymentRequest) requestJSON {
	return ledger.ViewPaymentRequest(r, s.cur)
}

type paymentRequestBody struct {
	WalletID  *string        `json:"wallet_id"`
	Amount    jsontext.Value `json:"amount"`
	Details   *string        `json:"details"`
	ExpiresIn jsontext.Value `json:"expires_in"`
}

func (s *Server) createPaymentRequest(c *fiber.Ctx) error {
	var b paymentRequestBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	payer, err := walletIDField(b.WalletID)
	if err != nil {
		return s.writeError(c, err)
	}
	amount, err := s.cur.ParseJSONAmount(b.Amount, s.cfg.MaxAmount)
	if err != nil {
		return s.writeError(c, err)
	}
	exp, err := expiresIn(b.ExpiresIn)
	if err != nil {
		return s.writeError(c, err)
	}
	r, err := s.svc.CreatePaymentRequest(c.UserContext(), caller(c).User, payer, amount, deref(b.Details), exp)
	if err != nil {
		return s.writeError(c, err)
	}
	c.Set(fiber.HeaderLocation, "/api/payment_requests/"+r.ID)
	return c.Status(fiber.StatusCreated).JSON(s.requestJSON(r))
}

func (s *Server) getPaymentRequest(c *fiber.Ctx) error {
	r, err := s.svc.PaymentRequest(c.UserContext(), caller(c).User, c.Params("id"))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(s.requestJSON(r))
}

var requestStatuses = []string{string(wallet.RequestOpen), string(wallet.RequestApproved), string(wallet.RequestPaid),
	string(wallet.RequestDeclined), string(wallet.RequestCancelled), string(wallet.RequestExpired)}

func (s *Server) listPaymentRequests(c *fiber.Ctx) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return s.writeError(c, err)
	}
	status, err := statusParam(c, requestStatuses...)
	if err != nil {
		return s.writeError(c, err)
	}
	dir := c.Query("direction")
	if dir != "" && dir != "incoming" && dir != "outgoing" {
		return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "direction must be incoming or outgoing"))
	}
	rs, err := s.svc.PaymentRequests(c.UserContext(), caller(c).User, wallet.RequestFilter{Direction: dir,
		Status: wallet.PaymentRequestStatus(status), Before: before, Limit: limit + 1})
	if err != nil {
		return s.writeError(c, err)
	}
	rs, next := trimPage(rs, limit, func(r wallet.PaymentRequest) string { return r.ID })
	out := make([]requestJSON, len(rs))
	for i, r := range rs {
		out[i] = s.requestJSON(r)
	}
	return c.JSON(fiber.Map{"payment_requests": out, "next_cursor": next})
}

func (s *Server) approvePaymentRequest(c *fiber.Ctx) error {
	if err := noFields(c); err != nil {
		return s.writeError(c, err)
	}
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		return s.writeError(c, wallet.Errorf(wallet.EPaymentRequestNotFound, "payment request not found"))
	}
	req := ledger.Request{Caller: caller(c).User, PaymentRequestID: id,
		RequestHash: ledger.HashRequest("approve", id)}
	return s.operate(c, req, s.svc.ApprovePaymentRequest)
}

type declineBody struct {
	Reason *string `json:"reason"`
}

func (s *Server) declinePaymentRequest(c *fiber.Ctx) error {
	var b declineBody
	if len(c.Body()) > 0 {
		if err := decodeJSON(c.Body(), &b); err != nil {
			return s.writeError(c, err)
		}
	}
	r, err := s.svc.DeclinePaymentRequest(c.UserContext(), caller(c).User, c.Params("id"), deref(b.Reason))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(s.requestJSON(r))
}

func (s *Server) cancelPaymentRequest(c *fiber.Ctx) error {
	if err := noFields(c); err != nil {
		return s.writeError(c, err)
	}
	r, err := s.svc.CancelPaymentRequest(c.UserContext(), caller(c).User, c.Params("id"))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(s.requestJSON(r))
}

// noFields accepts an empty body or an empty JSON object, for endpoints
// that take no parameters.
func noFields(c *fiber.Ctx) error {
	if len(c.Body()) == 0 {
		return nil
	}
	var b struct{}
	return decodeJSON(c.Body(), &b)
}
