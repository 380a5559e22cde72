package httpapi

import (
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

func (s *Server) routesHolds(api fiber.Router) {
	api.Post("/holds", s.need(wallet.ScopeWalletTransfer), s.requireJSON, s.placeHold)
	api.Get("/holds", s.need(wallet.ScopeWalletRead), s.listHolds)
	api.Get("/holds/:id", s.need(wallet.ScopeWalletRead), s.getHold)
	api.Post("/holds/:id/capture", s.need(wallet.ScopeWalletTransfer), s.optionalJSON, s.captureHold)
	api.Post("/holds/:id/void", s.need(wallet.ScopeWalletTransfer, wallet.ScopeAdmin), s.optionalJSON, s.voidHold)
}

type holdJSON = ledger.HoldView

func (s *Server) holdJSON(h wallet.Hold) holdJSON { return ledger.ViewHold(h, s.cur) }

type holdBody struct {
	WalletID  *string        `json:"wallet_id"`
	Amount    jsontext.Value `json:"amount"`
	Details   *string        `json:"details"`
	ExpiresIn jsontext.Value `json:"expires_in"`
}

// expiresIn reads expires_in: whole seconds, 1 to 30 days, 7 days if
// absent.
func expiresIn(raw jsontext.Value) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return wallet.DefaultHoldExpiry, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 1 || time.Duration(n)*time.Second > wallet.MaxHoldExpiry {
		return 0, wallet.Errorf(wallet.EInvalidExpiry, "expires_in must be a whole number of seconds, 1 to 2592000")
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) placeHold(c *fiber.Ctx) error {
	var b holdBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	to, err := walletIDField(b.WalletID)
	if err != nil {
		return s.writeError(c, err)
	}
	amount, err := s.cur.ParseJSONAmount(b.Amount, s.cfg.MaxAmount)
	if err != nil {
		return s.writeError(c, err)
	}
	details, err := ledger.CheckDetails(deref(b.Details), false)
	if err != nil {
		return s.writeError(c, err)
	}
	exp, err := expiresIn(b.ExpiresIn)
	if err != nil {
		return s.writeError(c, err)
	}
	req := ledger.Request{Caller: caller(c).User, Type: wallet.OpHold, ToWalletID: to, Amount: amount, Details: details,
		ExpiresIn: exp, RequestHash: ledger.HashRequest(string(wallet.OpHold), to, strconv.FormatInt(int64(amount), 10),
			details, exp.String())}
	return s.operate(c, req, s.svc.Submit)
}

func (s *Server) getHold(c *fiber.Ctx) error {
	h, err := s.svc.Hold(c.UserContext(), caller(c).User, c.Params("id"))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(s.holdJSON(h))
}

var holdStatuses = []string{string(wallet.HoldPending), string(wallet.HoldActive), string(wallet.HoldCaptured),
	string(wallet.HoldVoided), string(wallet.HoldExpired), string(wallet.HoldFailed)}

func (s *Server) listHolds(c *fiber.Ctx) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return s.writeError(c, err)
	}
	status, err := statusParam(c, holdStatuses...)
	if err != nil {
		return s.writeError(c, err)
	}
	role := c.Query("role")
	if role != "" && role != "payer" && role != "recipient" {
		return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "role must be payer or recipient"))
	}
	holds, err := s.svc.Holds(c.UserContext(), caller(c).User, wallet.HoldFilter{Role: role,
		Status: wallet.HoldStatus(status), Before: before, Limit: limit + 1})
	if err != nil {
		return s.writeError(c, err)
	}
	holds, next := trimPage(holds, limit, func(h wallet.Hold) string { return h.ID })
	out := make([]holdJSON, len(holds))
	for i, h := range holds {
		out[i] = s.holdJSON(h)
	}
	return c.JSON(fiber.Map{"holds": out, "next_cursor": next})
}

type captureBody struct {
	Amount jsontext.Value `json:"amount"`
	Final  *bool          `json:"final"`
}

func (s *Server) captureHold(c *fiber.Ctx) error {
	var b captureBody
	if len(c.Body()) > 0 {
		if err := decodeJSON(c.Body(), &b); err != nil {
			return s.writeError(c, err)
		}
	}
	var amount wallet.Amount // 0: all that remains
	if len(b.Amount) > 0 && string(b.Amount) != "null" {
		var err error
		if amount, err = s.cur.ParseJSONAmount(b.Amount, s.cfg.MaxAmount); err != nil {
			return s.writeError(c, err)
		}
	}
	final := b.Final == nil || *b.Final
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		return s.writeError(c, wallet.Errorf(wallet.EHoldNotFound, "hold not found"))
	}
	req := ledger.Request{Caller: caller(c).User, Type: wallet.OpHoldCapture, HoldID: id, Amount: amount, CaptureFinal: final,
		RequestHash: ledger.HashRequest(string(wallet.OpHoldCapture), id, strconv.FormatInt(int64(amount), 10), strconv.FormatBool(final))}
	return s.operate(c, req, s.svc.Submit)
}

func (s *Server) voidHold(c *fiber.Ctx) error {
	if err := noFields(c); err != nil {
		return s.writeError(c, err)
	}
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		return s.writeError(c, wallet.Errorf(wallet.EHoldNotFound, "hold not found"))
	}
	req := ledger.Request{Caller: caller(c).User, Type: wallet.OpHoldVoid, HoldID: id,
		RequestHash: ledger.HashRequest(string(wallet.OpHoldVoid), id)}
	return s.operate(c, req, s.svc.Submit)
}
