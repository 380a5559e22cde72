package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The OAuth 2.0 authorization server (../shared/API-OAUTH.md), over HTTP.

const loopbackRedirect = "http://127.0.0.1/callback"

// oauthClient is a registered client as the tests use it.
type oauthClient struct {
	ID, Secret string
	Redirect   string
}

// registerClient registers a client as the admin.
func (e *Env) registerClient(t *testing.T, typ string, redirects ...string) oauthClient {
	t.Helper()
	r := e.Client(Basic(adminEmail, adminPassword)).Must(t, "POST", "/api/admin/oauth/clients",
		map[string]any{"name": "App " + randHex(3), "redirect_uris": redirects, "type": typ}, nil)
	Expect(t, r, http.StatusCreated)
	c := oauthClient{ID: r.Str("client_id"), Secret: r.Str("client_secret"), Redirect: redirects[0]}
	if c.ID == "" || (typ == "confidential") != (c.Secret != "") {
		t.Fatalf("registration answer: %s", r)
	}
	return c
}

// form posts an application/x-www-form-urlencoded body, without following
// redirects; basic, when set, is "id:secret" (each form-encoded, RFC 6749
// §2.3.1).
func form(t *testing.T, c *Client, path string, v url.Values, basic string) *Resp {
	t.Helper()
	q := rawReq{method: "POST", path: path, body: []byte(v.Encode()), contentType: "application/x-www-form-urlencoded", noRedirect: true}
	if basic != "" {
		id, secret, _ := strings.Cut(basic, ":")
		q.hdr = H{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
	}
	return mustRaw(t, c, q)
}

func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newVerifier() string { return "v-" + randHex(24) }

// authorizeParams are an authorization request's parameters.
func authorizeParams(c oauthClient, redirect, scope, state, verifier string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {state}, "code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"}}
}

// authorize signs u in on the consent page and allows; it returns the
// redirect's query.
func (e *Env) authorize(t *testing.T, c oauthClient, u user, redirect, scope, verifier string) url.Values {
	t.Helper()
	v := authorizeParams(c, redirect, scope, "st-"+randHex(4), verifier)
	v.Set("email", u.Email)
	v.Set("password", u.Password)
	v.Set("action", "allow")
	r := form(t, e.Client(nil), "/oauth/authorize", v, "")
	if r.Status != http.StatusSeeOther {
		t.Fatalf("authorize: %s", r)
	}
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), strings.TrimSuffix(redirect, "/callback")) {
		t.Fatalf("authorize redirected to %q", r.Header.Get("Location"))
	}
	q := loc.Query()
	if q.Get("state") != v.Get("state") || q.Get("iss") != e.BaseURL {
		t.Fatalf("authorize redirect %s: state and iss must come back", loc)
	}
	return q
}

// oauthToken runs the authorization code flow for u with a public client
// and returns the token response.
func (e *Env) oauthToken(t *testing.T, c oauthClient, u user, scope string) *Resp {
	t.Helper()
	ver := newVerifier()
	q := e.authorize(t, c, u, c.Redirect, scope, ver)
	r := form(t, e.Client(nil), "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"client_id": {c.ID}, "redirect_uri": {c.Redirect}, "code_verifier": {ver}}, "")
	Expect(t, r, http.StatusOK)
	return r
}

// bankID is the start-up bank's id (its client id).
func (e *Env) bankID(t *testing.T) string {
	t.Helper()
	r := e.Client(Basic(bankEmail, bankPassword)).Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	return r.Str("user_id")
}

// bankToken is a client_credentials token of the start-up bank.
func (e *Env) bankToken(t *testing.T, scope string) string {
	t.Helper()
	v := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		v.Set("scope", scope)
	}
	r := form(t, e.Client(nil), "/oauth/token", v, e.bankID(t)+":"+bankPassword)
	Expect(t, r, http.StatusOK)
	return r.Str("access_token")
}

