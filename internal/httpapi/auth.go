package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// Rate limits. Failed logins are capped per (email, client address) and,
// across emails, per client address (LOGIN_ADDRESS_LIMIT), in a window
// that starts at the first failure; signups per client address
// (SIGNUP_LIMIT) in an hour. The client address is the peer's, or what a
// trusted proxy says it is (TRUSTED_PROXIES).
const (
	maxLoginFailures = 10
	failureWindow    = 15 * time.Minute
	signupWindow     = time.Hour
)

// principal is the authenticated caller with its wallet, if any.
type principal struct {
	User     wallet.User
	WalletID string
	Kind     wallet.WalletKind
	// Token is the session or access token used, if any; ViaCookie says
	// whether it came in the cookie (and so needs the CSRF checks).
	Token     string
	ViaCookie bool
	CSRF      string
	// Scopes are what the caller may do: every scope of its role, or an
	// OAuth access token's (Claims) within them.
	Scopes wallet.Scopes
	Claims *wallet.AccessClaims
}

func (p *principal) owns(walletID string) bool { return p.WalletID != "" && p.WalletID == walletID }

// basicCache remembers verified Basic credentials briefly, so Basic clients
// do not pay the password hash on every request. Keys are an HMAC of the
// credentials under a per-process secret; passwords are never kept.
type basicCache struct {
	key []byte
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]basicEntry
}

type basicEntry struct {
	userID  string
	expires time.Time
}

func newBasicCache(key []byte, ttl time.Duration) *basicCache {
	return &basicCache{key: key, ttl: ttl, m: map[string]basicEntry{}}
}

func (b *basicCache) id(email, password string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(strings.ToLower(email)))
	m.Write([]byte{0})
	m.Write([]byte(password))
	return string(m.Sum(nil))
}

func (b *basicCache) get(email, password string) (string, bool) {
	k := b.id(email, password)
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[k]
	if !ok || time.Now().After(e.expires) {
		return "", false
	}
	return e.userID, true
}

func (b *basicCache) put(email, password, userID string) {
	k := b.id(email, password)
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) > 10000 {
		for key, e := range b.m {
			if now.After(e.expires) {
				delete(b.m, key)
			}
		}
	}
	b.m[k] = basicEntry{userID: userID, expires: now.Add(b.ttl)}
}

// caller returns the principal that authenticate stored.
func caller(c *fiber.Ctx) *principal {
	p, _ := c.Locals("principal").(*principal)
	return p
}

// resolve is resolveCredentials, then the check a bank's account needs on
// every request: a disabled bank is refused (403 account_disabled)
// however it signed in, cached Basic verdicts and open sessions included.
func (s *Server) resolve(c *fiber.Ctx) (*principal, error) {
	p, err := s.resolveCredentials(c)
	if err != nil {
		return nil, err
	}
	if p.User.Role == wallet.RoleBank {
		if err := s.svc.CheckBank(c.UserContext(), p.User.ID); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// resolveCredentials finds the caller from, in order, the Authorization
// header (Basic, or Bearer with an OAuth access token or an opaque token)
// or the session cookie; EUnauthorized otherwise.
func (s *Server) resolveCredentials(c *fiber.Ctx) (*principal, error) {
	p, err := s.credentials(c)
	if err == nil && p.Claims == nil {
		p.Scopes = wallet.RoleScopes(p.User.Role)
	}
	return p, err
}

func (s *Server) credentials(c *fiber.Ctx) (*principal, error) {
	unauthorized := wallet.Errorf(wallet.EUnauthorized, "authentication required: a session cookie, HTTP Basic, or a Bearer token")
	ctx := c.UserContext()
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		cred = strings.TrimSpace(cred)
		switch strings.ToLower(scheme) {
		case "basic":
			raw, err := base64.StdEncoding.DecodeString(cred)
			if err != nil {
				return nil, unauthorized
			}
			email, password, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, unauthorized
			}
			if id, ok := s.basic.get(email, password); ok {
				return s.principalOf(c, id)
			}
			u, err := s.checkPassword(c, email, password)
			if err != nil {
				if wallet.ErrorCode(err) == wallet.EInvalidCredentials {
					return nil, unauthorized
				}
				return nil, err
			}
			s.basic.put(email, password, u.ID)
			return s.principalOf(c, u.ID)
		case "bearer":
			if strings.Count(cred, ".") == 2 {
				return s.accessToken(c, cred)
			}
			sess, err := s.sessions.Session(ctx, cred)
			if err != nil {
				return nil, err
			}
			p, err := s.principalOf(c, sess.UserID)
			if err == nil {
				p.Token = cred
			}
			return p, err
		}
		return nil, unauthorized
	}
	token := c.Cookies(cookieName)
	if token == "" {
		return nil, unauthorized
	}
	sess, err := s.sessions.Session(ctx, token)
	if err != nil {
		return nil, err
	}
	p, err := s.principalOf(c, sess.UserID)
	if err == nil {
		p.Token, p.ViaCookie, p.CSRF = token, true, sess.CSRF
	}
	return p, err
}

