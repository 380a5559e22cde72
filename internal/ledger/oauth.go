package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/walletd/wallet/internal/wallet"
)

// TokenSigner signs and verifies access tokens (internal/oauthjwt).
type TokenSigner interface {
	Sign(c wallet.AccessClaims) (string, error)
	// Verify checks a token's signature, header and claims at now.
	Verify(raw string, now time.Time) (wallet.AccessClaims, error)
	// JWKS is the public key set, as JSON.
	JWKS() []byte
}

// RevocationCache is the copy in Redis of the revocations in force, which
// every request with an access token reads (internal/redisstore).
type RevocationCache interface {
	Revoked(ctx context.Context, jti, familyID string) (bool, error)
	PutRevocations(ctx context.Context, now time.Time, rs ...wallet.Revocation) error
}

// OAuth 2.0 error codes (RFC 6749 §4.1.2.1 and §5.2, RFC 7009).
const (
	OAuthInvalidRequest          = "invalid_request"
	OAuthInvalidClient           = "invalid_client"
	OAuthInvalidGrant            = "invalid_grant"
	OAuthUnauthorizedClient      = "unauthorized_client"
	OAuthUnsupportedGrantType    = "unsupported_grant_type"
	OAuthInvalidScope            = "invalid_scope"
	OAuthAccessDenied            = "access_denied"
	OAuthUnsupportedResponseType = "unsupported_response_type"
)