// oauthCaller is an access matrix caller with an OAuth access token of
// the given scopes (none: every scope of the role): the bank's by client
// credentials, anyone else's by the authorization code flow.
func (e *Env) oauthCaller(t *testing.T, pub oauthClient, label, who string, u user, scopes ...string) accCaller {
	t.Helper()
	var tok string
	if who == "bank" {
		tok = e.bankToken(t, strings.Join(scopes, " "))
	} else {
		tok = e.oauthToken(t, pub, u, strings.Join(scopes, " ")).Str("access_token")
	}
	if len(scopes) == 0 {
		scopes = accRoleScopes[who]
	}
	return accCaller{label: label, who: who, c: e.Client(Bearer(tok)), creds: u, scopes: scopes}
}

func oauthErrorIs(r *Resp, status int, code string) bool {
	return r.Status == status && r.Str("error") == code && r.Str("error_description") != "" &&
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// TestOAuthTokenEndpoint is the token endpoint's conformance table: every
// grant, every RFC 6749 §5.2 error, PKCE failures, code reuse, redirect
// mismatch, a disabled bank.
func TestOAuthTokenEndpoint(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	pub := e.registerClient(t, "public", loopbackRedirect)
	conf := e.registerClient(t, "confidential", "https://app.example/callback")
	alice := e.signup(t, "Alice")
	bank := e.bankID(t)
	admin := e.Client(Basic(adminEmail, adminPassword))
	r := admin.Must(t, "POST", "/api/admin/banks", map[string]any{"name": "Gone Bank", "email": "gone-" + randHex(3) + "@example.com", "password": "gone-bank-password"}, nil)
	Expect(t, r, http.StatusCreated)
	gone := r.Str("bank_id")
	Expect(t, admin.Must(t, "POST", "/api/admin/banks/"+gone+"/disable", nil, nil), http.StatusOK)

	// code returns a fresh code for a client, with its verifier.
	code := func(c oauthClient, redirect string) (string, string) {
		ver := newVerifier()
		return e.authorize(t, c, alice, redirect, "", ver).Get("code"), ver
	}
	exchange := func(c oauthClient, redirect string) url.Values {
		cd, ver := code(c, redirect)
		return url.Values{"grant_type": {"authorization_code"}, "code": {cd}, "redirect_uri": {redirect}, "code_verifier": {ver}}
	}
	with := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = append([]string(nil), vs...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "\x00" {
				out.Del(kv[i])
			} else {
				out.Set(kv[i], kv[i+1])
			}
		}
		return out
	}
	used := with(exchange(pub, "http://127.0.0.1:4321/callback"), "client_id", pub.ID)
	Expect(t, form(t, e.Client(nil), "/oauth/token", used, ""), http.StatusOK)
	first := form(t, e.Client(nil), "/oauth/token", with(exchange(pub, loopbackRedirect), "client_id", pub.ID), "")
	Expect(t, first, http.StatusOK)
	refresh := first.Str("refresh_token")
	rotated := form(t, e.Client(nil), "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {pub.ID}}, "")
	Expect(t, rotated, http.StatusOK)

	type row struct {
		name   string
		body   url.Values
		basic  string
		ctype  string
		status int
		err    string // "" for a token answer
		check  func(r *Resp) string
	}
	tokenFields := func(wantRefresh bool, scope string) func(r *Resp) string {
		return func(r *Resp) string {
			switch {
			case r.Str("access_token") == "" || strings.Count(r.Str("access_token"), ".") != 2:
				return "no JWT access_token"
			case r.Str("token_type") != "Bearer":
				return "token_type is not Bearer"
			case r.Body["expires_in"] == nil || r.Body["expires_in"].(interface{ String() string }).String() != "900":
				return "expires_in is not 900"
			case (r.Str("refresh_token") != "") != wantRefresh:
				return "refresh_token presence"
			case r.Str("scope") != scope:
				return "scope " + r.Str("scope") + ", want " + scope
			}
			return ""
		}
	}
	rows := []row{
		{name: "authorization_code, public client", body: with(exchange(pub, loopbackRedirect), "client_id", pub.ID), status: 200, check: tokenFields(true, "wallet:read wallet:transfer")},
		{name: "authorization_code, loopback on another port", body: with(exchange(pub, "http://127.0.0.1:5555/callback"), "client_id", pub.ID), status: 200},
		{name: "authorization_code, confidential, Basic", body: exchange(conf, conf.Redirect), basic: conf.ID + ":" + conf.Secret, status: 200, check: tokenFields(true, "wallet:read wallet:transfer")},
		{name: "authorization_code, confidential, client_secret_post", body: with(exchange(conf, conf.Redirect), "client_id", conf.ID, "client_secret", conf.Secret), status: 200},
		{name: "code used twice", body: used, status: 400, err: "invalid_grant"},
		{name: "redirect_uri mismatch", body: with(exchange(pub, loopbackRedirect), "client_id", pub.ID, "redirect_uri", "http://127.0.0.1/other"), status: 400, err: "invalid_grant"},
		{name: "redirect_uri missing", body: with(exchange(pub, loopbackRedirect), "client_id", pub.ID, "redirect_uri", "\x00"), status: 400, err: "invalid_grant"},
		{name: "PKCE: wrong verifier", body: with(exchange(pub, loopbackRedirect), "client_id", pub.ID, "code_verifier", newVerifier()), status: 400, err: "invalid_grant"},
		{name: "PKCE: no verifier", body: with(exchange(pub, loopbackRedirect), "client_id", pub.ID, "code_verifier", "\x00"), status: 400, err: "invalid_request"},
		{name: "PKCE: malformed verifier", body: with(exchange(pub, loopbackRedirect), "client_id", pub.ID, "code_verifier", "short"), status: 400, err: "invalid_request"},
		{name: "code of another client", body: with(exchange(pub, loopbackRedirect), "client_id", conf.ID, "client_secret", conf.Secret), status: 400, err: "invalid_grant"},
		{name: "unknown code", body: url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "client_id": {pub.ID}, "redirect_uri": {loopbackRedirect}, "code_verifier": {newVerifier()}}, status: 400, err: "invalid_grant"},
		{name: "no code", body: url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ID}, "redirect_uri": {loopbackRedirect}, "code_verifier": {newVerifier()}}, status: 400, err: "invalid_request"},
		{name: "refresh_token", body: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.Str("refresh_token")}, "client_id": {pub.ID}}, status: 200, check: tokenFields(true, "wallet:read wallet:transfer")},
		{name: "refresh_token reused", body: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {pub.ID}}, status: 400, err: "invalid_grant"},
		{name: "refresh_token unknown", body: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}, "client_id": {pub.ID}}, status: 400, err: "invalid_grant"},
		{name: "refresh_token missing", body: url.Values{"grant_type": {"refresh_token"}, "client_id": {pub.ID}}, status: 400, err: "invalid_request"},
		{name: "client_credentials, bank, Basic", body: url.Values{"grant_type": {"client_credentials"}}, basic: bank + ":" + bankPassword, status: 200, check: tokenFields(false, "wallet:read bank:deposit")},
		{name: "client_credentials, bank, client_secret_post, narrowed", body: url.Values{"grant_type": {"client_credentials"}, "client_id": {bank}, "client_secret": {bankPassword}, "scope": {"bank:deposit"}}, status: 200, check: tokenFields(false, "bank:deposit")},
		{name: "client_credentials, scope beyond the bank's", body: url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, basic: bank + ":" + bankPassword, status: 400, err: "invalid_scope"},
		{name: "client_credentials, unknown scope", body: url.Values{"grant_type": {"client_credentials"}, "scope": {"everything"}}, basic: bank + ":" + bankPassword, status: 400, err: "invalid_scope"},
		{name: "client_credentials, disabled bank", body: url.Values{"grant_type": {"client_credentials"}}, basic: gone + ":gone-bank-password", status: 401, err: "invalid_client"},
		{name: "client_credentials, wrong bank password", body: url.Values{"grant_type": {"client_credentials"}}, basic: bank + ":wrong-password", status: 401, err: "invalid_client"},
		{name: "client_credentials, public client", body: url.Values{"grant_type": {"client_credentials"}, "client_id": {pub.ID}}, status: 400, err: "unauthorized_client"},
		{name: "client_credentials, confidential client", body: url.Values{"grant_type": {"client_credentials"}}, basic: conf.ID + ":" + conf.Secret, status: 400, err: "unauthorized_client"},
		{name: "authorization_code, bank", body: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {loopbackRedirect}, "code_verifier": {newVerifier()}}, basic: bank + ":" + bankPassword, status: 400, err: "unauthorized_client"},
		{name: "no client", body: url.Values{"grant_type": {"client_credentials"}}, status: 401, err: "invalid_client"},
		{name: "unknown client", body: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"client_nope"}}, status: 401, err: "invalid_client"},
		{name: "confidential, wrong secret", body: exchange(conf, conf.Redirect), basic: conf.ID + ":wrong", status: 401, err: "invalid_client"},
		{name: "confidential, no secret", body: with(exchange(conf, conf.Redirect), "client_id", conf.ID), status: 401, err: "invalid_client"},
		{name: "public client with a secret", body: with(exchange(pub, loopbackRedirect), "client_id", pub.ID, "client_secret", "x"), status: 401, err: "invalid_client"},
		{name: "Basic and client_secret at once", body: with(exchange(conf, conf.Redirect), "client_secret", conf.Secret), basic: conf.ID + ":" + conf.Secret, status: 400, err: "invalid_request"},
		{name: "no grant_type", body: url.Values{"client_id": {pub.ID}}, status: 400, err: "invalid_request"},
		{name: "unsupported grant_type", body: url.Values{"grant_type": {"password"}, "client_id": {pub.ID}, "username": {alice.Email}, "password": {alice.Password}}, status: 400, err: "unsupported_grant_type"},
		{name: "implicit grant_type", body: url.Values{"grant_type": {"implicit"}, "client_id": {pub.ID}}, status: 400, err: "unsupported_grant_type"},
		{name: "JSON body", body: url.Values{"grant_type": {"client_credentials"}}, basic: bank + ":" + bankPassword, ctype: "application/json", status: 400, err: "invalid_request"},
	}
	for _, rw := range rows {
		q := rawReq{method: "POST", path: "/oauth/token", body: []byte(rw.body.Encode()), contentType: "application/x-www-form-urlencoded", noRedirect: true}
		if rw.ctype != "" {
			q.contentType = rw.ctype
		}
		if rw.basic != "" {
			id, secret, _ := strings.Cut(rw.basic, ":")
			q.hdr = H{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
		}
		r := mustRaw(t, e.Client(nil), q)
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", rw.name, cc)
		}
		if rw.err == "" {
			if r.Status != rw.status {
				t.Errorf("%s: %s", rw.name, r)
			} else if rw.check != nil {
				if why := rw.check(r); why != "" {
					t.Errorf("%s: %s: %s", rw.name, why, r)
				}
			}
			continue
		}
		if !oauthErrorIs(r, rw.status, rw.err) {
			t.Errorf("%s: want %d %s: %s", rw.name, rw.status, rw.err, r)
		}
		if rw.err == "invalid_client" && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: invalid_client without a Basic challenge: %v", rw.name, r.Header)
		}
	}
	// A duplicated parameter is invalid_request (RFC 6749 §3.2).
	r = mustRaw(t, e.Client(nil), rawReq{method: "POST", path: "/oauth/token", contentType: "application/x-www-form-urlencoded",
		body: []byte("grant_type=client_credentials&grant_type=client_credentials&client_id=" + pub.ID)})
	if !oauthErrorIs(r, 400, "invalid_request") {
		t.Errorf("a repeated parameter: %s", r)
	}
}

