package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/wallet.js
var walletJS []byte

// walletScript serves the wallet page's live updates.
func (s *Server) walletScript(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(walletJS)
}

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// page is the data every template gets.
type pageData struct {
	Title    string
	SignedIn bool
	CSRF     string
	Error    string
	Notice   string
	// Form values echoed back, never the password.
	Name, Email string
	// Home page. FormKey is the transfer form's idempotency key: one per
	// rendered form, so a double submit makes one transfer.
	WalletID, Balance, Available, Currency string
	CanTransfer                            bool
	FormKey                                string
	// EventTypes are the live updates the page follows (space-separated).
	EventTypes string
	// Bank console: Bank marks it, Withdrawals are those addressed to
	// the bank.
	Bank        bool
	Withdrawals []withdrawalRow
	// Payment requests page: asked of me, asked by me.
	Incoming, Outgoing []requestRow
	// Holds page: placed by me, placed for me.
	HoldsPlaced, HoldsForMe []holdRow
	// Unread is the user's unread notification count; Notes the feed.
	Unread int
	Notes  []noteRow
	// Withdrawals page: the banks to withdraw through.
	BankChoices []bankChoice
	// Admin console and audit.
	Admin      bool
	Banks      []bankRow
	Audit      []auditRow
	AuditOK    bool
	AuditAt    string
	Operations []opRow
	// OAuth is the consent page's request.
	OAuth *consentData
	// Docs is the API reference.
	Docs *docsData
}

type opRow struct {
	When, Type, Status, Amount, BalanceAfter, Details string
}

func (s *Server) routesWeb() {
	s.app.Get("/", pageHeaders, s.home)
	s.app.Get("/login", pageHeaders, s.loginPage)
	s.app.Post("/login", pageHeaders, s.checkOrigin, s.loginForm)
	s.app.Get("/signup", pageHeaders, s.signupPage)
	s.app.Post("/signup", pageHeaders, s.checkOrigin, s.signupForm)
	s.app.Get("/logout", pageHeaders, s.logoutPage)
	s.app.Post("/logout", pageHeaders, s.checkOrigin, s.logoutForm)
	s.app.Post("/transfer", pageHeaders, s.checkOrigin, s.transferForm)
	s.routesBankConsole()
	s.routesRequestsPage()
	s.routesHoldsPage()
	s.routesAdminConsole()
	s.routesWithdrawalsPage()
	s.routesNotificationsPage()
	s.app.Get("/static/wallet.js", s.walletScript)
}

// pageHeaders keeps pages (and their redirects) out of caches and
// frames, and their content from being sniffed or leaking through the
// Referer.
func pageHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	return c.Next()
}

func (s *Server) render(c *fiber.Ctx, status int, name string, d pageData) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	formAction := "'self'"
	if d.OAuth != nil && d.OAuth.redirectOrigin != "" {
		// The consent form's answer redirects there (browsers hold
		// redirects after a form to form-action too).
		formAction += " " + d.OAuth.redirectOrigin
	}
	// Scripts and their requests only from here (the wallet page's live
	// updates), nothing inline.
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action "+formAction+"; frame-ancestors 'none'")
	c.Status(status)
	return pages.ExecuteTemplate(c.Response().BodyWriter(), name, d)
}

// renderError renders a page with an error's status and message.
func (s *Server) renderError(c *fiber.Ctx, name string, d pageData, err error) error {
	code, msg := publicError(err)
	status := statusOf[code]
	if status == 0 {
		status = fiber.StatusInternalServerError
	}
	setRetryAfter(c, code, err)
	d.Error = msg
	return s.render(c, status, name, d)
}

