package httpapi

import (
	"crypto/subtle"
	"embed"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

//go:embed templates/*.html
var templateFS embed.FS

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
	// Home page.
	WalletID, Balance, Available, Currency string
	CanTransfer                            bool
	Operations                             []opRow
}

type opRow struct {
	When, Type, Status, Amount, BalanceAfter, Details string
}

func (s *Server) routesWeb() {
	s.app.Get("/", s.home)
	s.app.Get("/login", s.loginPage)
	s.app.Post("/login", s.checkOrigin, s.loginForm)
	s.app.Get("/signup", s.signupPage)
	s.app.Post("/signup", s.checkOrigin, s.signupForm)
	s.app.Get("/logout", s.logoutPage)
	s.app.Post("/logout", s.checkOrigin, s.logoutForm)
	s.app.Post("/transfer", s.checkOrigin, s.transferForm)
}

func (s *Server) render(c *fiber.Ctx, status int, name string, d pageData) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	c.Status(status)
	return pages.ExecuteTemplate(c.Response().BodyWriter(), name, d)
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
func formCSRF(c *fiber.Ctx, p *principal) bool {
	return p.CSRF != "" && subtle.ConstantTimeCompare([]byte(c.FormValue("csrf_token")), []byte(p.CSRF)) == 1
}

func (s *Server) home(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	d := pageData{Title: "Your wallet", SignedIn: true, CSRF: p.CSRF, Name: p.User.Name, Currency: s.cur.Code}
	// Flash messages come as codes only, so a crafted link cannot put
	// words on the page.
	if code := c.Query("error"); code != "" {
		d.Error = "Not sent: " + strings.ReplaceAll(safeCode(code), "_", " ") + "."
	}
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
	email := c.FormValue("email")
	u, err := s.checkPassword(c, email, c.FormValue("password"))
	if err != nil {
		status := statusOf[wallet.ErrorCode(err)]
		if status == 0 {
			status = fiber.StatusInternalServerError
		}
		return s.render(c, status, "login.html", pageData{Title: "Log in", Error: wallet.ErrorMessage(err), Email: email})
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
	name, email := c.FormValue("name"), c.FormValue("email")
	u, _, err := s.svc.Signup(c.UserContext(), name, email, c.FormValue("password"))
	if err != nil {
		status := statusOf[wallet.ErrorCode(err)]
		if status == 0 {
			status = fiber.StatusInternalServerError
		}
		return s.render(c, status, "signup.html", pageData{Title: "Sign up", Error: wallet.ErrorMessage(err), Name: name, Email: email})
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
	if !formCSRF(c, p) {
		return s.writeError(c, wallet.Errorf(eCSRF, "the form has expired; reload the page"))
	}
	_ = s.sessions.DeleteSession(c.UserContext(), p.Token)
	s.clearSessionCookie(c)
	return c.Redirect("/login?logged_out=1", fiber.StatusSeeOther)
}

// transferForm submits a transfer from the page; the page's operation
// list then shows its status.
func (s *Server) transferForm(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	fail := func(code string) error {
		return c.Redirect("/?error="+url.QueryEscape(code), fiber.StatusSeeOther)
	}
	if !formCSRF(c, p) {
		return fail(eCSRF)
	}
	if p.Kind != wallet.KindUser {
		return fail(wallet.EForbidden)
	}
	to := c.FormValue("wallet_id")
	if _, err := uuid.Parse(to); err != nil {
		return fail(wallet.EWalletNotFound)
	}
	amount, err := s.cur.ParseAmount(c.FormValue("amount"), s.cfg.MaxAmount)
	if err != nil {
		return fail(wallet.ErrorCode(err))
	}
	details, err := ledger.CheckDetails(c.FormValue("details"), false)
	if err != nil {
		return fail(wallet.ErrorCode(err))
	}
	acc, err := s.svc.Submit(c.UserContext(), ledger.Request{
		Caller: p.User, Type: wallet.OpTransfer, ToWalletID: to, Amount: amount, Details: details,
	})
	if err != nil {
		return fail(wallet.ErrorCode(err))
	}
	s.accepted.WithLabelValues(string(wallet.OpTransfer)).Inc()
	// Wait briefly so the page usually shows the final result in its list.
	if _, err := s.waitFinal(c.UserContext(), acc.Op, p.WalletID, 3*time.Second); err != nil {
		return fail(wallet.ErrorCode(err))
	}
	return c.Redirect("/", fiber.StatusSeeOther)
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
