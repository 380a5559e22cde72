package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sessionCookie returns the wallet_session cookie an answer sets, or nil.
func sessionCookie(r *Resp) *http.Cookie {
	for _, c := range r.Cookies {
		if c.Name == "wallet_session" {
			return c
		}
	}
	return nil
}

// checkCookieFlags checks the session cookie's attributes in APP_ENV=test:
// HttpOnly, SameSite=Lax, Path=/, not Secure.
func checkCookieFlags(t *testing.T, where string, r *Resp) *http.Cookie {
	t.Helper()
	c := sessionCookie(r)
	if c == nil {
		t.Errorf("%s: no wallet_session cookie set: %s %v", where, r, r.Header["Set-Cookie"])
		return nil
	}
	raw := strings.Join(r.Header["Set-Cookie"], "\n")
	if !c.HttpOnly {
		t.Errorf("%s: session cookie is not HttpOnly: %s", where, raw)
	}
	if c.SameSite != http.SameSiteLaxMode {
		t.Errorf("%s: session cookie is not SameSite=Lax: %s", where, raw)
	}
	if c.Path != "/" {
		t.Errorf("%s: session cookie Path is %q, want /: %s", where, c.Path, raw)
	}
	if c.Secure {
		t.Errorf("%s: session cookie is Secure outside production (APP_ENV=test): %s", where, raw)
	}
	return c
}