// TestOAuthAuthorize: the authorization endpoint never redirects to what
// it does not know, echoes state, redirects its other errors, and works
// for a browser already signed in.
func TestOAuthAuthorize(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	pub := e.registerClient(t, "public", loopbackRedirect, "https://app.example/cb?keep=1")
	alice := e.signup(t, "Alice")
	ver := newVerifier()
	get := func(c *Client, v url.Values) *Resp {
		return mustRaw(t, c, rawReq{method: "GET", path: "/oauth/authorize?" + v.Encode(), noRedirect: true})
	}
	good := authorizeParams(pub, loopbackRedirect, "wallet:read", "s-1", ver)
	set := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range good {
			v[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}

	// Never redirected: an unknown client, a redirect URI not registered
	// (an open redirect), a missing one when several are registered.
	for name, v := range map[string]url.Values{
		"unknown client":         set("client_id", "client_nope"),
		"foreign redirect":       set("redirect_uri", "https://evil.example/callback"),
		"loopback, another path": set("redirect_uri", "http://127.0.0.1:8000/other"),
		"localhost":              set("redirect_uri", "http://localhost/callback"),
		"registered + suffix":    set("redirect_uri", "https://app.example/cb?keep=1&x=2"),
		"no redirect_uri":        set("redirect_uri", ""),
		"bank as client":         set("client_id", e.bankID(t)),
	} {
		r := get(e.Client(nil), v)
		if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(string(r.Raw), "<html") {
			t.Errorf("%s: want a 400 error page and no redirect: %d %v", name, r.Status, r.Header.Get("Location"))
		}
	}
	// Redirected with error= and the state.
	for name, c := range map[string]struct {
		v    url.Values
		code string
	}{
		"response_type token":   {set("response_type", "token"), "unsupported_response_type"},
		"no PKCE":               {set("code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		"PKCE plain":            {set("code_challenge_method", "plain"), "invalid_request"},
		"bad challenge":         {set("code_challenge", "short"), "invalid_request"},
		"unknown scope":         {set("scope", "wallet:read everything"), "invalid_scope"},
		"registered with query": {set("redirect_uri", "https://app.example/cb?keep=1", "response_type", "x"), "unsupported_response_type"},
	} {
		r := get(e.Client(nil), c.v)
		loc, err := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusSeeOther || err != nil {
			t.Errorf("%s: want a redirect: %s", name, r)
			continue
		}
		q := loc.Query()
		if q.Get("error") != c.code || q.Get("state") != "s-1" || q.Get("code") != "" ||
			!strings.HasPrefix(loc.String(), strings.Split(c.v.Get("redirect_uri"), "?")[0]) {
			t.Errorf("%s: redirect %s, want error=%s with the state", name, loc, c.code)
		}
		if strings.Contains(c.v.Get("redirect_uri"), "keep=1") && q.Get("keep") != "1" {
			t.Errorf("%s: the redirect URI's own query was dropped: %s", name, loc)
		}
	}

	// The consent page names the client and the scopes; deny comes back
	// as access_denied.
	r := get(e.Client(nil), good)
	if r.Status != 200 || !strings.Contains(string(r.Raw), "wallet:read") || !strings.Contains(string(r.Raw), `name="password"`) {
		t.Fatalf("consent page: %s", r)
	}
	deny := set("action", "deny")
	r = form(t, e.Client(nil), "/oauth/authorize", deny, "")
	if loc, _ := url.Parse(r.Header.Get("Location")); r.Status != 303 || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "s-1" {
		t.Errorf("deny: %s %s", r, r.Header.Get("Location"))
	}
	// Wrong password: the page again, no redirect, no code.
	bad := set("action", "allow", "email", alice.Email, "password", "wrong-password")
	r = form(t, e.Client(nil), "/oauth/authorize", bad, "")
	if r.Status != 401 || r.Header.Get("Location") != "" {
		t.Errorf("wrong password: %s", r)
	}

	// A browser already signed in sees the consent with a CSRF token;
	// allowing without it is refused.
	browser := e.Client(nil)
	Expect(t, browser.Must(t, "POST", "/api/login", map[string]any{"email": alice.Email, "password": alice.Password}, nil), 200)
	page := get(browser, good)
	csrf := between(string(page.Raw), `name="csrf_token" value="`, `"`)
	if page.Status != 200 || csrf == "" || !strings.Contains(string(page.Raw), "You are signed in as") {
		t.Fatalf("signed-in consent page: %s", page)
	}
	r = form(t, browser, "/oauth/authorize", set("action", "allow"), "")
	if r.Status != http.StatusForbidden || r.Header.Get("Location") != "" {
		t.Errorf("allow without the CSRF token: %s", r)
	}
	r = form(t, browser, "/oauth/authorize", set("action", "allow", "csrf_token", csrf, "redirect_uri", "http://127.0.0.1:61000/callback"), "")
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.Status != 303 || loc.Host != "127.0.0.1:61000" || loc.Query().Get("code") == "" || loc.Query().Get("state") != "s-1" {
		t.Fatalf("signed-in allow: %s -> %s", r, loc)
	}
	tok := form(t, e.Client(nil), "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {pub.ID}, "redirect_uri": {"http://127.0.0.1:61000/callback"}, "code_verifier": {ver}}, "")
	if tok.Status != 200 || tok.Str("scope") != "wallet:read" {
		t.Errorf("token for the signed-in consent: %s", tok)
	}
	// An admin signing in is never granted a user's scopes.
	q := e.authorize(t, pub, user{Email: adminEmail, Password: adminPassword}, loopbackRedirect, "wallet:transfer admin", ver)
	tok = form(t, e.Client(nil), "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"client_id": {pub.ID}, "redirect_uri": {loopbackRedirect}, "code_verifier": {ver}}, "")
	if tok.Status != 200 || tok.Str("scope") != "admin" {
		t.Errorf("admin asking for wallet:transfer admin: %s", tok)
	}
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}

// TestOAuthTokens: access tokens on the API (scopes, revocation at
// logout and through /oauth/revoke, hostile tokens), introspection, the
// metadata and keys.
func TestOAuthTokens(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	pub := e.registerClient(t, "public", loopbackRedirect)
	conf := e.registerClient(t, "confidential", "https://rs.example/cb")
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")

	read := e.Client(Bearer(e.oauthToken(t, pub, alice, "wallet:read").Str("access_token")))
	Expect(t, read.Must(t, "GET", "/api/wallet", nil, nil), 200)
	r := read.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "1.00"}, nil)
	ExpectError(t, r, 403, "insufficient_scope")
	if h := r.Header.Get("WWW-Authenticate"); h != `Bearer error="insufficient_scope", scope="wallet:transfer"` {
		t.Errorf("insufficient_scope challenge %q", h)
	}
	ExpectError(t, read.Must(t, "POST", "/api/tokens", nil, nil), 403, "insufficient_scope")

	full := e.oauthToken(t, pub, alice, "")
	at := full.Str("access_token")
	c := e.Client(Bearer(at))
	Expect(t, c.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "1.00"}, H{"Prefer": "wait=10"}), 200)

	// Introspection: confidential clients only.
	intro := form(t, e.Client(nil), "/oauth/introspect", url.Values{"token": {at}}, conf.ID+":"+conf.Secret)
	if intro.Status != 200 || intro.Body["active"] != true || intro.Str("sub") != alice.UserID || intro.Str("client_id") != pub.ID {
		t.Errorf("introspect an access token: %s", intro)
	}
	intro = form(t, e.Client(nil), "/oauth/introspect", url.Values{"token": {full.Str("refresh_token")}}, conf.ID+":"+conf.Secret)
	if intro.Body["active"] != true || intro.Str("token_type") != "refresh_token" {
		t.Errorf("introspect a refresh token: %s", intro)
	}
	if r := form(t, e.Client(nil), "/oauth/introspect", url.Values{"token": {at}, "client_id": {pub.ID}}, ""); !oauthErrorIs(r, 401, "invalid_client") {
		t.Errorf("introspect as a public client: %s", r)
	}

	// Logout with a JWT stops it at once.
	Expect(t, c.Must(t, "POST", "/api/logout", nil, nil), 204)
	ExpectError(t, c.Must(t, "GET", "/api/wallet", nil, nil), 401, "unauthorized")
	intro = form(t, e.Client(nil), "/oauth/introspect", url.Values{"token": {at}}, conf.ID+":"+conf.Secret)
	if intro.Body["active"] != false {
		t.Errorf("introspect a revoked token: %s", intro)
	}

	// /oauth/revoke with a refresh token ends its family; 200 for tokens
	// it does not know, and for another client's (which stay valid).
	other := e.oauthToken(t, pub, alice, "")
	if r := form(t, e.Client(nil), "/oauth/revoke", url.Values{"token": {other.Str("refresh_token")}}, conf.ID+":"+conf.Secret); r.Status != 200 {
		t.Errorf("revoke another client's token: %s", r)
	}
	Expect(t, e.Client(Bearer(other.Str("access_token"))).Must(t, "GET", "/api/wallet", nil, nil), 200)
	if r := form(t, e.Client(nil), "/oauth/revoke", url.Values{"token": {other.Str("refresh_token")}, "client_id": {pub.ID}}, ""); r.Status != 200 {
		t.Errorf("revoke: %s", r)
	}
	ExpectError(t, e.Client(Bearer(other.Str("access_token"))).Must(t, "GET", "/api/wallet", nil, nil), 401, "unauthorized")
	r = form(t, e.Client(nil), "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {other.Str("refresh_token")}, "client_id": {pub.ID}}, "")
	if !oauthErrorIs(r, 400, "invalid_grant") {
		t.Errorf("refresh after revoke: %s", r)
	}
	if r := form(t, e.Client(nil), "/oauth/revoke", url.Values{"token": {"never-issued"}, "client_id": {pub.ID}}, ""); r.Status != 200 {
		t.Errorf("revoke an unknown token: %s", r)
	}

	// Hostile tokens at the API are 401, never a 500.
	parts := strings.Split(e.oauthToken(t, pub, alice, "").Str("access_token"), ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"dev-1"}`))
	for name, tok := range map[string]string{
		"alg none":      none + "." + parts[1] + ".",
		"cut signature": parts[0] + "." + parts[1] + ".",
		"tampered":      parts[0] + "." + parts[1][:len(parts[1])-2] + "AA." + parts[2],
		"oversized":     parts[0] + "." + strings.Repeat("A", 5000) + "." + parts[2],
		"garbage":       "x.y.z",
	} {
		ExpectError(t, e.Client(Bearer(tok)).Must(t, "GET", "/api/wallet", nil, nil), 401, "unauthorized")
		_ = name
	}

	// A bank's client-credentials token deposits; a disabled bank's stops.
	bt := e.Client(Bearer(e.bankToken(t, "")))
	Expect(t, bt.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "2.00", "details": "oauth"}, H{"Idempotency-Key": "oauth-dep-1"}), 202)
	ExpectError(t, e.Client(Bearer(e.bankToken(t, "wallet:read"))).Must(t, "POST", "/api/external_to_wallet",
		map[string]any{"wallet_id": bob.WalletID, "amount": "2.00", "details": "oauth"}, nil), 403, "insufficient_scope")

	// Metadata and keys.
	meta := e.Client(nil).Must(t, "GET", "/.well-known/oauth-authorization-server", nil, nil)
	if meta.Str("issuer") != e.BaseURL || meta.Str("token_endpoint") != e.BaseURL+"/oauth/token" || meta.Str("jwks_uri") != e.BaseURL+"/.well-known/jwks.json" {
		t.Errorf("metadata: %s", meta)
	}
	jwks := e.Client(nil).Must(t, "GET", "/.well-known/jwks.json", nil, nil)
	if keys, _ := jwks.Body["keys"].([]any); jwks.Status != 200 || len(keys) == 0 || strings.Contains(string(jwks.Raw), `"d"`) {
		t.Errorf("jwks: %s", jwks)
	}
}

// TestOAuthConcurrentRefreshOverHTTP: many concurrent refreshes with one
// token, several times: at most one gets tokens.
func TestOAuthConcurrentRefreshOverHTTP(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 0)
	pub := e.registerClient(t, "public", loopbackRedirect)
	alice := e.signup(t, "Alice")
	for round := 0; round < 5; round++ {
		rt := e.oauthToken(t, pub, alice, "").Str("refresh_token")
		var mu sync.Mutex
		ok := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				r, err := sendRaw(e.Client(nil), rawReq{method: "POST", path: "/oauth/token", contentType: "application/x-www-form-urlencoded",
					body: []byte(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {pub.ID}}.Encode())})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.Status == 200:
					ok++
				case !oauthErrorIs(r, 400, "invalid_grant"):
					t.Errorf("round %d: %s", round, r)
				}
			})
		}
		wg.Wait()
		if ok > 1 {
			t.Fatalf("round %d: %d concurrent refreshes with one token succeeded", round, ok)
		}
	}
}