// accessToken is the caller of an OAuth access token (a JWT), with the
// token's scopes within its role's.
func (s *Server) accessToken(c *fiber.Ctx, raw string) (*principal, error) {
	if s.oauth == nil {
		return nil, wallet.Errorf(wallet.EUnauthorized, "the access token is invalid or expired")
	}
	cl, err := s.oauth.VerifyAccess(c.UserContext(), raw)
	if err != nil {
		return nil, err
	}
	p, err := s.principalOf(c, cl.Subject)
	if err != nil {
		return nil, err
	}
	p.Claims = &cl
	p.Scopes = cl.Scope & wallet.RoleScopes(p.User.Role)
	return p, nil
}

// principalOf loads a user and its wallet; both never change, so they
// are cached for the life of the process.
func (s *Server) principalOf(c *fiber.Ctx, userID string) (*principal, error) {
	if v, ok := s.principal.Load(userID); ok {
		p := *v.(*principal)
		return &p, nil
	}
	u, err := s.store.UserByID(c.UserContext(), userID)
	if wallet.ErrorCode(err) == wallet.EUserNotFound {
		return nil, wallet.Errorf(wallet.EUnauthorized, "account no longer exists")
	}
	if err != nil {
		return nil, err
	}
	u.PasswordHash = ""
	p := &principal{User: u}
	w, err := s.store.WalletOf(c.UserContext(), userID)
	switch wallet.ErrorCode(err) {
	case "":
		p.WalletID, p.Kind = w.ID, w.Kind
	case wallet.EWalletNotFound:
	default:
		return nil, err
	}
	s.principal.Store(userID, p)
	cp := *p
	return &cp, nil
}

// limited answers 429 too_many_attempts when the counter key is at its
// cap (0: no cap), with the rest of its window as Retry-After.
func (s *Server) limited(c *fiber.Ctx, key string, capacity int) error {
	if capacity <= 0 {
		return nil
	}
	n, left, err := s.sessions.Attempts(c.UserContext(), key)
	if err != nil {
		return err
	}
	if n < int64(capacity) {
		return nil
	}
	e := wallet.Errorf(wallet.ETooManyAttempts, "too many attempts; try again in %s", left.Round(time.Second))
	e.RetryAfter = left
	return e
}

// checkPassword verifies credentials under the login rate limits.
func (s *Server) checkPassword(c *fiber.Ctx, email, password string) (wallet.User, error) {
	ctx := c.UserContext()
	emailKey := "login:" + strings.ToLower(strings.TrimSpace(email)) + "|" + c.IP()
	addrKey := "login-addr:" + c.IP()
	if err := s.limited(c, emailKey, maxLoginFailures); err != nil {
		return wallet.User{}, err
	}
	if err := s.limited(c, addrKey, s.cfg.LoginAddressLimit); err != nil {
		return wallet.User{}, err
	}
	u, err := s.svc.Authenticate(ctx, email, password)
	if err == nil && u.Role == wallet.RoleBank {
		if err := s.svc.CheckBank(ctx, u.ID); err != nil {
			return wallet.User{}, err
		}
	}
	switch wallet.ErrorCode(err) {
	case wallet.EInvalidCredentials:
		if err := s.sessions.CountAttempt(ctx, emailKey, failureWindow); err != nil {
			return wallet.User{}, err
		}
		if s.cfg.LoginAddressLimit > 0 {
			if err := s.sessions.CountAttempt(ctx, addrKey, failureWindow); err != nil {
				return wallet.User{}, err
			}
		}
	case "":
		// A success forgets this email's failures, never the address's:
		// one good account must not reset a guesser's count.
		_ = s.sessions.ResetAttempts(ctx, emailKey)
	}
	return u, err
}