// replayCookie sends a request carrying a bare session cookie value, as
// someone who copied it would.
func replayCookie(t *testing.T, e *Env, method, path, value string) *Resp {
	t.Helper()
	return mustRaw(t, e.Client(nil), rawReq{method: method, path: path, hdr: H{"Cookie": "wallet_session=" + value}, noRedirect: true})
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// pageCSRF reads the csrf_token of the signed-in home page.
func pageCSRF(t *testing.T, c *Client) string {
	t.Helper()
	r := mustRaw(t, c, rawReq{method: "GET", path: "/", noRedirect: true})
	Expect(t, r, http.StatusOK)
	m := csrfField.FindStringSubmatch(string(r.Raw))
	if m == nil || m[1] == "" {
		t.Fatalf("home page has no csrf_token field: %.400s", r.Raw)
	}
	return m[1]
}

// postForm posts an HTML form as a browser would, answering redirects
// itself.
func postForm(t *testing.T, c *Client, path string, form url.Values, hdr H) *Resp {
	t.Helper()
	return mustRaw(t, c, rawReq{method: "POST", path: path, body: []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded", hdr: hdr, noRedirect: true})
}

// formRefusedCSRF says whether a form post was refused for CSRF: a 403,
// as JSON csrf_failed or as the page again saying the form has expired.
func formRefusedCSRF(r *Resp) error {
	if r.Status == http.StatusForbidden && strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		if strings.Contains(string(r.Raw), `<p class="error" role="alert">the form has expired`) {
			return nil
		}
		return fmt.Errorf("want the page to say the form has expired: %s", r)
	}
	if r.Status == http.StatusForbidden {
		return errorShape(r, http.StatusForbidden, "csrf_failed")
	}
	return fmt.Errorf("want the form refused for CSRF (403 csrf_failed, or the page again with 403): %s Location=%q", r, r.Header.Get("Location"))
}

// loginCookie signs u in through the API and returns the client (holding
// the cookie) and the cookie's value.
func loginCookie(t *testing.T, e *Env, u user) (*Client, string) {
	t.Helper()
	c := e.Client(nil)
	r := c.Must(t, "POST", "/api/login", map[string]any{"email": u.Email, "password": u.Password}, nil)
	Expect(t, r, http.StatusOK)
	ck := sessionCookie(r)
	if ck == nil || ck.Value == "" {
		t.Fatalf("login set no session cookie: %s", r)
	}
	return c, ck.Value
}

// ledgerView is Alice's and Bob's wallets, to show that refused requests
// moved no money.
func ledgerView(t *testing.T, cs ...*Client) string {
	t.Helper()
	var parts []string
	for _, c := range cs {
		parts = append(parts, walletView(t, c))
	}
	return strings.Join(parts, " | ")
}

func TestSessionSecurity(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "100.00")
	aliceAPI := e.Client(Basic(alice.Email, alice.Password))
	bobAPI := e.Client(Basic(bob.Email, bob.Password))
	host := strings.TrimPrefix(e.BaseURL, "http://")
	hostname, port, _ := strings.Cut(host, ":")

	t.Run("cookie flags", func(t *testing.T) {
		c := e.Client(nil)
		r := c.Must(t, "POST", "/api/login", map[string]any{"email": alice.Email, "password": alice.Password}, nil)
		Expect(t, r, http.StatusOK)
		if ck := checkCookieFlags(t, "POST /api/login", r); ck != nil && len(ck.Value) < 43 {
			t.Errorf("session id %q is shorter than 256 bits in base64", ck.Value)
		}
		r = postForm(t, e.Client(nil), "/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil)
		if r.Status != http.StatusSeeOther {
			t.Errorf("web login: want 303 to /: %s", r)
		}
		checkCookieFlags(t, "POST /login", r)
		r = postForm(t, e.Client(nil), "/signup", url.Values{"name": {"Web"}, "email": {"web-" + randHex(3) + "@example.com"}, "password": {"correct horse"}}, nil)
		if r.Status != http.StatusSeeOther {
			t.Errorf("web signup: want 303 to /: %s", r)
		}
		checkCookieFlags(t, "POST /signup", r)
		// Logout clears the cookie with the same attributes.
		r = c.Must(t, "POST", "/api/logout", nil, nil)
		Expect(t, r, http.StatusNoContent)
		if ck := checkCookieFlags(t, "POST /api/logout", r); ck != nil && ck.MaxAge >= 0 && ck.Value != "" {
			t.Errorf("logout does not clear the cookie: %v", r.Header["Set-Cookie"])
		}
	})

	t.Run("logout ends the session on the server", func(t *testing.T) {
		c1, v1 := loginCookie(t, e, alice)
		c2, v2 := loginCookie(t, e, alice)
		if v1 == v2 {
			t.Fatalf("two logins got the same session id")
		}
		Expect(t, c1.Must(t, "GET", "/api/wallet", nil, nil), http.StatusOK)
		Expect(t, c1.Must(t, "POST", "/api/logout", nil, nil), http.StatusNoContent)
		for _, r := range []*Resp{
			c1.Must(t, "GET", "/api/wallet", nil, nil),
			replayCookie(t, e, "GET", "/api/wallet", v1),
			replayCookie(t, e, "POST", "/api/tokens", v1),
			replayCookie(t, e, "POST", "/api/logout", v1),
		} {
			CheckError(t, r, http.StatusUnauthorized, "unauthorized")
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate: %s", r)
			}
		}
		// Only that session ended.
		Expect(t, c2.Must(t, "GET", "/api/wallet", nil, nil), http.StatusOK)

		// A Bearer token ends with a logout that uses it, and only it.
		tok := e.token(t, alice)
		bearer := e.Client(Bearer(tok))
		Expect(t, bearer.Must(t, "GET", "/api/wallet", nil, nil), http.StatusOK)
		Expect(t, bearer.Must(t, "POST", "/api/logout", nil, nil), http.StatusNoContent)
		r := bearer.Must(t, "GET", "/api/wallet", nil, nil)
		CheckError(t, r, http.StatusUnauthorized, "unauthorized")
		r = bearer.Must(t, "POST", "/api/tokens", nil, nil)
		CheckError(t, r, http.StatusUnauthorized, "unauthorized")
		Expect(t, c2.Must(t, "GET", "/api/wallet", nil, nil), http.StatusOK)

		// GET /logout only asks; the web form's POST logs out.
		r = mustRaw(t, c2, rawReq{method: "GET", path: "/logout", noRedirect: true})
		Expect(t, r, http.StatusOK)
		Expect(t, replayCookie(t, e, "GET", "/api/wallet", v2), http.StatusOK)
		token := pageCSRF(t, c2)
		r = postForm(t, c2, "/logout", url.Values{"csrf_token": {token}}, H{"Origin": e.BaseURL})
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("web logout: want 303 to /login: %s Location=%q", r, r.Header.Get("Location"))
		}
		CheckError(t, replayCookie(t, e, "GET", "/api/wallet", v2), http.StatusUnauthorized, "unauthorized")
		r = replayCookie(t, e, "GET", "/", v2)
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
			t.Errorf("home page with an ended session: want a redirect to /login: %s", r)
		}
	})

	t.Run("a session id does not survive login", func(t *testing.T) {
		// An id the attacker made up.
		planted := randHex(32)
		r := mustRaw(t, e.Client(nil), rawReq{method: "POST", path: "/api/login",
			body: []byte(jsonText(map[string]string{"email": alice.Email, "password": alice.Password})), hdr: H{"Cookie": "wallet_session=" + planted}})
		Expect(t, r, http.StatusOK)
		ck := sessionCookie(r)
		if ck == nil || ck.Value == "" || ck.Value == planted {
			t.Errorf("login kept the planted session id: %v", r.Header["Set-Cookie"])
		}
		CheckError(t, replayCookie(t, e, "GET", "/api/wallet", planted), http.StatusUnauthorized, "unauthorized")

		// A real session the attacker holds (their own account), planted
		// in the victim's browser: the victim's login gets a new id, and
		// the planted one is over.
		mallory := e.signup(t, "Mallory")
		for _, via := range []string{"api", "form"} {
			_, old := loginCookie(t, e, mallory)
			var r *Resp
			if via == "api" {
				r = mustRaw(t, e.Client(nil), rawReq{method: "POST", path: "/api/login",
					body: []byte(jsonText(map[string]string{"email": alice.Email, "password": alice.Password})), hdr: H{"Cookie": "wallet_session=" + old}})
				Expect(t, r, http.StatusOK)
			} else {
				r = postForm(t, e.Client(nil), "/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, H{"Cookie": "wallet_session=" + old})
				if r.Status != http.StatusSeeOther {
					t.Errorf("web login: want 303: %s", r)
				}
			}
			ck := sessionCookie(r)
			if ck == nil || ck.Value == "" || ck.Value == old {
				t.Errorf("%s login kept the session id it came with: %v", via, r.Header["Set-Cookie"])
				continue
			}
			w := replayCookie(t, e, "GET", "/api/wallet", ck.Value)
			Expect(t, w, http.StatusOK)
			if w.Str("wallet_id") != alice.WalletID {
				t.Errorf("%s login: the new session is not Alice's: %s", via, w)
			}
			CheckError(t, replayCookie(t, e, "GET", "/api/wallet", old), http.StatusUnauthorized, "unauthorized")
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		aliceWeb, aliceID := loginCookie(t, e, alice)
		bobWeb, _ := loginCookie(t, e, bob)
		token := pageCSRF(t, aliceWeb)
		bobToken := pageCSRF(t, bobWeb)
		if token == bobToken {
			t.Errorf("two sessions share a CSRF token")
		}
		before := ledgerView(t, aliceAPI, bobAPI)
		transfer := map[string]any{"wallet_id": bob.WalletID, "amount": "1.00", "details": "csrf"}
		form := url.Values{"csrf_token": {token}, "wallet_id": {bob.WalletID}, "amount": {"1.00"}}

		foreign := []H{
			{"Origin": "https://evil.example"},
			{"Sec-Fetch-Site": "cross-site"},
			{"Sec-Fetch-Site": "same-site"},
			{"Origin": "null"},
			{"Origin": "http://" + hostname + ":1"}, // same host, other port
			{"Origin": "http://" + hostname + ".evil.example:" + port},
			{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
		}
		for _, h := range foreign {
			name := fmt.Sprint(map[string]string(h))
			refused := func(what string, r *Resp) {
				t.Helper()
				if err := errorShape(r, http.StatusForbidden, "csrf_failed"); err != nil {
					t.Errorf("%s with %s: %v", what, name, err)
				}
			}
			refused("cookie JSON transfer", aliceWeb.Must(t, "POST", "/api/wallet_to_wallet", transfer, h))
			refused("cookie token request", aliceWeb.Must(t, "POST", "/api/tokens", nil, h))
			refused("cookie logout", aliceWeb.Must(t, "POST", "/api/logout", nil, h))
			refused("form transfer with a valid token", postForm(t, aliceWeb, "/transfer", form, h))
			refused("form logout with a valid token", postForm(t, aliceWeb, "/logout", url.Values{"csrf_token": {token}}, h))
			// Signing a victim in (or up) from another site is refused too.
			refused("JSON login", e.Client(nil).Must(t, "POST", "/api/login", map[string]any{"email": alice.Email, "password": alice.Password}, h))
			refused("form login", postForm(t, e.Client(nil), "/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, h))
			refused("JSON signup", e.Client(nil).Must(t, "POST", "/api/signup", map[string]any{"name": "X", "email": "x-" + randHex(3) + "@example.com", "password": "correct horse"}, h))
		}
		// Same origin, the forms without the right token.
		for _, f := range []struct {
			name string
			form url.Values
		}{
			{"no token", url.Values{"wallet_id": {bob.WalletID}, "amount": {"1.00"}}},
			{"empty token", url.Values{"csrf_token": {""}, "wallet_id": {bob.WalletID}, "amount": {"1.00"}}},
			{"wrong token", url.Values{"csrf_token": {randHex(16)}, "wallet_id": {bob.WalletID}, "amount": {"1.00"}}},
			{"another session's token", url.Values{"csrf_token": {bobToken}, "wallet_id": {bob.WalletID}, "amount": {"1.00"}}},
		} {
			if err := formRefusedCSRF(postForm(t, aliceWeb, "/transfer", f.form, H{"Origin": e.BaseURL})); err != nil {
				t.Errorf("form transfer with %s: %v", f.name, err)
			}
			lf := url.Values{"csrf_token": f.form["csrf_token"]}
			if err := errorShape(postForm(t, aliceWeb, "/logout", lf, H{"Origin": e.BaseURL}), http.StatusForbidden, "csrf_failed"); err != nil {
				t.Errorf("form logout with %s: %v", f.name, err)
			}
		}
		if after := ledgerView(t, aliceAPI, bobAPI); after != before {
			t.Errorf("refused cross-site requests moved money:\nbefore %s\nafter  %s", before, after)
		}
		// The session outlived every refused logout.
		Expect(t, replayCookie(t, e, "GET", "/api/wallet", aliceID), http.StatusOK)

		// Allowed: same origin by cookie, and Basic or Bearer from anywhere.
		aliceBearer := e.Client(Bearer(e.token(t, alice)))
		sent := 0
		for _, a := range []struct {
			name string
			c    *Client
			h    H
		}{
			{"cookie, Origin of the API", aliceWeb, H{"Origin": e.BaseURL}},
			{"cookie, Sec-Fetch-Site same-origin", aliceWeb, H{"Sec-Fetch-Site": "same-origin"}},
			{"cookie, Sec-Fetch-Site none", aliceWeb, H{"Sec-Fetch-Site": "none"}},
			{"cookie, no browser headers", aliceWeb, nil},
			{"Basic, foreign Origin", aliceAPI, H{"Origin": "https://evil.example"}},
			{"Basic, cross-site", aliceAPI, H{"Sec-Fetch-Site": "cross-site"}},
			{"Bearer, foreign Origin", aliceBearer, H{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}},
		} {
			r := a.c.Must(t, "POST", "/api/wallet_to_wallet", transfer, a.h)
			if r.Status != http.StatusAccepted {
				t.Errorf("transfer by %s: want 202: %s", a.name, r)
				continue
			}
			sent++
			waitFinal(t, aliceAPI, r.Str("operation_id"), 30*time.Second)
		}
		// The form with its token, from the page's own origin, moves money.
		r := postForm(t, aliceWeb, "/transfer", form, H{"Origin": e.BaseURL})
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Errorf("form transfer with its token: want 303 to /: %s Location=%q", r, r.Header.Get("Location"))
		} else {
			sent++
		}
		ops := aliceAPI.Must(t, "GET", "/api/wallet/operations?limit=1", nil, nil)
		if ids := opIDs(t, ops); len(ids) > 0 {
			waitFinal(t, aliceAPI, ids[0], 30*time.Second)
		}
		if got := balance(t, bobAPI); got != int64(sent)*100 {
			t.Errorf("Bob has %s after %d allowed transfers of 1.00", money(got), sent)
		}
		// The form logout with its token ends the session.
		r = postForm(t, aliceWeb, "/logout", url.Values{"csrf_token": {token}}, H{"Origin": e.BaseURL})
		if r.Status != http.StatusSeeOther {
			t.Errorf("form logout with its token: want 303: %s", r)
		}
		CheckError(t, replayCookie(t, e, "GET", "/api/wallet", aliceID), http.StatusUnauthorized, "unauthorized")
	})

	t.Run("login attempts are rate limited per email", func(t *testing.T) {
		anon := e.Client(nil)
		wrong := func(email string) *Resp {
			return anon.Must(t, "POST", "/api/login", map[string]any{"email": email, "password": "wrong-" + randHex(4)}, nil)
		}
		// limited sends 10 wrong passwords, which must all be 401, and
		// then checks that the next try is 429.
		limited := func(name, email string) {
			t.Helper()
			for i := 0; i < 10; i++ {
				if err := errorShape(wrong(email), http.StatusUnauthorized, "invalid_credentials"); err != nil {
					t.Errorf("%s: failure %d: %v", name, i+1, err)
				}
			}
			r := wrong(email)
			if err := errorShape(r, http.StatusTooManyRequests, "too_many_attempts"); err != nil {
				t.Errorf("%s: the 11th try: %v", name, err)
				return
			}
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
				t.Errorf("%s: 429 needs Retry-After in seconds, got %q", name, r.Header.Get("Retry-After"))
			}
		}

		victim := e.signup(t, "Victim")
		limited("known email", victim.Email)
		r := anon.Must(t, "POST", "/api/login", map[string]any{"email": victim.Email, "password": victim.Password}, nil)
		CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
		if sessionCookie(r) != nil {
			t.Errorf("a limited login set a cookie: %v", r.Header["Set-Cookie"])
		}
		r = postForm(t, e.Client(nil), "/login", url.Values{"email": {victim.Email}, "password": {victim.Password}}, nil)
		if r.Status != http.StatusTooManyRequests || sessionCookie(r) != nil {
			t.Errorf("the web login form is not limited with the API: %s", r)
		}
		r = e.Client(Basic(victim.Email, victim.Password)).Must(t, "GET", "/api/wallet", nil, nil)
		CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")

		// The limit is per email: another account from the same client
		// signs in, and its wrong passwords are still just wrong.
		other := e.signup(t, "Other")
		Expect(t, anon.Must(t, "POST", "/api/login", map[string]any{"email": other.Email, "password": other.Password}, nil), http.StatusOK)
		CheckError(t, wrong(other.Email), http.StatusUnauthorized, "invalid_credentials")

		// Unknown emails are limited alike, so the limiter does not tell
		// which emails exist.
		limited("unknown email", "ghost-"+randHex(4)+"@example.com")

		// Case and surrounding spaces do not make another email.
		mixed := e.signup(t, "Mixed")
		for i := 0; i < 10; i++ {
			email := mixed.Email
			switch i % 3 {
			case 1:
				email = strings.ToUpper(email)
			case 2:
				email = " " + email + " "
			}
			CheckError(t, wrong(email), http.StatusUnauthorized, "invalid_credentials")
		}
		CheckError(t, wrong(mixed.Email), http.StatusTooManyRequests, "too_many_attempts")

		// Guessing through HTTP Basic counts the same.
		guessed := e.signup(t, "Guessed")
		for i := 0; i < 10; i++ {
			r := e.Client(Basic(guessed.Email, "wrong-"+randHex(4))).Must(t, "GET", "/api/wallet", nil, nil)
			CheckError(t, r, http.StatusUnauthorized, "unauthorized")
		}
		r = e.Client(Basic(guessed.Email, guessed.Password)).Must(t, "GET", "/api/wallet", nil, nil)
		CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
		CheckError(t, anon.Must(t, "POST", "/api/login", map[string]any{"email": guessed.Email, "password": guessed.Password}, nil),
			http.StatusTooManyRequests, "too_many_attempts")

		// A success resets the count.
		reset := e.signup(t, "Reset")
		for round := 0; round < 2; round++ {
			for i := 0; i < 9; i++ {
				CheckError(t, wrong(reset.Email), http.StatusUnauthorized, "invalid_credentials")
			}
			Expect(t, anon.Must(t, "POST", "/api/login", map[string]any{"email": reset.Email, "password": reset.Password}, nil), http.StatusOK)
		}
	})

	t.Run("login failures do not tell whether an email exists", func(t *testing.T) {
		known := e.signup(t, "Known")
		unknown := "unknown-" + randHex(4) + "@example.com"
		anon := e.Client(nil)
		login := func(email string) *Resp {
			return anon.Must(t, "POST", "/api/login", map[string]any{"email": email, "password": "wrong-password-1"}, nil)
		}
		same := func(what string, x, y *Resp, strip ...string) {
			t.Helper()
			bx, by := string(x.Raw), string(y.Raw)
			for _, s := range strip {
				bx = strings.ReplaceAll(bx, s, "EMAIL")
				by = strings.ReplaceAll(by, s, "EMAIL")
			}
			if x.Status != y.Status || bx != by || x.Header.Get("WWW-Authenticate") != y.Header.Get("WWW-Authenticate") ||
				x.Header.Get("Content-Type") != y.Header.Get("Content-Type") {
				t.Errorf("%s: wrong password and unknown email answer differently:\nknown   %s WWW-Authenticate=%q\nunknown %s WWW-Authenticate=%q",
					what, x, x.Header.Get("WWW-Authenticate"), y, y.Header.Get("WWW-Authenticate"))
			}
		}
		k, u := login(known.Email), login(unknown)
		CheckError(t, k, http.StatusUnauthorized, "invalid_credentials")
		same("POST /api/login", k, u)
		same("HTTP Basic",
			e.Client(Basic(known.Email, "wrong-password-1")).Must(t, "GET", "/api/wallet", nil, nil),
			e.Client(Basic(unknown, "wrong-password-1")).Must(t, "GET", "/api/wallet", nil, nil))
		same("POST /login",
			postForm(t, e.Client(nil), "/login", url.Values{"email": {known.Email}, "password": {"wrong-password-1"}}, nil),
			postForm(t, e.Client(nil), "/login", url.Values{"email": {unknown}, "password": {"wrong-password-1"}}, nil),
			known.Email, unknown)

		// That they also take as long is held by the ledger's
		// TestAuthenticateComparesOnce: one hash comparison of the
		// configured cost on every path, a count the machine's speed
		// cannot change.
	})

	t.Run("web pages", func(t *testing.T) {
		anon := e.Client(nil)
		for _, p := range []struct{ path, form string }{{"/login", `action="/login"`}, {"/signup", `action="/signup"`}} {
			r := mustRaw(t, anon, rawReq{method: "GET", path: p.path, noRedirect: true})
			Expect(t, r, http.StatusOK)
			body := string(r.Raw)
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, p.form) ||
				!strings.Contains(body, `name="email"`) || !strings.Contains(body, `name="password"`) {
				t.Errorf("GET %s: want an HTML page with its form: %s", p.path, r)
			}
		}
		for _, p := range []string{"/", "/logout"} {
			r := mustRaw(t, anon, rawReq{method: "GET", path: p, noRedirect: true})
			if (r.Status != http.StatusSeeOther && r.Status != http.StatusFound) || r.Header.Get("Location") != "/login" {
				t.Errorf("GET %s signed out: want a redirect to /login: %s Location=%q", p, r, r.Header.Get("Location"))
			}
		}
		// A wrong password on the form: the page again, no cookie.
		r := postForm(t, e.Client(nil), "/login", url.Values{"email": {alice.Email}, "password": {"wrong-password"}}, nil)
		if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || sessionCookie(r) != nil {
			t.Errorf("web login with a wrong password: want the 401 login page without a cookie: %s", r)
		}

		// Alice signs in with the form and sees her wallet.
		web := e.Client(nil)
		r = postForm(t, web, "/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, H{"Origin": e.BaseURL})
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Fatalf("web login: want 303 to /: %s Location=%q", r, r.Header.Get("Location"))
		}
		w := aliceAPI.Must(t, "GET", "/api/wallet", nil, nil)
		Expect(t, w, http.StatusOK)
		r = mustRaw(t, web, rawReq{method: "GET", path: "/", noRedirect: true})
		Expect(t, r, http.StatusOK)
		page := string(r.Raw)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, alice.WalletID) ||
			!strings.Contains(page, w.Str("balance")) {
			t.Errorf("home page: want HTML with wallet %s and balance %s: %.2000s", alice.WalletID, w.Str("balance"), page)
		}
		if r.Header.Get("X-Frame-Options") != "DENY" && !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("the page with the transfer form may be framed by other sites: %v", r.Header)
		}

		// What users typed is shown as text, never as markup; flash
		// messages from the query are codes only.
		name := `<script>alert("name")</script> Zoë`
		mallory := e.Client(nil)
		r = postForm(t, mallory, "/signup", url.Values{"name": {name}, "email": {"zoe-" + randHex(3) + "@example.com"}, "password": {"correct horse"}}, nil)
		if r.Status != http.StatusSeeOther {
			t.Fatalf("web signup: want 303: %s", r)
		}
		mw := mallory.Must(t, "GET", "/api/wallet", nil, nil)
		Expect(t, mw, http.StatusOK)
		e.deposit(t, mw.Str("wallet_id"), "12.34")
		bank := e.Client(Basic(bankEmail, bankPassword))
		dep := bank.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": mw.Str("wallet_id"), "amount": "0.66",
			"details": `<img src=x onerror=alert("details")>`}, H{"Prefer": "wait=10"})
		Expect(t, dep, http.StatusOK)
		r = mustRaw(t, mallory, rawReq{method: "GET", path: "/?error=" + url.QueryEscape(`<b>forged</b>`), noRedirect: true})
		Expect(t, r, http.StatusOK)
		page = string(r.Raw)
		if !strings.Contains(page, mw.Str("wallet_id")) || !strings.Contains(page, "13.00") {
			t.Errorf("home page after signup: want wallet %s and balance 13.00: %.2000s", mw.Str("wallet_id"), page)
		}
		for _, raw := range []string{`<script>alert("name")`, `<img src=x`, `<b>forged</b>`} {
			if strings.Contains(page, raw) {
				t.Errorf("home page renders %q as markup: %.3000s", raw, page)
			}
		}
		if !strings.Contains(page, "&lt;script&gt;") || !strings.Contains(page, "&lt;img src=x") {
			t.Errorf("home page does not show the name and details as text: %.3000s", page)
		}
	})
}
