package httpapi

import (
	"encoding/base64"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// The OAuth 2.0 authorization server (API-OAUTH.md): authorization code
// with PKCE through the web login, refresh tokens, client credentials for
// payment systems, revocation, introspection, metadata and keys. Its
// endpoints answer errors in RFC 6749's shape, not API.md's.
func (s *Server) routesOAuth() {
	if s.oauth == nil {
		return
	}
	s.app.Get("/.well-known/oauth-authorization-server", s.oauthMetadata)
	s.app.Get("/.well-known/jwks.json", s.jwks)
	s.app.Get("/oauth/authorize", pageHeaders, s.authorizePage)
	s.app.Post("/oauth/authorize", pageHeaders, s.checkOrigin, s.authorizeForm)
	o := s.app.Group("/oauth", noStore)
	o.Post("/token", s.token)
	o.Post("/revoke", s.revoke)
	o.Post("/introspect", s.introspect)
}

// noStore keeps token answers out of every cache (RFC 6749 §5.1).
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Next()
}

func (s *Server) oauthMetadata(c *fiber.Ctx) error {
	iss := s.cfg.OAuthIssuer
	return c.JSON(fiber.Map{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/oauth/authorize",
		"token_endpoint":                                 iss + "/oauth/token",
		"revocation_endpoint":                            iss + "/oauth/revoke",
		"introspection_endpoint":                         iss + "/oauth/introspect",
		"jwks_uri":                                       iss + "/.well-known/jwks.json",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                               strings.Fields(wallet.Scopes(0xff).String()),
		"authorization_response_iss_parameter_supported": true,
	})
}

func (s *Server) jwks(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(s.oauth.Tokens.JWKS())
}

// ---- /oauth/authorize ----

// consentData is an authorization request as the consent page shows and
// posts it back.
type consentData struct {
	ClientID, ClientName, RedirectURI, Scope, State, Challenge string
	Scopes                                                     []scopeLine
	redirectOrigin                                             string
}

// authorizeParams reads an authorization request's parameters, each at
// most once (RFC 6749 §3.1).
func authorizeParams(get func(string) string, args func(func(k, v []byte))) (consentData, string, bool) {
	seen := map[string]bool{}
	dup := false
	args(func(k, _ []byte) {
		if seen[string(k)] {
			dup = true
		}
		seen[string(k)] = true
	})
	d := consentData{ClientID: get("client_id"), RedirectURI: get("redirect_uri"), Scope: get("scope"),
		State: get("state"), Challenge: get("code_challenge")}
	return d, get("response_type") + "\x00" + get("code_challenge_method"), !dup
}

// authorizeError redirects an error to the client (RFC 6749 §4.1.2.1).
func (s *Server) authorizeError(c *fiber.Ctx, redirect, state, code, desc string) error {
	return c.Redirect(withParams(redirect, map[string]string{
		"error": code, "error_description": desc, "state": state, "iss": s.cfg.OAuthIssuer,
	}), fiber.StatusSeeOther)
}

