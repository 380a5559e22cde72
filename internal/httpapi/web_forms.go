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
	"regexp"
	"slices"
	"strconv"
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
	// users: the page and its forms are for wallet owners only.
	users bool
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
		if slices.Contains(fields, want) {
			ff.Field = want
			break
		}
	}
	for k, v := range f {
		if !secretFields[k] && slices.Contains(fields, k) {
			ff.Values[k] = v
		}
	}
	status := statusFor(code)
	return ff, code, status
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
		Path: path, Role: string(p.User.Role), FormKey: newFormKey(), AmountHint: s.amountHint(), Query: url.Values{}}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) { d.Query.Set(string(k), string(v)) })
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

// allowed refuses a page for wallet owners to anyone else.
func (pg webPage) allowed(p *principal) error {
	if pg.users && p.User.Role != wallet.RoleUser {
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
		if err := pg.allowed(p); err != nil {
			d.Title = "Not available"
			return s.renderError(c, "layout_error.html", d, err)
		}
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
// does not parse, a wrong token, a page not for this user), p is nil and
// fail, whatever it is given, answers as that case needs: the login page,
// or the page with the error (400, 403) and nothing done.
func (s *Server) formStart(c *fiber.Ctx, pg webPage, form string, fields ...string) (*principal, formFields, func(error) error) {
	p := s.webSession(c)
	if p == nil {
		return nil, nil, func(error) error { return c.Redirect("/login", fiber.StatusSeeOther) }
	}
	refuse := func(err error) func(error) error {
		return func(error) error { return s.formFailed(c, p, pg, "", nil, nil, err) }
	}
	f, err := readForm(c)
	if err != nil {
		return nil, nil, refuse(err)
	}
	if !formCSRF(f, p) {
		return nil, nil, refuse(errFormExpired)
	}
	if err := pg.allowed(p); err != nil {
		return nil, nil, refuse(err)
	}
	return p, f, func(err error) error { return s.formFailed(c, p, pg, form, fields, f, err) }
}

// errFormExpired refuses a post without the session's CSRF token.
var errFormExpired = wallet.Errorf(eCSRF, "the form has expired; reload the page and try again")

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

// formFailed renders pg again for a failed post of form. Should the page
// itself fail to fill, it is shown as far as it got, with the form's
// error: the one the person needs.
func (s *Server) formFailed(c *fiber.Ctx, p *principal, pg webPage, form string, fields []string, f formFields, err error) error {
	d := s.userPage(c, p, pg.path)
	tmpl := "layout_error.html"
	d.Title = "Not available"
	if pg.allowed(p) == nil {
		var ferr error
		if tmpl, ferr = pg.fill(s, c, p, &d); ferr != nil {
			s.log.Warn("page failed to fill after a failed form", slog.String("path", pg.path), slog.Any("error", ferr))
		}
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
	if status >= fiber.StatusInternalServerError {
		// The operation may have been stored before the failure: the form
		// keeps its key, so that sending it again is the same operation.
		if base, ok := formKeyBase(f.get("idempotency_key")); ok {
			d.FormKey = base
		}
	}
	setRetryAfter(c, code, err)
	return s.render(c, status, tmpl, d)
}

// renderCreated answers a form that made something with a secret (a
// webhook's, an OAuth client's): the page with the notice and the secret,
// shown this once. Should the page's lists fail, the secret still shows.
func (s *Server) renderCreated(c *fiber.Ctx, p *principal, pg webPage, notice, secret string) error {
	d := s.userPage(c, p, pg.path)
	tmpl, err := pg.fill(s, c, p, &d)
	if err != nil {
		_, d.Error = publicError(err)
		s.log.Warn("page failed to fill after a creation", slog.String("path", pg.path), slog.Any("error", err))
	}
	d.Notice, d.Secret = notice, secret
	return s.render(c, fiber.StatusCreated, tmpl, d)
}

// formKeyBase is the rendered page's key of a form's idempotency key
// (a row's form adds "-action-id" to it).
func formKeyBase(key string) (string, bool) {
	base, _, _ := strings.Cut(key, "-")
	if len(base) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(base); err != nil {
		return "", false
	}
	return base, true
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
// operation that failed in that time (or a replay of one that failed) is
// shown as the form's error.
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
	op := acc.Op
	if !acc.Replayed {
		s.accepted.WithLabelValues(string(op.Type)).Inc()
		// Accepted: how it ends shows in the page's lists, so a failure to
		// wait for it is no error of the form's.
		if final, err := s.waitFinal(c.UserContext(), op, p.WalletID, 3*time.Second); err == nil {
			op = final
		}
	}
	if op.Status == wallet.StatusFailed {
		return fail(wallet.Errorf(op.FailureCode, "the %s failed: %s", strings.ReplaceAll(string(op.Type), "_", " "),
			strings.ReplaceAll(op.FailureCode, "_", " ")))
	}
	return c.Redirect(pg.path, fiber.StatusSeeOther)
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
	"fieldAttrs": invalidAttrs,
	// fieldError is the message beside the field it concerns.
	"fieldError": fieldErrorHTML,
	// moreLinks are a list's "Newest" and "Older" links.
	"moreLinks": func(d pageData, list, what string) template.HTML {
		lp := d.Lists[list]
		link := func(cursor string) string { // the page with the other lists where they are
			q := url.Values{}
			for k, v := range d.Query {
				q[k] = v
			}
			q.Del(list)
			if cursor != "" {
				q.Set(list, cursor)
			}
			if len(q) == 0 {
				return d.Path
			}
			return d.Path + "?" + q.Encode()
		}
		var parts []string
		if lp.Older {
			parts = append(parts, `<a href="`+html.EscapeString(link(""))+`">Newest `+html.EscapeString(what)+`</a>`)
		}
		if lp.Next != "" {
			parts = append(parts, `<a id="older-`+html.EscapeString(list)+`" href="`+html.EscapeString(link(lp.Next))+
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
			if !attrName.MatchString(k) {
				panic("template: input attribute " + strconv.Quote(k)) // only template text comes here
			}
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
		b.WriteString(" " + string(invalidAttrs(d, form, name)))
		id = html.EscapeString(id)
		return template.HTML(`<label for="` + id + `">` + html.EscapeString(label) + `</label><input id="` + id + `" name="` +
			html.EscapeString(name) + `"` + b.String() + `>` + string(fieldErrorHTML(d, form, name)))
	},
}

// attrName is what an input's attribute may be called.
var attrName = regexp.MustCompile(`^[a-z][a-z-]*$`)

func invalidAttrs(d pageData, form, field string) template.HTMLAttr {
	if !failedAt(d, form, field) {
		return ""
	}
	return template.HTMLAttr(`aria-invalid="true" aria-describedby="` + errorID(form, field) + `" autofocus`)
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