// signupAllowed applies the signup cap of the client address.
func (s *Server) signupAllowed(c *fiber.Ctx) error {
	return s.limited(c, "signup:"+c.IP(), s.cfg.SignupLimit)
}

// countSignup counts a signup that reached the accounts (made one, or
// found the email taken): both cost the service and say something about
// who has an account.
func (s *Server) countSignup(c *fiber.Ctx, err error) {
	if s.cfg.SignupLimit <= 0 {
		return
	}
	if code := wallet.ErrorCode(err); code == "" || code == wallet.EEmailTaken {
		if cerr := s.sessions.CountAttempt(c.UserContext(), "signup:"+c.IP(), signupWindow); cerr != nil {
			s.log.Warn("count signup", slog.Any("error", cerr))
		}
	}
}

// checkOrigin refuses cross-site unsafe requests that a browser could send
// with the session cookie (or to sign a victim in): requests with an
// Authorization header are exempt, since browsers never add one on their
// own. Like net/http's CrossOriginProtection, it trusts Sec-Fetch-Site
// and falls back to comparing Origin with Host.
func (s *Server) checkOrigin(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if c.Get(fiber.HeaderAuthorization) != "" {
		return c.Next()
	}
	if !sameOrigin(c) {
		return s.writeError(c, wallet.Errorf(eCSRF, "cross-origin request refused"))
	}
	return c.Next()
}

func sameOrigin(c *fiber.Ctx) bool {
	switch c.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		// Not a browser, or an old one: the SameSite cookie still holds.
		return true
	}
	// Scheme and host both: http://host is not the origin of a page
	// served as https://host. Hostname and Protocol follow
	// X-Forwarded-Host and -Proto only from TRUSTED_PROXIES.
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Scheme, c.Protocol()) && strings.EqualFold(u.Host, c.Hostname())
}

func (s *Server) setSessionCookie(c *fiber.Ctx, token string) {
	c.Cookie(&fiber.Cookie{
		Name: cookieName, Value: token, Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: s.cfg.Production(), MaxAge: int(s.cfg.SessionTTL.Seconds()),
	})
}

func (s *Server) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name: cookieName, Value: "", Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: s.cfg.Production(), MaxAge: -1, Expires: time.Unix(1, 0),
	})
}

// startSession signs the user in: a new session id every time, and the
// one the browser came with (if any) ended, so a planted id never
// becomes a signed-in session.
func (s *Server) startSession(c *fiber.Ctx, userID string) (wallet.Session, error) {
	if old := c.Cookies(cookieName); old != "" {
		_ = s.sessions.DeleteSession(c.UserContext(), old)
	}
	token, sess, err := s.sessions.CreateSession(c.UserContext(), userID, s.cfg.SessionTTL, "")
	if err != nil {
		return wallet.Session{}, err
	}
	s.setSessionCookie(c, token)
	return sess, nil
}

// requireAdmin guards the dashboard: 401 with a Basic challenge when
// anonymous, 403 for anyone but an admin.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	p, err := s.resolve(c)
	if err != nil {
		return s.writeError(c, err)
	}
	if p.User.Role != wallet.RoleAdmin {
		return s.writeError(c, wallet.Errorf(wallet.EForbidden, "admins only"))
	}
	if !p.Scopes.Has(wallet.ScopeAdmin) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="insufficient_scope", scope="admin"`)
		return s.writeError(c, wallet.Errorf(wallet.EInsufficientScope, "this token lacks the scope admin"))
	}
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		return s.writeError(c, wallet.Errorf(wallet.EForbidden, "the dashboard is read-only"))
	}
	return c.Next()
}
