package httpapi

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// The holds page: reserve money for someone (a hold), and for the holds
// placed for you, capture them in part or in full, or void them; the
// same use cases as the API.

func (s *Server) routesHoldsPage() {
	s.app.Get("/holds", pageHeaders, s.showPage(holdsPage))
	s.app.Post("/holds", pageHeaders, s.checkOrigin, s.placeHoldForm)
	s.app.Post("/holds/:id/capture", pageHeaders, s.checkOrigin, s.captureHoldForm)
	s.app.Post("/holds/:id/void", pageHeaders, s.checkOrigin, s.voidHoldForm)
}

// holdRow is a hold in the page's lists.
type holdRow struct {
	ID, When, Status, Amount, Captured, Remaining, Other, Details, Expires string
	Active                                                                 bool
}

var (
	holdsPage       = webPage{path: "/holds", fill: (*Server).fillHolds, users: true}
	errHoldNotFound = wallet.Errorf(wallet.EHoldNotFound, "hold not found")
)

func (s *Server) fillHolds(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title = "Holds"
	for _, role := range []string{"payer", "recipient"} {
		list := map[string]string{"payer": "placed", "recipient": "for_me"}[role]
		before, err := listCursor(c, list)
		if err != nil {
			return "holds.html", err
		}
		hs, err := s.svc.Holds(c.UserContext(), p.User, wallet.HoldFilter{Role: role, Before: before, Limit: listLimit + 1})
		if err != nil {
			return "holds.html", err
		}
		hs, next := trimPage(hs, listLimit, func(h wallet.Hold) string { return h.ID })
		d.paged(list, before, next)
		for _, h := range hs {
			row := holdRow{ID: h.ID, When: h.CreatedAt.UTC().Format(time.DateTime), Status: string(h.Status),
				Amount: s.cur.Format(h.Amount), Captured: s.cur.Format(h.Captured), Remaining: s.cur.Format(h.Remaining()),
				Details: h.Details, Expires: h.ExpiresAt.UTC().Format(time.DateTime), Active: h.Status == wallet.HoldActive}
			if role == "payer" {
				row.Other = h.ToWalletID
				d.HoldsPlaced = append(d.HoldsPlaced, row)
			} else {
				row.Other = h.FromWalletID
				d.HoldsForMe = append(d.HoldsForMe, row)
			}
		}
	}
	return "holds.html", nil
}

func (s *Server) placeHoldForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, holdsPage, "hold", append(moneyFormFields, "expires_in_hours")...)
	if p == nil {
		return fail(nil)
	}
	to, amount, details, err := s.moneyFields(f, false)
	if err != nil {
		return fail(err)
	}
	exp, err := expiryField(f)
	if err != nil {
		return fail(err)
	}
	return s.submitForm(c, p, f, holdsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpHold, ToWalletID: to,
		Amount: amount, Details: details, ExpiresIn: exp,
		RequestHash: ledger.HashRequest(string(wallet.OpHold), to, strconv.FormatInt(int64(amount), 10), details, exp.String())})
}

// captureHoldForm captures the amount given (the rest released, unless
// "keep the rest" is ticked) or, with none, all that remains.
func (s *Server) captureHoldForm(c *fiber.Ctx) error {
	p, f, fail, id := s.rowFormStart(c, holdsPage, "capture", errHoldNotFound, "amount")
	if p == nil {
		return fail(nil)
	}
	var amount wallet.Amount
	if a := f.get("amount"); a != "" {
		var err error
		if amount, err = s.cur.ParseAmount(a, s.cfg.MaxAmount); err != nil {
			return fail(err)
		}
	}
	final := f.get("keep_rest") == ""
	return s.submitForm(c, p, f, holdsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpHoldCapture, HoldID: id,
		Amount: amount, CaptureFinal: final,
		RequestHash: ledger.HashRequest(string(wallet.OpHoldCapture), id, strconv.FormatInt(int64(amount), 10), strconv.FormatBool(final))})
}

func (s *Server) voidHoldForm(c *fiber.Ctx) error {
	p, f, fail, id := s.rowFormStart(c, holdsPage, "void", errHoldNotFound)
	if p == nil {
		return fail(nil)
	}
	return s.submitForm(c, p, f, holdsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpHoldVoid, HoldID: id,
		RequestHash: ledger.HashRequest(string(wallet.OpHoldVoid), id)})
}

// expiryField reads a form's expires_in_hours: a hold's or a payment
// request's life, the default when empty.
func expiryField(f formFields) (time.Duration, error) {
	h := f.get("expires_in_hours")
	if h == "" {
		return wallet.DefaultHoldExpiry, nil
	}
	n, err := strconv.Atoi(h)
	if err != nil || n < 1 || time.Duration(n)*time.Hour > wallet.MaxHoldExpiry {
		return 0, wallet.Errorf(wallet.EInvalidExpiry, "expires after 1 to %d hours", int(wallet.MaxHoldExpiry/time.Hour))
	}
	return time.Duration(n) * time.Hour, nil
}