// OAuthError is an error of the OAuth endpoints, which answer in RFC
// 6749's shape rather than API.md's.
type OAuthError struct {
	Code        string
	Description string
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

func oauthErr(code, desc string) *OAuthError { return &OAuthError{Code: code, Description: desc} }

// CodeTTL is how long an authorization code may be redeemed (once).
const CodeTTL = 60 * time.Second

// Authorizer is the OAuth 2.0 authorization server's use cases.
type Authorizer struct {
	Svc         *Service
	Store       wallet.OAuthStore
	Tokens      TokenSigner
	Revocations RevocationCache
	// AccessTTL is an access token's life (ACCESS_TOKEN_TTL); RefreshTTL
	// a token family's, from its sign-in (REFRESH_TOKEN_TTL).
	AccessTTL, RefreshTTL time.Duration
}

// TokenResponse is a successful token endpoint answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

func secretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- clients ----

const (
	maxRedirectURIs   = 10
	maxRedirectURILen = 2000
)

// RegisterClient registers a client (admins only; the caller checks). A
// confidential client's secret is returned once and kept only as a hash.
func (a *Authorizer) RegisterClient(ctx context.Context, name string, typ wallet.ClientType, uris []string) (wallet.OAuthClient, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) || hasControl(name) {
		return wallet.OAuthClient{}, "", wallet.Errorf(wallet.EInvalidName, "name must be 1 to 100 characters")
	}
	if typ != wallet.ClientPublic && typ != wallet.ClientConfidential {
		return wallet.OAuthClient{}, "", wallet.Errorf(wallet.EInvalidRequest, `type must be "public" or "confidential"`)
	}
	if len(uris) == 0 || len(uris) > maxRedirectURIs {
		return wallet.OAuthClient{}, "", wallet.Errorf(wallet.EInvalidRequest, "redirect_uris must list 1 to %d URIs", maxRedirectURIs)
	}
	for _, u := range uris {
		if err := checkRedirectURI(u); err != nil {
			return wallet.OAuthClient{}, "", err
		}
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	c := wallet.OAuthClient{ID: "client_" + hex.EncodeToString(id), Name: name, Type: typ, RedirectURIs: uris}
	secret := ""
	if typ == wallet.ClientConfidential {
		secret = randomSecret()
		c.SecretHash = secretHash(secret)
	}
	c, err := a.Store.CreateClient(ctx, c)
	return c, secret, err
}

// checkRedirectURI accepts an absolute https URI, or an http one on a
// loopback address (RFC 8252 §7.3), without a fragment (RFC 6749 §3.1.2).
func checkRedirectURI(raw string) error {
	bad := func(why string) error {
		return wallet.Errorf(wallet.EInvalidRequest, "redirect_uris: %s", why)
	}
	if len(raw) > maxRedirectURILen || !utf8.ValidString(raw) || hasControl(raw) {
		return bad("each must be a URI of at most 2000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return bad("each must be an absolute URI with a host and no user info")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("must not have a fragment")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return bad("must be https, or http on 127.0.0.1 or [::1] (RFC 8252)")
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MatchRedirect reports whether uri is one of c's redirect URIs: exactly,
// or a registered loopback URI on any port (RFC 8252 §7.3).
func MatchRedirect(c wallet.OAuthClient, uri string) bool {
	for _, r := range c.RedirectURIs {
		if r == uri {
			return true
		}
		ru, err1 := url.Parse(r)
		u, err2 := url.Parse(uri)
		if err1 != nil || err2 != nil || ru.Scheme != "http" || !isLoopback(ru.Hostname()) {
			continue
		}
		if u.Scheme == "http" && u.Hostname() == ru.Hostname() && u.EscapedPath() == ru.EscapedPath() &&
			u.RawQuery == ru.RawQuery && u.User == nil && u.Fragment == "" && !strings.Contains(uri, "#") {
			return true
		}
	}
	return false
}

// Clients lists the registered clients.
func (a *Authorizer) Clients(ctx context.Context) ([]wallet.OAuthClient, error) {
	return a.Store.Clients(ctx)
}

// ---- authorization ----

// AuthorizeClient finds the client and redirect URI of an authorization
// request. An error here is shown to the person, never redirected to.
func (a *Authorizer) AuthorizeClient(ctx context.Context, clientID, redirectURI string) (wallet.OAuthClient, string, error) {
	c, err := a.Store.Client(ctx, clientID)
	if err != nil || c.BankClient {
		if err != nil && wallet.ErrorCode(err) == wallet.EInternal {
			return wallet.OAuthClient{}, "", err
		}
		return wallet.OAuthClient{}, "", oauthErr(OAuthInvalidRequest, "unknown client_id")
	}
	if redirectURI == "" {
		if len(c.RedirectURIs) == 1 {
			return c, c.RedirectURIs[0], nil
		}
		return wallet.OAuthClient{}, "", oauthErr(OAuthInvalidRequest, "redirect_uri is required")
	}
	if !MatchRedirect(c, redirectURI) {
		return wallet.OAuthClient{}, "", oauthErr(OAuthInvalidRequest, "redirect_uri is not registered for this client")
	}
	return c, redirectURI, nil
}

// ValidChallenge reports whether a PKCE S256 code challenge has its form:
// 43 base64url characters (a SHA-256).
func ValidChallenge(ch string) bool {
	if len(ch) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(ch)
	return err == nil
}

// GrantScopes is what a user of this role may be granted of requested
// (none requested: every scope of the role); invalid_scope when nothing.
func GrantScopes(role wallet.Role, requested wallet.Scopes) (wallet.Scopes, error) {
	allowed := wallet.RoleScopes(role)
	if requested == 0 {
		return allowed, nil
	}
	if g := requested & allowed; g != 0 {
		return g, nil
	}
	return 0, oauthErr(OAuthInvalidScope, "none of the requested scopes is allowed for this account")
}

// IssueCode makes an authorization code for the user's consent, living
// CodeTTL.
func (a *Authorizer) IssueCode(ctx context.Context, c wallet.OAuthClient, u wallet.User, redirectURI string, scope wallet.Scopes, challenge string) (string, error) {
	code := randomSecret()
	now := a.Svc.now()
	err := a.Store.SaveCode(ctx, wallet.AuthCode{
		Hash: secretHash(code), ClientID: c.ID, UserID: u.ID, RedirectURI: redirectURI, Scope: scope,
		Challenge: challenge, CreatedAt: now, ExpiresAt: now.Add(CodeTTL),
	})
	return code, err
}

// ---- client authentication ----

// AuthenticateClient checks a client's credentials at the token,
// revocation and introspection endpoints: a confidential client must give
// its secret (a payment system its password), a public one none.
// Every failure is invalid_client.
func (a *Authorizer) AuthenticateClient(ctx context.Context, id, secret string, hasSecret bool) (wallet.OAuthClient, error) {
	bad := oauthErr(OAuthInvalidClient, "client authentication failed")
	if id == "" {
		return wallet.OAuthClient{}, bad
	}
	c, err := a.Store.Client(ctx, id)
	if err != nil {
		if wallet.ErrorCode(err) == wallet.EInternal {
			return wallet.OAuthClient{}, err
		}
		a.Svc.compareDummy(secret)
		return wallet.OAuthClient{}, bad
	}
	switch {
	case c.BankClient:
		if !hasSecret {
			return wallet.OAuthClient{}, bad
		}
		u, err := a.Svc.Accounts.UserByID(ctx, c.ID)
		if err != nil {
			return wallet.OAuthClient{}, err
		}
		if len(secret) > MaxPasswordLen || a.Svc.compare([]byte(u.PasswordHash), prehash(secret)) != nil {
			return wallet.OAuthClient{}, bad
		}
		if err := a.Svc.CheckBank(ctx, c.ID); err != nil {
			if wallet.ErrorCode(err) == wallet.EAccountDisabled {
				return wallet.OAuthClient{}, oauthErr(OAuthInvalidClient, "this payment system's account is disabled")
			}
			return wallet.OAuthClient{}, err
		}
	case c.Type == wallet.ClientConfidential:
		if !hasSecret || subtle.ConstantTimeCompare(secretHash(secret), c.SecretHash) != 1 {
			return wallet.OAuthClient{}, bad
		}
	default:
		if hasSecret {
			return wallet.OAuthClient{}, oauthErr(OAuthInvalidClient, "a public client has no secret")
		}
	}
	return c, nil
}

// ---- grants ----

// validVerifier is RFC 7636 §4.1's code_verifier: 43 to 128 unreserved
// characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, r := range v {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return false
		}
	}
	return true
}

// ExchangeCode is the authorization_code grant: a code used once, within
// CodeTTL, by the client it was issued to, with the redirect URI it was
// issued for and the PKCE verifier of its challenge. A second use revokes
// what the first one issued.
func (a *Authorizer) ExchangeCode(ctx context.Context, c wallet.OAuthClient, code, redirectURI, verifier string) (TokenResponse, error) {
	if c.BankClient {
		return TokenResponse{}, oauthErr(OAuthUnauthorizedClient, "a payment system uses client_credentials")
	}
	if code == "" || len(code) > 256 {
		return TokenResponse{}, oauthErr(OAuthInvalidRequest, "code is required")
	}
	if verifier == "" {
		return TokenResponse{}, oauthErr(OAuthInvalidRequest, "code_verifier is required (PKCE)")
	}
	if !validVerifier(verifier) {
		return TokenResponse{}, oauthErr(OAuthInvalidRequest, "code_verifier must be 43 to 128 unreserved characters")
	}
	now := a.Svc.now()
	hash := secretHash(code)
	ac, found, reused, err := a.Store.RedeemCode(ctx, hash, now, now.Add(a.AccessTTL))
	if err != nil {
		return TokenResponse{}, err
	}
	invalid := oauthErr(OAuthInvalidGrant, "the code is invalid, expired, used, or was issued to another client or redirect URI")
	if !found {
		return TokenResponse{}, invalid
	}
	if reused {
		if ac.FamilyID != "" {
			a.cacheRevocation(ctx, now, wallet.Revocation{FamilyID: ac.FamilyID, ExpiresAt: now.Add(a.AccessTTL)})
		}
		return TokenResponse{}, invalid
	}
	sum := sha256.Sum256([]byte(verifier))
	if ac.ClientID != c.ID || ac.RedirectURI != redirectURI || !now.Before(ac.ExpiresAt) ||
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(ac.Challenge)) != 1 {
		return TokenResponse{}, invalid
	}
	u, err := a.user(ctx, ac.UserID)
	if err != nil {
		return TokenResponse{}, err
	}
	f := wallet.TokenFamily{ID: uuid.NewString(), ClientID: c.ID, UserID: u.ID, Scope: ac.Scope & wallet.RoleScopes(u.Role),
		CreatedAt: now, ExpiresAt: now.Add(a.RefreshTTL)}
	refresh := randomSecret()
	if err := a.Store.CreateFamily(ctx, f, secretHash(refresh), hash); err != nil {
		return TokenResponse{}, err
	}
	return a.respond(c, u, f.Scope, f.ID, refresh, now)
}

