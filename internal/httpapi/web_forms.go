package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"html"
	"html/template"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// Forms on the pages. A post starts with formStart (the session, the form
// and its CSRF token). When it succeeds the browser is sent back to the
// page (post, redirect, get). When it fails the page is rendered again
// with the error's status, the contract's message at the top of the page
// and beside the field it concerns, and the values that were sent, so nothing typed is lost but passwords.

// webPage is a page that holds forms: where it lives, and how it fills
// what it shows, returning its template.
type webPage struct {
	path string
	fill func(s *Server, c *fiber.Ctx, p *principal, d *pageData) (string, error)
}

// formFailure is a failed post shown again: which form (as the template
// names it), the field the error concerns ("" for the form as a whole),
// the message, and the values sent.
type formFailure struct {
	Form, Field, Message string
	Values               formFields
}

// fieldsOf names the fields each error code concerns, in the order tried:
// the first the form has is the one the message goes beside.
var fieldsOf = map[string][]string{
	wallet.EInvalidAmount:      {"amount"},
	wallet.EInsufficientFunds:  {"amount"},
	wallet.ECaptureExceedsHold: {"amount"},
	wallet.ECurrencyMismatch:   {"amount"},
	wallet.EWalletNotFound:     {"wallet_id"},
	wallet.EInvalidWalletID:    {"wallet_id"},
	wallet.ESameWallet:         {"wallet_id"},
	wallet.EInvalidDetails:     {"details", "reason", "reference"},
	wallet.EInvalidExpiry:      {"expires_in_hours"},
	wallet.EInvalidName:        {"name"},
	wallet.EInvalidEmail:       {"email"},
	wallet.EEmailTaken:         {"email"},
	wallet.EWeakPassword:       {"password"},
	wallet.EBankNotFound:       {"bank_id"},
	wallet.EInvalidURL:         {"url"},
	wallet.EInvalidEventType:   {"events"},
}

// fieldError is an error about one field, named by the handler where the
// code alone cannot say which (invalid_request).
type fieldError struct {
	field string
	err   error
}

func (e fieldError) Error() string { return e.err.Error() }
func (e fieldError) Unwrap() error { return e.err }

// atField says that err concerns the form's field.
func atField(field string, err error) error { return fieldError{field, err} }

// secretFields are never echoed back into a page.
var secretFields = map[string]bool{"password": true, "csrf_token": true, "idempotency_key": true}

// newFailure is the failure of a post of form (with fields) for err, and
// the status to answer with.
func newFailure(form string, fields []string, f formFields, err error) (*formFailure, string, int) {
	code, msg := publicError(err)
	ff := &formFailure{Form: form, Message: msg, Values: formFields{}}
	candidates := fieldsOf[code]
	var at fieldError
	if errors.As(err, &at) {
		candidates = []string{at.field}
	}
	for _, want := range candidates {
		if containsString(fields, want) {
			ff.Field = want
			break
		}
	}
	for k, v := range f {
		if !secretFields[k] && containsString(fields, k) {
			ff.Values[k] = v
		}
	}
	status := statusOf[code]
	if status == 0 {
		status = fiber.StatusInternalServerError
	}
	return ff, code, status
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// amountHint is an example amount in the currency's format (10 units),
// for the amount fields' placeholders.
func (s *Server) amountHint() string {
	a := wallet.Amount(10)
	for range s.cur.Digits {
		a *= 10
	}
	return s.cur.Format(a)
}

// userPage is what every signed-in page starts from.
func (s *Server) userPage(c *fiber.Ctx, p *principal, path string) pageData {
	d := pageData{SignedIn: true, CSRF: p.CSRF, Name: p.User.Name, Currency: s.cur.Code, WalletID: p.WalletID,
		Path: path, Role: string(p.User.Role), FormKey: newFormKey(), AmountHint: s.amountHint()}
	if p.User.Role != wallet.RoleAdmin {
		d.Unread = s.unread(c, p.User.ID)
		// Every page follows the user's events: its lists and the unread
		// count beside the notifications link.
		d.EventTypes = strings.Join(wallet.EventTypes, " ")
	}
	return d
}

// errNotWalletOwner refuses a wallet owner's page to a bank or an admin.
var errNotWalletOwner = wallet.Errorf(wallet.EForbidden, "this page is for wallet owners")

// walletOwnerPage lets users through, and no one else.
func walletOwnerPage(p *principal) error {
	if p.User.Role != wallet.RoleUser {
		return errNotWalletOwner
	}
	return nil
}

// showPage serves a page to the browser signed in, or sends it to log in.
func (s *Server) showPage(pg webPage) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := s.webSession(c)
		if p == nil {
			return c.Redirect("/login", fiber.StatusSeeOther)
		}
		d := s.userPage(c, p, pg.path)
		flash(c, &d)
		tmpl, err := pg.fill(s, c, p, &d)
		if err != nil {
			return s.renderError(c, tmpl, d, err)
		}
		return s.render(c, fiber.StatusOK, tmpl, d)
	}
}

