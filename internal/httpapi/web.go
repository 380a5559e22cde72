package httpapi

import (
	"embed"
	"html/template"
	"net/url"
	"strconv"
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

var pages = template.Must(template.New("").Funcs(formFuncs).ParseFS(templateFS, "templates/*.html"))

// page is the data every template gets.
type pageData struct {
	Title    string
	SignedIn bool
	CSRF     string
	Error    string
	Notice   string
	// Path is the page's own path (its live updates fetch it again);
	// Role the signed-in user's, for the navigation.
	Path, Role string
	// Failed is the form post that failed, shown again.
	Failed *formFailure
	// Name is the signed-in user's.
	Name string
	// The wallet's figures.
	WalletID, Balance, Held, Available, Currency string
	CanTransfer                                  bool
	// FormKey is the page's idempotency key, one per rendering: the forms
	// that make an operation send it (a row's form adds its action and
	// id), so a double submit is one operation.
	FormKey string
	// AmountHint is an example amount in the currency's format.
	AmountHint string
	// Lists say where each of the page's lists stands (paging); Query is
	// the page's query, which their links keep.
	Lists map[string]listPaging
	Query url.Values
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
	// Webhooks page: the endpoints, the event types to choose from, a new
	// endpoint's secret (shown once); an endpoint's delivery log.
	Webhooks     []webhookRow
	EventChoices []string
	Secret       string
	Webhook      *webhookRow
	Deliveries   []deliveryRow
	// OAuth clients (admin console).
	Clients []clientRow
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
	s.app.Get("/", pageHeaders, s.showPage(homePage))
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
	s.routesWebhooksPage()
	s.routesOAuthClientsPage()
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
	status := statusFor(code)
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

// homePage is the wallet for a user, the console for a bank or an admin.
var homePage = webPage{path: "/", fill: (*Server).fillHome}

func (s *Server) fillHome(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	switch p.User.Role {
	case wallet.RoleBank:
		return s.fillBankConsole(c, p, d)
	case wallet.RoleAdmin:
		return s.fillAdminConsole(c, p, d)
	}
	d.Title = "Your wallet"
	if p.WalletID == "" {
		return "home.html", nil
	}
	w, err := s.store.WalletByID(c.UserContext(), p.WalletID)
	if err != nil {
		return "home.html", err
	}
	d.Balance, d.Held, d.Available = s.cur.Format(w.Balance), s.cur.Format(w.Held), s.cur.Format(w.Available)
	d.CanTransfer = w.Kind == wallet.KindUser
	if err := s.fillOperations(c, p, d); err != nil {
		return "home.html", err
	}
	return "home.html", nil
}

// fillOperations lists the wallet's operations, newest first, a page
// from the query's cursor.
func (s *Server) fillOperations(c *fiber.Ctx, p *principal, d *pageData) error {
	before, err := listCursor(c, "cursor")
	if err != nil {
		return err
	}
	ops, err := s.store.WalletOperations(c.UserContext(), p.WalletID, before, listLimit+1)
	if err != nil {
		return err
	}
	ops, next := trimPage(ops, listLimit, func(op wallet.Operation) string { return op.ID })
	d.paged("cursor", before, next)
	for _, op := range ops {
		row := opRow{When: op.CreatedAt.UTC().Format(time.DateTime), Type: string(op.Type),
			Status: string(op.Status), Amount: s.opAmount(op, p.WalletID), Details: op.Details}
		if op.FailureCode != "" {
			row.Status += " (" + op.FailureCode + ")"
		}
		if op.BalanceAfter != nil {
			row.BalanceAfter = s.cur.Format(*op.BalanceAfter)
		}
		d.Operations = append(d.Operations, row)
	}
	return nil
}

// opAmount is an operation's amount as it bears on the wallet: a debit
// signed, a credit not; a reservation or its release, which moves no
// balance, says so.
func (s *Server) opAmount(op wallet.Operation, walletID string) string {
	a := s.cur.Format(op.Amount)
	switch op.Type {
	case wallet.OpHold, wallet.OpWithdrawal:
		return a + " held"
	case wallet.OpHoldVoid, wallet.OpHoldExpire, wallet.OpWithdrawalFail:
		return a + " released"
	}
	if op.FromWalletID == walletID {
		return "-" + a
	}
	return a
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

var (
	loginFields  = []string{"email", "password"}
	signupFields = []string{"name", "email", "password"}
)

func (s *Server) loginForm(c *fiber.Ctx) error {
	d := pageData{Title: "Log in"}
	f, err := readForm(c)
	if err != nil {
		return s.renderFailed(c, "login.html", d, "login", loginFields, f, err)
	}
	u, err := s.checkPassword(c, f.get("email"), f.get("password"))
	if err != nil {
		return s.renderFailed(c, "login.html", d, "login", loginFields, f, err)
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
	d := pageData{Title: "Sign up"}
	f, err := readForm(c)
	if err != nil {
		return s.renderFailed(c, "signup.html", d, "signup", signupFields, f, err)
	}
	if err := s.signupAllowed(c); err != nil {
		return s.renderFailed(c, "signup.html", d, "signup", signupFields, f, err)
	}
	u, _, err := s.svc.Signup(c.UserContext(), f.get("name"), f.get("email"), f.get("password"))
	s.countSignup(c, err)
	if err != nil {
		return s.renderFailed(c, "signup.html", d, "signup", signupFields, f, err)
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
	d := s.userPage(c, p, "/logout")
	d.Title = "Log out"
	return s.render(c, fiber.StatusOK, "logout.html", d)
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
	p, f, fail := s.formStart(c, homePage, "transfer", moneyFormFields...)
	if p == nil {
		return fail(nil)
	}
	if p.Kind != wallet.KindUser {
		return fail(wallet.Errorf(wallet.EForbidden, "only wallet owners can transfer"))
	}
	to, amount, details, err := s.moneyFields(f, false)
	if err != nil {
		return fail(err)
	}
	return s.submitForm(c, p, f, homePage, fail, ledger.Request{
		Caller: p.User, Type: wallet.OpTransfer, ToWalletID: to, Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(wallet.OpTransfer), to, strconv.FormatInt(int64(amount), 10), details),
	})
}

// moneyFormFields are the fields of the forms that move money to a wallet.
var moneyFormFields = []string{"wallet_id", "amount", "details"}