// user loads the account a grant is for; a disabled bank gets nothing.
func (a *Authorizer) user(ctx context.Context, id string) (wallet.User, error) {
	u, err := a.Svc.Accounts.UserByID(ctx, id)
	if wallet.ErrorCode(err) == wallet.EUserNotFound {
		return wallet.User{}, oauthErr(OAuthInvalidGrant, "the account no longer exists")
	}
	if err != nil {
		return wallet.User{}, err
	}
	if u.Role == wallet.RoleBank {
		if err := a.Svc.CheckBank(ctx, u.ID); err != nil {
			if wallet.ErrorCode(err) == wallet.EAccountDisabled {
				return wallet.User{}, oauthErr(OAuthInvalidGrant, "this payment system's account is disabled")
			}
			return wallet.User{}, err
		}
	}
	return u, nil
}

// Refresh is the refresh_token grant: the token is used once and replaced
// (rotation); presenting a used one revokes its whole family. scopeText
// may narrow the scope, never widen it.
func (a *Authorizer) Refresh(ctx context.Context, c wallet.OAuthClient, token, scopeText string) (TokenResponse, error) {
	if token == "" || len(token) > 256 {
		return TokenResponse{}, oauthErr(OAuthInvalidRequest, "refresh_token is required")
	}
	requested, ok := wallet.ParseScopes(scopeText)
	if !ok {
		return TokenResponse{}, oauthErr(OAuthInvalidScope, "unknown scope")
	}
	invalid := oauthErr(OAuthInvalidGrant, "the refresh token is invalid, expired, revoked or was issued to another client")
	hash := secretHash(token)
	f, found, err := a.Store.RefreshFamily(ctx, hash)
	if err != nil {
		return TokenResponse{}, err
	}
	if found && f.ClientID != c.ID {
		return TokenResponse{}, invalid // not this client's: left as it is
	}
	now := a.Svc.now()
	next := randomSecret()
	r, err := a.Store.RotateRefresh(ctx, hash, secretHash(next), now, now.Add(a.AccessTTL))
	if err != nil {
		return TokenResponse{}, err
	}
	if r.Reused {
		a.cacheRevocation(ctx, now, wallet.Revocation{FamilyID: r.Family.ID, ExpiresAt: now.Add(a.AccessTTL)})
		return TokenResponse{}, oauthErr(OAuthInvalidGrant, "the refresh token was used before: every token of this sign-in is revoked")
	}
	if !r.Found || r.Family.ClientID != c.ID || r.Family.RevokedAt != nil || !now.Before(r.Family.ExpiresAt) {
		return TokenResponse{}, invalid
	}
	scope := r.Family.Scope
	if requested != 0 {
		if !r.Family.Scope.Contains(requested) {
			return TokenResponse{}, oauthErr(OAuthInvalidScope, "a refresh cannot widen the scope")
		}
		scope = requested
	}
	u, err := a.user(ctx, r.Family.UserID)
	if err != nil {
		return TokenResponse{}, err
	}
	return a.respond(c, u, scope&wallet.RoleScopes(u.Role), r.Family.ID, next, now)
}