// formStart is the first step of every form post: the session, the form
// and its CSRF token. form names the form as its template does, fields
// are the fields it has. fail renders the page again with the error
// beside its field. When the post cannot go on (no session, a form that
// does not parse, a wrong token), p is nil and fail, whatever it is
// given, redirects as that case needs.
func (s *Server) formStart(c *fiber.Ctx, pg webPage, form string, fields ...string) (*principal, formFields, func(error) error) {
	p := s.webSession(c)
	if p == nil {
		return nil, nil, func(error) error { return c.Redirect("/login", fiber.StatusSeeOther) }
	}
	back := func(code string) func(error) error {
		return func(error) error {
			return c.Redirect(pg.path+"?error="+url.QueryEscape(code), fiber.StatusSeeOther)
		}
	}
	f, err := readForm(c)
	if err != nil {
		return nil, nil, back(wallet.ErrorCode(err))
	}
	if !formCSRF(f, p) {
		return nil, nil, back(eCSRF)
	}
	return p, f, func(err error) error { return s.formFailed(c, p, pg, form, fields, f, err) }
}

// rowFormStart is formStart for a form about the object whose id is in
// the path (a row of the page's lists), named action-id in the template;
// it returns the object's id too. An id that cannot be one fails with
// notFound.
func (s *Server) rowFormStart(c *fiber.Ctx, pg webPage, action string, notFound error, fields ...string) (*principal, formFields, func(error) error, string) {
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		p, _, fail := s.formStart(c, pg, "")
		return nil, nil, func(error) error {
			if p == nil {
				return fail(nil)
			}
			return fail(notFound)
		}, ""
	}
	p, f, fail := s.formStart(c, pg, action+"-"+id, fields...)
	return p, f, fail, id
}

// formFailed renders pg again for a failed post of form.
func (s *Server) formFailed(c *fiber.Ctx, p *principal, pg webPage, form string, fields []string, f formFields, err error) error {
	d := s.userPage(c, p, pg.path)
	tmpl, ferr := pg.fill(s, c, p, &d)
	if ferr != nil {
		return s.renderError(c, tmpl, d, ferr)
	}
	return s.renderFailed(c, tmpl, d, form, fields, f, err)
}

// renderFailed renders a page again for a failed post of its form.
func (s *Server) renderFailed(c *fiber.Ctx, tmpl string, d pageData, form string, fields []string, f formFields, err error) error {
	ff, code, status := newFailure(form, fields, f, err)
	if status >= fiber.StatusInternalServerError {
		s.log.Error("form failed", slog.String("path", c.Path()), slog.Any("error", err))
	}
	// At the top of the page always (announced, and seen even when the
	// form is no longer on the page), and beside its field too.
	d.Error, d.Failed = ff.Message, ff
	setRetryAfter(c, code, err)
	return s.render(c, status, tmpl, d)
}

// formCSRF checks the form's token against the session's.
func formCSRF(f formFields, p *principal) bool {
	return p.CSRF != "" && subtle.ConstantTimeCompare([]byte(f.get("csrf_token")), []byte(p.CSRF)) == 1
}