// webSession returns the cookie session's principal, or nil when the
// browser is not signed in.
func (s *Server) webSession(c *fiber.Ctx) *principal {
	if c.Cookies(cookieName) == "" {
		return nil
	}
	c.Request().Header.Del(fiber.HeaderAuthorization) // pages use the cookie only
	p, err := s.resolve(c)
	if err != nil {
		return nil
	}
	return p
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

func (s *Server) home(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	d := pageData{Title: "Your wallet", SignedIn: true, CSRF: p.CSRF, Name: p.User.Name, Currency: s.cur.Code,
		EventTypes: strings.Join(wallet.EventTypes, " ")}
	flash(c, &d)
	switch p.User.Role {
	case wallet.RoleBank:
		return s.bankConsole(c, p, d)
	case wallet.RoleAdmin:
		return s.adminConsole(c, p, d)
	}
	d.Unread = s.unread(c, p.User.ID)
	if p.WalletID != "" {
		w, err := s.store.WalletByID(c.UserContext(), p.WalletID)
		if err != nil {
			return s.writeError(c, err)
		}
		ops, err := s.store.WalletOperations(c.UserContext(), p.WalletID, "", 20)
		if err != nil {
			return s.writeError(c, err)
		}
		d.WalletID, d.Balance, d.Available = w.ID, s.cur.Format(w.Balance), s.cur.Format(w.Available)
		d.CanTransfer = w.Kind == wallet.KindUser
		d.FormKey = newFormKey()
		for _, op := range ops {
			row := opRow{When: op.CreatedAt.UTC().Format(time.DateTime), Type: string(op.Type),
				Status: string(op.Status), Amount: s.cur.Format(op.Amount), Details: op.Details}
			if op.FromWalletID == p.WalletID {
				row.Amount = "-" + row.Amount
			}
			if op.FailureCode != "" {
				row.Status += " (" + op.FailureCode + ")"
			}
			if op.BalanceAfter != nil {
				row.BalanceAfter = s.cur.Format(*op.BalanceAfter)
			}
			d.Operations = append(d.Operations, row)
		}
	}
	return s.render(c, fiber.StatusOK, "home.html", d)
}

func (s *Server) loginPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "login.html", loginNotice(c))
}

func loginNotice(c *fiber.Ctx) pageData {
	d := pageData{Title: "Log in"}
	if c.Query("logged_out") != "" {
		d.Notice = "You are logged out."
	}
	return d
}

func (s *Server) loginForm(c *fiber.Ctx) error {
	f, err := readForm(c)
	if err != nil {
		return s.renderError(c, "login.html", pageData{Title: "Log in"}, err)
	}
	email := f.get("email")
	u, err := s.checkPassword(c, email, f.get("password"))
	if err != nil {
		return s.renderError(c, "login.html", pageData{Title: "Log in", Email: email}, err)
	}
	if _, err := s.startSession(c, u.ID); err != nil {
		return s.writeError(c, err)
	}
	return c.Redirect("/", fiber.StatusSeeOther)
}

func (s *Server) signupPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "signup.html", pageData{Title: "Sign up"})
}

func (s *Server) signupForm(c *fiber.Ctx) error {
	f, err := readForm(c)
	if err != nil {
		return s.renderError(c, "signup.html", pageData{Title: "Sign up"}, err)
	}
	name, email := f.get("name"), f.get("email")
	d := pageData{Title: "Sign up", Name: name, Email: email}
	if err := s.signupAllowed(c); err != nil {
		return s.renderError(c, "signup.html", d, err)
	}
	u, _, err := s.svc.Signup(c.UserContext(), name, email, f.get("password"))
	s.countSignup(c, err)
	if err != nil {
		return s.renderError(c, "signup.html", d, err)
	}
	if _, err := s.startSession(c, u.ID); err != nil {
		return s.writeError(c, err)
	}
	return c.Redirect("/", fiber.StatusSeeOther)
}

func (s *Server) logoutPage(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	return s.render(c, fiber.StatusOK, "logout.html", pageData{Title: "Log out", SignedIn: true, CSRF: p.CSRF})
}

func (s *Server) logoutForm(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	f, err := readForm(c)
	if err != nil {
		return s.writeError(c, err)
	}
	if !formCSRF(f, p) {
		return s.writeError(c, wallet.Errorf(eCSRF, "the form has expired; reload the page"))
	}
	_ = s.sessions.DeleteSession(c.UserContext(), p.Token)
	s.clearSessionCookie(c)
	return c.Redirect("/login?logged_out=1", fiber.StatusSeeOther)
}