// ClientCredentials is the client_credentials grant, for payment systems:
// an access token for the bank's own account, without a refresh token.
func (a *Authorizer) ClientCredentials(ctx context.Context, c wallet.OAuthClient, scopeText string) (TokenResponse, error) {
	if !c.BankClient {
		return TokenResponse{}, oauthErr(OAuthUnauthorizedClient, "only a payment system may use client_credentials")
	}
	requested, ok := wallet.ParseScopes(scopeText)
	if !ok {
		return TokenResponse{}, oauthErr(OAuthInvalidScope, "unknown scope")
	}
	allowed := wallet.RoleScopes(wallet.RoleBank)
	if requested == 0 {
		requested = allowed
	}
	if !allowed.Contains(requested) {
		return TokenResponse{}, oauthErr(OAuthInvalidScope, "a payment system may ask for "+allowed.String())
	}
	u, err := a.user(ctx, c.ID)
	if err != nil {
		return TokenResponse{}, err
	}
	return a.respond(c, u, requested, "", "", a.Svc.now())
}

func (a *Authorizer) respond(c wallet.OAuthClient, u wallet.User, scope wallet.Scopes, familyID, refresh string, now time.Time) (TokenResponse, error) {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	raw, err := a.Tokens.Sign(wallet.AccessClaims{
		Subject: u.ID, ClientID: c.ID, Scope: scope, JTI: hex.EncodeToString(jti), FamilyID: familyID,
		IssuedAt: now, Expires: now.Add(a.AccessTTL),
	})
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int(a.AccessTTL.Seconds()),
		RefreshToken: refresh, Scope: scope.String()}, nil
}

// ---- access tokens on requests ----

// VerifyAccess checks an access token presented to the API: signature,
// claims, and the revocations (one Redis read).
func (a *Authorizer) VerifyAccess(ctx context.Context, raw string) (wallet.AccessClaims, error) {
	cl, err := a.Tokens.Verify(raw, a.Svc.now())
	if err != nil {
		return wallet.AccessClaims{}, wallet.Errorf(wallet.EUnauthorized, "the access token is invalid or expired")
	}
	revoked, err := a.Revocations.Revoked(ctx, cl.JTI, cl.FamilyID)
	if err != nil {
		return wallet.AccessClaims{}, err
	}
	if revoked {
		return wallet.AccessClaims{}, wallet.Errorf(wallet.EUnauthorized, "the access token has been revoked")
	}
	return cl, nil
}

