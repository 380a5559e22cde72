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
	s.app.Get("/holds", pageHeaders, s.holdsPage)
	s.app.Post("/holds", pageHeaders, s.checkOrigin, s.placeHoldForm)
	s.app.Post("/holds/:id/capture", pageHeaders, s.checkOrigin, s.captureHoldForm)
	s.app.Post("/holds/:id/void", pageHeaders, s.checkOrigin, s.voidHoldForm)
}

// holdRow is a hold in the page's lists.
type holdRow struct {
	ID, When, Status, Amount, Captured, Remaining, Other, Details, Expires string
	Active                                                                 bool
}

const holdsPage = "/holds"

func (s *Server) holdsPage(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	d := pageData{Title: "Holds", SignedIn: true, CSRF: p.CSRF, Name: p.User.Name, Currency: s.cur.Code,
		WalletID: p.WalletID, EventTypes: "hold.active hold.captured hold.voided hold.expired operation.completed operation.failed",
		FormKey: newFormKey()}
	flash(c, &d)
	for _, role := range []string{"payer", "recipient"} {
		hs, err := s.svc.Holds(c.UserContext(), p.User, wallet.HoldFilter{Role: role, Limit: 20})
		if err != nil {
			return s.renderError(c, "holds.html", d, err)
		}
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
	return s.render(c, fiber.StatusOK, "holds.html", d)
}

func (s *Server) placeHoldForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, holdsPage)
	if p == nil {
		return fail("")
	}
	to, amount, details, code := s.moneyFields(f, false)
	if code != "" {
		return fail(code)
	}
	exp := wallet.DefaultHoldExpiry
	if h := f.get("expires_in_hours"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 1 || time.Duration(n)*time.Hour > wallet.MaxHoldExpiry {
			return fail(wallet.EInvalidExpiry)
		}
		exp = time.Duration(n) * time.Hour
	}
	return s.submitForm(c, p, f, holdsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpHold, ToWalletID: to,
		Amount: amount, Details: details, ExpiresIn: exp,
		RequestHash: ledger.HashRequest(string(wallet.OpHold), to, strconv.FormatInt(int64(amount), 10), details, exp.String())})
}

// holdFormStart is formStart for a form about the hold in the path,
// with its id.
func (s *Server) holdFormStart(c *fiber.Ctx) (*principal, formFields, func(string) error, string) {
	p, f, fail := s.formStart(c, holdsPage)
	if p == nil {
		return nil, nil, fail, ""
	}
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		return nil, nil, func(string) error { return fail(wallet.EHoldNotFound) }, ""
	}
	return p, f, fail, id
}

// captureHoldForm captures the amount given (the rest released, unless
// "keep the rest" is ticked) or, with none, all that remains.
func (s *Server) captureHoldForm(c *fiber.Ctx) error {
	p, f, fail, id := s.holdFormStart(c)
	if p == nil {
		return fail("")
	}
	var amount wallet.Amount
	if a := f.get("amount"); a != "" {
		var err error
		if amount, err = s.cur.ParseAmount(a, s.cfg.MaxAmount); err != nil {
			return fail(wallet.ErrorCode(err))
		}
	}
	final := f.get("keep_rest") == ""
	return s.submitForm(c, p, f, holdsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpHoldCapture, HoldID: id,
		Amount: amount, CaptureFinal: final,
		RequestHash: ledger.HashRequest(string(wallet.OpHoldCapture), id, strconv.FormatInt(int64(amount), 10), strconv.FormatBool(final))})
}

func (s *Server) voidHoldForm(c *fiber.Ctx) error {
	p, f, fail, id := s.holdFormStart(c)
	if p == nil {
		return fail("")
	}
	return s.submitForm(c, p, f, holdsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpHoldVoid, HoldID: id,
		RequestHash: ledger.HashRequest(string(wallet.OpHoldVoid), id)})
}