// transferForm submits a transfer from the page; the page's operation
// list then shows its status. The form's idempotency key makes a double
// submit (or a reload that posts again) one transfer.
func (s *Server) transferForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, "/")
	if p == nil {
		return fail("")
	}
	if p.Kind != wallet.KindUser {
		return fail(wallet.EForbidden)
	}
	to, amount, details, code := s.moneyFields(f, false)
	if code != "" {
		return fail(code)
	}
	return s.submitForm(c, p, f, "/", fail, ledger.Request{
		Caller: p.User, Type: wallet.OpTransfer, ToWalletID: to, Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(wallet.OpTransfer), to, strconv.FormatInt(int64(amount), 10), details),
	})
}

// moneyFields reads a form's wallet_id, amount and details (required
// for a deposit), or the error code that refuses them.
func (s *Server) moneyFields(f formFields, detailsRequired bool) (walletID string, amount wallet.Amount, details, code string) {
	id, ok := wallet.CanonicalID(f.get("wallet_id"))
	if !ok {
		return "", 0, "", wallet.EWalletNotFound
	}
	amount, err := s.cur.ParseAmount(f.get("amount"), s.cfg.MaxAmount)
	if err != nil {
		return "", 0, "", wallet.ErrorCode(err)
	}
	if details, err = ledger.CheckDetails(f.get("details"), detailsRequired); err != nil {
		return "", 0, "", wallet.ErrorCode(err)
	}
	return id, amount, details, ""
}

// formStart is the first step of every form post: the session, the form
// and its CSRF token. fail redirects back to page with an error code.
// When the post cannot go on (no session, a form that does not parse, a
// wrong token), p is nil and fail, whatever it is given, redirects as
// that case needs.
func (s *Server) formStart(c *fiber.Ctx, page string) (*principal, formFields, func(code string) error) {
	p := s.webSession(c)
	if p == nil {
		return nil, nil, func(string) error { return c.Redirect("/login", fiber.StatusSeeOther) }
	}
	back := func(code string) error {
		return c.Redirect(page+"?error="+url.QueryEscape(code), fiber.StatusSeeOther)
	}
	f, err := readForm(c)
	if err != nil {
		return nil, nil, func(string) error { return back(wallet.ErrorCode(err)) }
	}
	if !formCSRF(f, p) {
		return nil, nil, func(string) error { return back(eCSRF) }
	}
	return p, f, back
}

// submitForm submits a form's operation as the API would (the form's
// idempotency key makes a double submit one operation), waits briefly
// so the page usually shows it final, and goes back to page.
func (s *Server) submitForm(c *fiber.Ctx, p *principal, f formFields, page string, fail func(string) error, req ledger.Request) error {
	return s.submitFormWith(c, p, f, page, fail, req, s.svc.Submit)
}

// submitFormWith is submitForm through another use case of the same
// shape (approving a payment request).
func (s *Server) submitFormWith(c *fiber.Ctx, p *principal, f formFields, page string, fail func(string) error, req ledger.Request,
	submit func(context.Context, ledger.Request) (ledger.Accepted, error)) error {
	if k := f.get("idempotency_key"); k != "" {
		if _, err := checkIdempotencyKey(k); err != nil {
			return fail(wallet.ErrorCode(err))
		}
		req.IdempotencyKey = "form:" + k // apart from the keys API clients choose
	}
	acc, err := submit(c.UserContext(), req)
	switch wallet.ErrorCode(err) {
	case "":
	case wallet.ERequestInProgress:
		// The first submit of this form is being accepted: its result
		// shows in the list.
		return c.Redirect(page, fiber.StatusSeeOther)
	default:
		return fail(wallet.ErrorCode(err))
	}
	if acc.Replayed {
		return c.Redirect(page, fiber.StatusSeeOther)
	}
	s.accepted.WithLabelValues(string(acc.Op.Type)).Inc()
	if _, err := s.waitFinal(c.UserContext(), acc.Op, p.WalletID, 3*time.Second); err != nil {
		return fail(wallet.ErrorCode(err))
	}
	return c.Redirect(page, fiber.StatusSeeOther)
}

// flash puts the error a form post redirected with on the page. Flash
// messages come as codes only, so a crafted link cannot put words on the
// page.
func flash(c *fiber.Ctx, d *pageData) {
	if code := c.Query("error"); code != "" {
		d.Error = "Not done: " + strings.ReplaceAll(safeCode(code), "_", " ") + "."
	}
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