// newFormKey returns a fresh idempotency key for a rendered form.
func newFormKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// moneyFields reads a form's wallet_id, amount and details (required
// for a deposit), or the error that refuses them.
func (s *Server) moneyFields(f formFields, detailsRequired bool) (walletID string, amount wallet.Amount, details string, err error) {
	raw := f.get("wallet_id")
	id, err := walletIDField(&raw)
	if err != nil {
		return "", 0, "", err
	}
	if amount, err = s.cur.ParseAmount(f.get("amount"), s.cfg.MaxAmount); err != nil {
		return "", 0, "", err
	}
	if details, err = ledger.CheckDetails(f.get("details"), detailsRequired); err != nil {
		return "", 0, "", err
	}
	return id, amount, details, nil
}

// submitForm submits a form's operation as the API would (the form's
// idempotency key makes a double submit one operation), waits briefly
// so the page usually shows it final, and goes back to the page; an
// operation that failed in that time is shown as the form's error.
func (s *Server) submitForm(c *fiber.Ctx, p *principal, f formFields, pg webPage, fail func(error) error, req ledger.Request) error {
	return s.submitFormWith(c, p, f, pg, fail, req, s.svc.Submit)
}

// submitFormWith is submitForm through another use case of the same
// shape (approving a payment request).
func (s *Server) submitFormWith(c *fiber.Ctx, p *principal, f formFields, pg webPage, fail func(error) error, req ledger.Request,
	submit func(context.Context, ledger.Request) (ledger.Accepted, error)) error {
	if k := f.get("idempotency_key"); k != "" {
		if _, err := checkIdempotencyKey(k); err != nil {
			return fail(err)
		}
		req.IdempotencyKey = "form:" + k // apart from the keys API clients choose
	}
	acc, err := submit(c.UserContext(), req)
	switch wallet.ErrorCode(err) {
	case "":
	case wallet.ERequestInProgress:
		// The first submit of this form is being accepted: its result
		// shows in the list.
		return c.Redirect(pg.path, fiber.StatusSeeOther)
	default:
		return fail(err)
	}
	if acc.Replayed {
		return c.Redirect(pg.path, fiber.StatusSeeOther)
	}
	s.accepted.WithLabelValues(string(acc.Op.Type)).Inc()
	op, err := s.waitFinal(c.UserContext(), acc.Op, p.WalletID, 3*time.Second)
	if err != nil {
		return fail(err)
	}
	if op.Status == wallet.StatusFailed {
		return fail(wallet.Errorf(op.FailureCode, "the %s failed: %s", strings.ReplaceAll(string(op.Type), "_", " "),
			strings.ReplaceAll(op.FailureCode, "_", " ")))
	}
	return c.Redirect(pg.path, fiber.StatusSeeOther)
}

// flash puts the error a form post redirected with on the page. Flash
// messages come as codes only, so a crafted link cannot put words on the
// page.
func flash(c *fiber.Ctx, d *pageData) {
	code := c.Query("error")
	if code == "" {
		return
	}
	if msg, ok := flashMessages[code]; ok {
		d.Error = msg
		return
	}
	d.Error = "Not done: " + strings.ReplaceAll(safeCode(code), "_", " ") + "."
}

// flashMessages word the codes a form post redirects with.
var flashMessages = map[string]string{
	eCSRF:                  "Not done: the form has expired; reload the page and try again.",
	wallet.EInvalidRequest: "Not done: the form was not sent as this page sends it; reload the page and try again.",
	eUnsupportedMediaType:  "Not done: the form was not sent as this page sends it; reload the page and try again.",
}

// safeCode passes only snake_case codes through.
func safeCode(code string) string {
	if len(code) > 40 {
		return "error"
	}
	for _, r := range code {
		if (r < 'a' || r > 'z') && r != '_' {
			return "error"
		}
	}
	return code
}

// Pages with several lists page each apart: a list's cursor is in the
// query under the list's name, listLimit rows at a time.
const listLimit = 20