// RevokeAccess stops an access token at once (POST /api/logout with it,
// or /oauth/revoke): its jti is kept until it expires, in Postgres and in
// the copy requests read.
func (a *Authorizer) RevokeAccess(ctx context.Context, cl wallet.AccessClaims) error {
	r := wallet.Revocation{JTI: cl.JTI, ExpiresAt: cl.Expires}
	if err := a.Store.RevokeAccess(ctx, r); err != nil {
		return err
	}
	return a.Revocations.PutRevocations(ctx, a.Svc.now(), r)
}

// cacheRevocation copies a revocation that Postgres holds into Redis now;
// if that fails the periodic SyncRevocations copies it.
func (a *Authorizer) cacheRevocation(ctx context.Context, now time.Time, r wallet.Revocation) {
	if err := a.Revocations.PutRevocations(ctx, now, r); err != nil && a.Svc.Log != nil {
		a.Svc.Log.Warn("oauth: copy a revocation to redis (the next sync will)", "error", err)
	}
}

// Revoke is RFC 7009: a refresh token revokes its family, an access
// token itself; a token that is unknown, or another client's, changes
// nothing (and the answer is the same).
func (a *Authorizer) Revoke(ctx context.Context, c wallet.OAuthClient, token, hint string) error {
	if token == "" {
		return oauthErr(OAuthInvalidRequest, "token is required")
	}
	if len(token) > 8192 {
		return nil
	}
	now := a.Svc.now()
	if cl, err := a.Tokens.Verify(token, now); err == nil {
		if cl.ClientID != c.ID {
			return nil
		}
		return a.RevokeAccess(ctx, cl)
	}
	f, found, err := a.Store.RefreshFamily(ctx, secretHash(token))
	if err != nil || !found || f.ClientID != c.ID {
		return err
	}
	r := wallet.Revocation{FamilyID: f.ID, ExpiresAt: now.Add(a.AccessTTL)}
	if err := a.Store.RevokeFamily(ctx, f.ID, now, r.ExpiresAt); err != nil {
		return err
	}
	return a.Revocations.PutRevocations(ctx, now, r)
}

// Introspect is RFC 7662 for confidential clients: what an active token
// is, or just {"active": false}.
func (a *Authorizer) Introspect(ctx context.Context, token string) (map[string]any, error) {
	inactive := map[string]any{"active": false}
	if token == "" || len(token) > 8192 {
		return inactive, nil
	}
	now := a.Svc.now()
	if cl, err := a.VerifyAccess(ctx, token); err == nil {
		return map[string]any{
			"active": true, "token_type": "access_token", "scope": cl.Scope.String(), "client_id": cl.ClientID,
			"sub": cl.Subject, "iss": cl.Issuer, "aud": cl.Audience, "jti": cl.JTI,
			"iat": cl.IssuedAt.Unix(), "exp": cl.Expires.Unix(),
		}, nil
	} else if wallet.ErrorCode(err) != wallet.EUnauthorized {
		return nil, err
	}
	f, found, err := a.Store.RefreshFamily(ctx, secretHash(token))
	if err != nil {
		return nil, err
	}
	if !found || f.RevokedAt != nil || !now.Before(f.ExpiresAt) {
		return inactive, nil
	}
	return map[string]any{
		"active": true, "token_type": "refresh_token", "scope": f.Scope.String(), "client_id": f.ClientID,
		"sub": f.UserID, "iat": f.CreatedAt.Unix(), "exp": f.ExpiresAt.Unix(),
	}, nil
}

// SyncRevocations copies every revocation in force from Postgres into
// Redis: run periodically, it repairs a flushed or failed-over Redis.
func (a *Authorizer) SyncRevocations(ctx context.Context) (int, error) {
	now := a.Svc.now()
	rs, err := a.Store.Revocations(ctx, now)
	if err != nil || len(rs) == 0 {
		return 0, err
	}
	return len(rs), a.Revocations.PutRevocations(ctx, now, rs...)
}

// MaintainOAuth is the periodic task: it copies the revocations into
// Redis (SyncRevocations) and deletes codes, revocations and token
// families that ended more than an hour ago, a batch at a time.
func (a *Authorizer) MaintainOAuth(ctx context.Context) (synced, pruned int, err error) {
	if synced, err = a.SyncRevocations(ctx); err != nil {
		return synced, 0, err
	}
	pruned, err = a.Store.PruneOAuth(ctx, a.Svc.now().Add(-time.Hour), 1000)
	return synced, pruned, err
}

// IsOAuthError returns err's *OAuthError, if it is one.
func IsOAuthError(err error) (*OAuthError, bool) {
	var oe *OAuthError
	ok := errors.As(err, &oe)
	return oe, ok
}