// withParams adds query parameters to a redirect URI, keeping its own.
func withParams(raw string, params map[string]string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// checkAuthorize validates an authorization request: a problem with the
// client or redirect URI is an error page (done is true, never a
// redirect); any other is redirected to the client.
func (s *Server) checkAuthorize(c *fiber.Ctx, d *consentData, kinds string, unique bool) (wallet.OAuthClient, wallet.Scopes, bool, error) {
	errorPage := func() error {
		return s.render(c, fiber.StatusBadRequest, "oauth_error.html", pageData{Title: "Sign-in link error"})
	}
	if !unique {
		return wallet.OAuthClient{}, 0, true, errorPage()
	}
	cl, redirect, err := s.oauth.AuthorizeClient(c.UserContext(), d.ClientID, d.RedirectURI)
	if err != nil {
		if _, ok := ledger.IsOAuthError(err); ok {
			return wallet.OAuthClient{}, 0, true, errorPage()
		}
		return wallet.OAuthClient{}, 0, true, s.writeError(c, err)
	}
	d.RedirectURI, d.ClientName = redirect, cl.Name
	if u, err := url.Parse(redirect); err == nil {
		d.redirectOrigin = u.Scheme + "://" + u.Host
	}
	responseType, method, _ := strings.Cut(kinds, "\x00")
	if len(d.State) > 500 {
		return cl, 0, true, s.authorizeError(c, redirect, "", ledger.OAuthInvalidRequest, "state is too long")
	}
	if responseType != "code" {
		return cl, 0, true, s.authorizeError(c, redirect, d.State, ledger.OAuthUnsupportedResponseType, "response_type must be code")
	}
	if method != "S256" || !ledger.ValidChallenge(d.Challenge) {
		return cl, 0, true, s.authorizeError(c, redirect, d.State, ledger.OAuthInvalidRequest, "PKCE is required: code_challenge with code_challenge_method=S256")
	}
	scope, ok := wallet.ParseScopes(d.Scope)
	if !ok {
		return cl, 0, true, s.authorizeError(c, redirect, d.State, ledger.OAuthInvalidScope, "unknown scope")
	}
	return cl, scope, false, nil
}

// authorizePage shows the consent line, with the login form when the
// browser is not signed in.
func (s *Server) authorizePage(c *fiber.Ctx) error {
	q := c.Request().URI().QueryArgs()
	d, kinds, unique := authorizeParams(func(k string) string { return c.Query(k) }, q.VisitAll)
	_, scope, done, err := s.checkAuthorize(c, &d, kinds, unique)
	if done {
		return err
	}
	return s.renderConsent(c, d, scope, nil, nil)
}

// scopeLine is a scope as the consent page words it.
type scopeLine struct{ Name, What string }

var scopeWords = map[string]string{
	"wallet:read":     "see your balance, operations, holds, payment requests and withdrawals",
	"wallet:transfer": "send money, place and capture holds, answer payment requests and withdraw",
	"bank:deposit":    "deposit into wallets and handle the withdrawals addressed to you",
	"admin":           "manage payment systems and OAuth clients, and run the audit",
}

// consentFields are the consent form's login fields.
var consentFields = []string{"email", "password"}

// renderConsent shows the consent page; after a failed post (f and err
// set) with the error beside its field and the status of the error.
func (s *Server) renderConsent(c *fiber.Ctx, d consentData, scope wallet.Scopes, f formFields, err error) error {
	page := pageData{Title: "Allow access", OAuth: &d}
	for _, name := range strings.Fields(scope.String()) {
		d.Scopes = append(d.Scopes, scopeLine{Name: name, What: scopeWords[name]})
	}
	if len(d.Scopes) == 0 {
		d.Scopes = []scopeLine{{What: "everything your account may do"}}
	}
	if p := s.webSession(c); p != nil {
		page.SignedIn, page.CSRF, page.Name = true, p.CSRF, p.User.Name
	}
	if err != nil {
		return s.renderFailed(c, "oauth_authorize.html", page, "consent", consentFields, f, err)
	}
	return s.render(c, fiber.StatusOK, "oauth_authorize.html", page)
}

// authorizeForm is the consent: allow (signing in first if need be) or
// deny; either way the browser goes back to the client.
func (s *Server) authorizeForm(c *fiber.Ctx) error {
	f, err := readForm(c)
	if err != nil {
		return s.renderError(c, "oauth_error.html", pageData{Title: "Sign-in link error"}, err)
	}
	d, kinds, unique := authorizeParams(f.get, func(func(k, v []byte)) {})
	cl, scope, done, err := s.checkAuthorize(c, &d, kinds, unique)
	if done {
		return err
	}
	if f.get("action") != "allow" {
		return s.authorizeError(c, d.RedirectURI, d.State, ledger.OAuthAccessDenied, "the user denied access")
	}
	var user wallet.User
	if p := s.webSession(c); p != nil {
		if !formCSRF(f, p) {
			return s.renderConsent(c, d, scope, f, wallet.Errorf(eCSRF, "the form has expired; try again"))
		}
		user = p.User
	} else {
		u, err := s.checkPassword(c, f.get("email"), f.get("password"))
		if err != nil {
			return s.renderConsent(c, d, scope, f, err)
		}
		if _, err := s.startSession(c, u.ID); err != nil {
			return s.writeError(c, err)
		}
		user = u
	}
	grant, err := ledger.GrantScopes(user.Role, scope)
	if err != nil {
		return s.authorizeError(c, d.RedirectURI, d.State, ledger.OAuthInvalidScope, "none of the requested scopes is allowed for this account")
	}
	code, err := s.oauth.IssueCode(c.UserContext(), cl, user, d.RedirectURI, grant, d.Challenge)
	if err != nil {
		return s.writeError(c, err)
	}
	return c.Redirect(withParams(d.RedirectURI, map[string]string{"code": code, "state": d.State, "iss": s.cfg.OAuthIssuer}), fiber.StatusSeeOther)
}

// ---- token, revocation, introspection ----

// oauthError answers an OAuth endpoint's error: RFC 6749 §5.2's shape,
// 400, or 401 with a challenge for invalid_client; a dependency out of
// reach is 503 temporarily_unavailable, anything else 500 server_error.
func (s *Server) oauthError(c *fiber.Ctx, err error) error {
	if oe, ok := ledger.IsOAuthError(err); ok {
		status := fiber.StatusBadRequest
		if oe.Code == ledger.OAuthInvalidClient {
			status = fiber.StatusUnauthorized
			c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="wallet", charset="UTF-8"`)
		}
		return c.Status(status).JSON(fiber.Map{"error": oe.Code, "error_description": oe.Description})
	}
	code, msg := publicError(err)
	switch code {
	case wallet.EUnavailable:
		c.Set(fiber.HeaderRetryAfter, "1")
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "temporarily_unavailable", "error_description": msg})
	case eUnsupportedMediaType, wallet.EInvalidRequest:
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": ledger.OAuthInvalidRequest, "error_description": msg})
	}
	s.log.Error("oauth request failed", slog.String("path", c.Path()), slog.Any("error", err))
	return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": "server_error", "error_description": "internal error"})
}

// client authenticates the client of a token, revocation or
// introspection request: HTTP Basic (client_secret_basic), or client_id
// and client_secret in the form (client_secret_post), or client_id alone
// (a public client); never two ways at once. Failures count toward the
// login limits of the client id and address, as a password guess does.
func (s *Server) client(c *fiber.Ctx, f formFields) (wallet.OAuthClient, error) {
	id, secret, hasSecret := f.get("client_id"), f.get("client_secret"), false
	if _, ok := f["client_secret"]; ok {
		hasSecret = true
	}
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "basic") || hasSecret {
			return wallet.OAuthClient{}, &ledger.OAuthError{Code: ledger.OAuthInvalidRequest, Description: "authenticate the client one way: HTTP Basic or client_secret in the form"}
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		bid, bsecret, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return wallet.OAuthClient{}, &ledger.OAuthError{Code: ledger.OAuthInvalidClient, Description: "malformed HTTP Basic credentials"}
		}
		// RFC 6749 §2.3.1: both are form-encoded first.
		if bid, err = url.QueryUnescape(bid); err == nil {
			bsecret, err = url.QueryUnescape(bsecret)
		}
		if err != nil || (id != "" && id != bid) {
			return wallet.OAuthClient{}, &ledger.OAuthError{Code: ledger.OAuthInvalidClient, Description: "malformed HTTP Basic credentials"}
		}
		id, secret, hasSecret = bid, bsecret, true
	}
	if id == "" {
		return wallet.OAuthClient{}, &ledger.OAuthError{Code: ledger.OAuthInvalidClient, Description: "client authentication is required"}
	}
	key := "client:" + id + "|" + c.IP()
	if len(id) > 64 {
		key = "client:long|" + c.IP()
	}
	if err := s.limited(c, key, maxLoginFailures); err != nil {
		if wallet.ErrorCode(err) == wallet.ETooManyAttempts {
			setRetryAfter(c, wallet.ETooManyAttempts, err)
			return wallet.OAuthClient{}, &ledger.OAuthError{Code: ledger.OAuthInvalidClient, Description: "too many failed attempts; try again later"}
		}
		return wallet.OAuthClient{}, err
	}
	cl, err := s.oauth.AuthenticateClient(c.UserContext(), id, secret, hasSecret)
	if oe, ok := ledger.IsOAuthError(err); ok && oe.Code == ledger.OAuthInvalidClient {
		if cerr := s.sessions.CountAttempt(c.UserContext(), key, failureWindow); cerr != nil {
			return wallet.OAuthClient{}, cerr
		}
	}
	return cl, err
}

// clientForm reads the form of a token, revocation or introspection
// request and authenticates its client.
func (s *Server) clientForm(c *fiber.Ctx) (formFields, wallet.OAuthClient, error) {
	f, err := readForm(c)
	if err != nil {
		return nil, wallet.OAuthClient{}, err
	}
	cl, err := s.client(c, f)
	return f, cl, err
}

// token is the token endpoint (RFC 6749 §3.2).
func (s *Server) token(c *fiber.Ctx) error {
	f, cl, err := s.clientForm(c)
	if err != nil {
		return s.oauthError(c, err)
	}
	grant := f.get("grant_type")
	if grant == "" {
		return s.oauthError(c, &ledger.OAuthError{Code: ledger.OAuthInvalidRequest, Description: "grant_type is required"})
	}
	var res ledger.TokenResponse
	ctx := c.UserContext()
	switch grant {
	case "authorization_code":
		res, err = s.oauth.ExchangeCode(ctx, cl, f.get("code"), f.get("redirect_uri"), f.get("code_verifier"))
	case "refresh_token":
		res, err = s.oauth.Refresh(ctx, cl, f.get("refresh_token"), f.get("scope"))
	case "client_credentials":
		res, err = s.oauth.ClientCredentials(ctx, cl, f.get("scope"))
	default:
		err = &ledger.OAuthError{Code: ledger.OAuthUnsupportedGrantType, Description: "grant_type must be authorization_code, refresh_token or client_credentials"}
	}
	if err != nil {
		return s.oauthError(c, err)
	}
	return c.JSON(res)
}

// revoke is RFC 7009: 200 whether or not the token was known.
func (s *Server) revoke(c *fiber.Ctx) error {
	f, cl, err := s.clientForm(c)
	if err != nil {
		return s.oauthError(c, err)
	}
	if err := s.oauth.Revoke(c.UserContext(), cl, f.get("token"), f.get("token_type_hint")); err != nil {
		return s.oauthError(c, err)
	}
	return c.SendStatus(fiber.StatusOK)
}

// introspect is RFC 7662, for confidential clients (payment systems
// included) only.
func (s *Server) introspect(c *fiber.Ctx) error {
	f, cl, err := s.clientForm(c)
	if err != nil {
		return s.oauthError(c, err)
	}
	if cl.Type != wallet.ClientConfidential {
		return s.oauthError(c, &ledger.OAuthError{Code: ledger.OAuthInvalidClient, Description: "introspection is for confidential clients"})
	}
	res, err := s.oauth.Introspect(c.UserContext(), f.get("token"))
	if err != nil {
		return s.oauthError(c, err)
	}
	return c.JSON(res)
}