// listCursor reads the cursor of one of the page's lists.
func listCursor(c *fiber.Ctx, list string) (string, error) {
	return decodeCursor(c.Query(list))
}

// paged notes where a list of the page starts (before) and its next
// page's cursor.
func (d *pageData) paged(list, before string, next *string) {
	if d.Lists == nil {
		d.Lists = map[string]listPaging{}
	}
	lp := listPaging{Older: before != ""}
	if next != nil {
		lp.Next = *next
	}
	d.Lists[list] = lp
}

// listPaging is where one list of a page stands.
type listPaging struct {
	Older bool   // shown from a cursor, not from the newest
	Next  string // the next page's cursor, "" on the last
}

// The templates' form helpers: each takes the page's data, the form's
// name and a field's.
var formFuncs = template.FuncMap{
	// sent is the value a failed post of the form sent for the field.
	"sent": sentValue,
	// fieldAttrs marks the field the error concerns, linked to its
	// message, and puts the focus there.
	"fieldAttrs": func(d pageData, form, field string) template.HTMLAttr {
		if !failedAt(d, form, field) {
			return ""
		}
		return template.HTMLAttr(`aria-invalid="true" aria-describedby="` + errorID(form, field) + `" autofocus`)
	},
	// fieldError is the message beside the field it concerns.
	"fieldError": fieldErrorHTML,
	// moreLinks are a list's "Newest" and "Older" links.
	"moreLinks": func(d pageData, list, what string) template.HTML {
		lp := d.Lists[list]
		var parts []string
		if lp.Older {
			parts = append(parts, `<a href="`+html.EscapeString(d.Path)+`">Newest `+html.EscapeString(what)+`</a>`)
		}
		if lp.Next != "" {
			parts = append(parts, `<a id="older-`+html.EscapeString(list)+`" href="`+html.EscapeString(d.Path+"?"+list+"="+url.QueryEscape(lp.Next))+
				`">Older `+html.EscapeString(what)+`</a>`)
		}
		if len(parts) == 0 {
			return ""
		}
		return template.HTML("<p>" + strings.Join(parts, " · ") + "</p>")
	},
	// input is a labelled text field of the form: the value a failed
	// post sent, and the error beside it when it concerns this field.
	// attrs are the input's own ("required", "type=email", "id=x": the id
	// is the name unless given).
	"input": func(d pageData, form, name, label string, attrs ...string) template.HTML {
		id := name
		var b strings.Builder
		for _, a := range attrs {
			k, v, hasValue := strings.Cut(a, "=")
			if k == "id" {
				id = v
				continue
			}
			b.WriteString(" " + html.EscapeString(k))
			if hasValue {
				b.WriteString(`="` + html.EscapeString(v) + `"`)
			}
		}
		if v := sentValue(d, form, name); v != "" {
			b.WriteString(` value="` + html.EscapeString(v) + `"`)
		}
		if failedAt(d, form, name) {
			b.WriteString(` aria-invalid="true" aria-describedby="` + errorID(form, name) + `" autofocus`)
		}
		id = html.EscapeString(id)
		return template.HTML(`<label for="` + id + `">` + html.EscapeString(label) + `</label><input id="` + id + `" name="` +
			html.EscapeString(name) + `"` + b.String() + `>` + string(fieldErrorHTML(d, form, name)))
	},
}

func sentValue(d pageData, form, field string) string {
	if d.Failed == nil || d.Failed.Form != form {
		return ""
	}
	return d.Failed.Values[field]
}

func fieldErrorHTML(d pageData, form, field string) template.HTML {
	if !failedAt(d, form, field) {
		return ""
	}
	return template.HTML(`<p class="field-error" id="` + errorID(form, field) + `">` +
		html.EscapeString(d.Failed.Message) + `</p>`)
}

func failedAt(d pageData, form, field string) bool {
	return d.Failed != nil && form != "" && d.Failed.Form == form && d.Failed.Field == field
}

func errorID(form, field string) string {
	return html.EscapeString(form + "-" + field + "-error")
}
