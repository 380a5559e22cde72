package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The findings of issue 8's review other than the reused buffers, each
// held by a test against the running programs.

// sendHeaders sends a JSON POST with repeated headers, which Client.Do
// cannot (it sets one value per name).
func sendHeaders(t *testing.T, c *Client, path, body string, hdr http.Header) *Resp {
	t.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr.Clone()
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != nil {
		c.auth(req)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &Resp{Method: "POST", Path: path, Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if b := bytes.TrimSpace(raw); len(b) > 0 && b[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err == nil {
			r.Body = m
		}
	}
	return r
}

var formKeyField = regexp.MustCompile(`name="idempotency_key" value="([^"]*)"`)

func TestReviewFindings(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "100.00")
	aliceAPI := e.Client(Basic(alice.Email, alice.Password))
	bobAPI := e.Client(Basic(bob.Email, bob.Password))
	db := openDB(t, e)
	unchanged := func(t *testing.T, before dbState, what string) {
		t.Helper()
		settle(t, db)
		if d := diffDB(before, snapshotDB(t, db)); len(d) > 0 {
			t.Errorf("%s changed the database: %v", what, d)
		}
	}

	t.Run("JSON keys are exact and unique, UTF-8 is valid", func(t *testing.T) {
		for _, tt := range []struct{ name, body string }{
			{"duplicate amount", `{"wallet_id":"` + bob.WalletID + `","amount":"0.01","amount":"50"}`},
			{"amount in another case", `{"wallet_id":"` + bob.WalletID + `","amount":"0.01","Amount":"50"}`},
			{"wallet_id in upper case", `{"WALLET_ID":"` + bob.WalletID + `","amount":"0.01"}`},
			{"duplicate wallet_id", `{"wallet_id":"` + alice.WalletID + `","wallet_id":"` + bob.WalletID + `","amount":"1"}`},
			{"invalid UTF-8 in details", "{\"wallet_id\":\"" + bob.WalletID + "\",\"amount\":\"1\",\"details\":\"caf\xe9\"}"},
		} {
			before := snapshotDB(t, db)
			r := mustRaw(t, aliceAPI, rawReq{method: "POST", path: "/api/wallet_to_wallet", body: []byte(tt.body)})
			CheckError(t, r, http.StatusBadRequest, "invalid_request")
			unchanged(t, before, tt.name)
		}
	})

	t.Run("two Idempotency-Key headers", func(t *testing.T) {
		before := snapshotDB(t, db)
		r := sendHeaders(t, aliceAPI, "/api/wallet_to_wallet", `{"wallet_id":"`+bob.WalletID+`","amount":"1.00"}`,
			http.Header{"Idempotency-Key": {"key-a", "key-b"}})
		CheckError(t, r, http.StatusBadRequest, "invalid_idempotency_key")
		unchanged(t, before, "two Idempotency-Key headers")
	})

	t.Run("compressed bodies are refused", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(`{"wallet_id":"` + bob.WalletID + `","amount":"1.00"}`))
		zw.Close()
		before := snapshotDB(t, db)
		r := sendHeaders(t, aliceAPI, "/api/wallet_to_wallet", buf.String(), http.Header{"Content-Encoding": {"gzip"}})
		CheckError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		unchanged(t, before, "a gzip body")
	})

	t.Run("an upper-cased wallet id is the same request", func(t *testing.T) {
		body := func(id string) map[string]any {
			return map[string]any{"wallet_id": id, "amount": "1.25", "details": "case"}
		}
		first := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body(bob.WalletID), H{"Idempotency-Key": "case-1"})
		Expect(t, first, http.StatusAccepted)
		r := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body(strings.ToUpper(bob.WalletID)), H{"Idempotency-Key": "case-1"})
		expectReplay(t, first, r)
		if r.Str("to_wallet_id") != bob.WalletID {
			t.Errorf("the replay names the recipient %q, want the canonical %s", r.Str("to_wallet_id"), bob.WalletID)
		}
		// Without a key, an upper-cased id is simply the same wallet.
		r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body(strings.ToUpper(bob.WalletID)), H{"Prefer": "wait=10"})
		Expect(t, r, http.StatusOK)
		if r.Str("to_wallet_id") != bob.WalletID {
			t.Errorf("an upper-cased recipient was stored as %q, want %s", r.Str("to_wallet_id"), bob.WalletID)
		}
		waitFinal(t, aliceAPI, first.Str("operation_id"), 30*time.Second)
	})

	t.Run("web form: one key per rendered form, repeated fields refused", func(t *testing.T) {
		web := e.Client(nil)
		r := postForm(t, web, "/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil)
		if r.Status != http.StatusSeeOther {
			t.Fatalf("web login: %s", r)
		}
		page := mustRaw(t, web, rawReq{method: "GET", path: "/", noRedirect: true})
		Expect(t, page, http.StatusOK)
		csrf := csrfField.FindStringSubmatch(string(page.Raw))
		key := formKeyField.FindStringSubmatch(string(page.Raw))
		if csrf == nil || key == nil || key[1] == "" {
			t.Fatalf("the home page's form lacks a csrf_token or idempotency_key: %.600s", page.Raw)
		}
		// A second rendering gets another key.
		again := formKeyField.FindStringSubmatch(string(mustRaw(t, web, rawReq{method: "GET", path: "/", noRedirect: true}).Raw))
		if again == nil || again[1] == key[1] {
			t.Errorf("two renderings of the form share the idempotency key %q", key[1])
		}
		before := balance(t, bobAPI)
		form := url.Values{"csrf_token": {csrf[1]}, "idempotency_key": {key[1]}, "wallet_id": {bob.WalletID},
			"amount": {"2.50"}, "details": {"double click"}}
		for i := range 3 {
			r := postForm(t, web, "/transfer", form, nil)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/" {
				t.Errorf("submit %d of the same form: %s Location=%q", i+1, r, r.Header.Get("Location"))
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for balance(t, bobAPI) != before+250 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // a second transfer would land about now
		if got := balance(t, bobAPI); got != before+250 {
			t.Errorf("three submits of one form moved %s to Bob, want 2.50 once", money(got-before))
		}

		snap := snapshotDB(t, db)
		for _, body := range []string{
			"csrf_token=" + url.QueryEscape(csrf[1]) + "&wallet_id=" + bob.WalletID + "&amount=0.01&amount=40",
			"csrf_token=" + url.QueryEscape(csrf[1]) + "&wallet_id=" + alice.WalletID + "&wallet_id=" + bob.WalletID + "&amount=1",
			"csrf_token=" + url.QueryEscape(csrf[1]) + "&csrf_token=x&wallet_id=" + bob.WalletID + "&amount=1",
		} {
			r := mustRaw(t, web, rawReq{method: "POST", path: "/transfer", body: []byte(body),
				contentType: "application/x-www-form-urlencoded", noRedirect: true})
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "was sent more than once") {
				t.Errorf("a form with a repeated field: %s, want the page again with 400 and why", r)
			}
		}
		// A field in the query string is not a form field.
		r = mustRaw(t, web, rawReq{method: "POST", path: "/transfer?amount=40",
			body:        []byte("csrf_token=" + url.QueryEscape(csrf[1]) + "&wallet_id=" + bob.WalletID),
			contentType: "application/x-www-form-urlencoded", noRedirect: true})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), `id="transfer-amount-error"`) {
			t.Errorf("an amount in the query string was used: %s, want the form again with the amount refused", r)
		}
		unchanged(t, snap, "forms with repeated fields")
	})

	t.Run("a replay while the first request waits is in progress", func(t *testing.T) {
		e.Workers[0].Stop()
		body := map[string]any{"wallet_id": bob.WalletID, "amount": "0.75"}
		firstDone := make(chan *Resp, 1)
		go func() {
			r, err := aliceAPI.Do("POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": "wait-1", "Prefer": "wait=3"})
			if err != nil {
				t.Errorf("first request: %v", err)
			}
			firstDone <- r
		}()
		// Once the first request is stored (its key is in Postgres), and
		// until it answers, the key is in progress.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var n int
			if err := db.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys WHERE key = 'wait-1'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first request was not stored within 10s")
			}
		}
		var sawInProgress bool
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !sawInProgress; time.Sleep(100 * time.Millisecond) {
			r := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": "wait-1"})
			switch {
			case r.Status == http.StatusConflict && r.ErrCode() == "request_in_progress":
				sawInProgress = true
			case r.Header.Get("Idempotent-Replayed") == "true":
				t.Fatalf("a replay answered before the first request did: %s", r)
			}
		}
		first := <-firstDone
		if first == nil {
			t.FailNow()
		}
		Expect(t, first, http.StatusAccepted) // no worker: the wait ran out
		if !sawInProgress {
			t.Error("no replay during the first request's wait was answered 409 request_in_progress")
		}
		r := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": "wait-1"})
		expectReplay(t, first, r)
		e.Workers[0].Start()
		waitFinal(t, aliceAPI, first.Str("operation_id"), 30*time.Second)
		r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": "wait-1", "Prefer": "wait=5"})
		expectReplay(t, first, r) // still the first answer's 202
	})

	t.Run("tokens minted from a session end with it", func(t *testing.T) {
		web, _ := loginCookie(t, e, alice)
		r := web.Must(t, "POST", "/api/tokens", nil, nil)
		Expect(t, r, http.StatusCreated)
		child := r.Str("access_token")
		r = e.Client(Bearer(child)).Must(t, "POST", "/api/tokens", nil, nil)
		Expect(t, r, http.StatusCreated)
		grandchild := r.Str("access_token")
		basicMinted := e.token(t, alice)
		for _, tok := range []string{child, grandchild, basicMinted} {
			Expect(t, e.Client(Bearer(tok)).Must(t, "GET", "/api/wallet", nil, nil), http.StatusOK)
		}
		Expect(t, web.Must(t, "POST", "/api/logout", nil, nil), http.StatusNoContent)
		for name, tok := range map[string]string{"a token minted with the session": child, "a token minted with that token": grandchild} {
			if r := e.Client(Bearer(tok)).Must(t, "GET", "/api/wallet", nil, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("%s still works after the session logged out: %s", name, r)
			}
		}
		// A token minted with Basic has no parent to end with.
		Expect(t, e.Client(Bearer(basicMinted)).Must(t, "GET", "/api/wallet", nil, nil), http.StatusOK)
	})

	t.Run("the CSRF check compares the scheme and ignores forwarded headers", func(t *testing.T) {
		web, _ := loginCookie(t, e, alice)
		host := strings.TrimPrefix(e.BaseURL, "http://")
		for _, tt := range []struct {
			name string
			hdr  H
			ok   bool
		}{
			{"same origin", H{"Origin": "http://" + host}, true},
			{"https origin for an http page", H{"Origin": "https://" + host}, false},
			{"forwarded proto from an untrusted peer", H{"Origin": "https://" + host, "X-Forwarded-Proto": "https"}, false},
			{"forwarded host from an untrusted peer", H{"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"}, false},
		} {
			r := web.Must(t, "POST", "/api/tokens", nil, tt.hdr)
			if tt.ok {
				Expect(t, r, http.StatusCreated)
			} else {
				CheckError(t, r, http.StatusForbidden, "csrf_failed")
			}
		}
	})

	t.Run("pages and the dashboard send protective headers", func(t *testing.T) {
		admin := e.Client(Basic(adminEmail, adminPassword))
		for _, c := range []struct {
			client *Client
			path   string
		}{{e.Client(nil), "/login"}, {e.Client(nil), "/signup"}, {admin, "/admin/queues"}} {
			r := mustRaw(t, c.client, rawReq{method: "GET", path: c.path, noRedirect: true})
			Expect(t, r, http.StatusOK)
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
				"X-Frame-Options": "DENY", "Cache-Control": "no-store",
			} {
				if got := r.Header.Get(name); got != want {
					t.Errorf("GET %s: %s = %q, want %q", c.path, name, got, want)
				}
			}
		}
		r := mustRaw(t, admin, rawReq{method: "GET", path: "/admin/queues/api/queues/no-such-queue"})
		CheckError(t, r, http.StatusNotFound, "not_found")
		r = mustRaw(t, admin, rawReq{method: "GET", path: "/admin/queues/api/queues/no-such-queue/pending_tasks"})
		CheckError(t, r, http.StatusNotFound, "not_found")
		r = mustRaw(t, admin, rawReq{method: "GET", path: "/admin/queues/api/queues/operations"})
		Expect(t, r, http.StatusOK)
	})
}

// TestRateLimits holds the caps on failed logins per client address
// across emails and on signups, with Retry-After telling the real rest
// of the window, and checks that a forwarded client address from an
// untrusted peer does not escape them.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 0, Env: map[string]string{"SIGNUP_LIMIT": "4", "LOGIN_ADDRESS_LIMIT": "6"}})
	anon := e.Client(nil)
	retryAfter := func(r *Resp) int {
		n, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil {
			t.Errorf("429 without a numeric Retry-After: %q", r.Header.Get("Retry-After"))
		}
		return n
	}

	// Signups: four from this address, then 429 for an hour, whoever says
	// they forwarded it.
	var users []user
	for i := range 4 {
		users = append(users, e.signup(t, "Capped"+strconv.Itoa(i)))
	}
	for _, hdr := range []H{nil, {"X-Forwarded-For": "203.0.113.7"}} {
		r := anon.Must(t, "POST", "/api/signup", map[string]any{"name": "Five", "email": "five-" + randHex(3) + "@example.com",
			"password": "correct horse 5"}, hdr)
		CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
		if n := retryAfter(r); n <= 3000 || n > 3600 {
			t.Errorf("signup cap: Retry-After %d s, want the rest of the hour", n)
		}
	}

	// Logins: the per-email cap (10) answers with the rest of its 15
	// minutes, not a fixed minute.
	for range 10 {
		r := anon.Must(t, "POST", "/api/login", map[string]any{"email": users[0].Email, "password": "wrong password"}, nil)
		if r.Status == http.StatusTooManyRequests {
			break
		}
	}
	r := anon.Must(t, "POST", "/api/login", map[string]any{"email": users[0].Email, "password": users[0].Password}, nil)
	CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if n := retryAfter(r); n <= 60 || n > 900 {
		t.Errorf("login cap: Retry-After %d s, want the rest of the 15-minute window", n)
	}
	// The per-address cap (6 failures across emails, counted above
	// already) now refuses other emails too, right passwords included.
	r = anon.Must(t, "POST", "/api/login", map[string]any{"email": users[1].Email, "password": users[1].Password}, nil)
	CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	r = anon.Must(t, "POST", "/api/login", map[string]any{"email": users[1].Email, "password": users[1].Password},
		H{"X-Forwarded-For": "198.51.100.9"})
	CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
}

// TestTrustedProxy: behind a proxy in TRUSTED_PROXIES, its
// X-Forwarded-For names the client (each client address has its own
// signup cap) and its X-Forwarded-Proto and -Host the origin a browser
// saw (the CSRF check compares with them).
func TestTrustedProxy(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 0, Env: map[string]string{"TRUSTED_PROXIES": "127.0.0.1,::1", "SIGNUP_LIMIT": "1"}})
	anon := e.Client(nil)
	signup := func(from string) *Resp {
		return anon.Must(t, "POST", "/api/signup", map[string]any{"name": "P", "email": "p-" + randHex(4) + "@example.com",
			"password": "correct horse p"}, H{"X-Forwarded-For": from})
	}
	Expect(t, signup("203.0.113.1"), http.StatusCreated)
	CheckError(t, signup("203.0.113.1"), http.StatusTooManyRequests, "too_many_attempts")
	Expect(t, signup("203.0.113.2"), http.StatusCreated)

	u := e.signupFrom(t, "Proxied", "198.51.100.7")
	web, _ := loginCookie(t, e, u)
	r := web.Must(t, "POST", "/api/tokens", nil, H{"Origin": "https://wallet.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "wallet.example"})
	Expect(t, r, http.StatusCreated)
	r = web.Must(t, "POST", "/api/tokens", nil, H{"Origin": "https://evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "wallet.example"})
	CheckError(t, r, http.StatusForbidden, "csrf_failed")
}

// signupFrom is signup through a proxy that names the client address.
func (e *Env) signupFrom(t *testing.T, name, addr string) user {
	t.Helper()
	u := user{Name: name, Email: strings.ToLower(name) + "-" + randHex(3) + "@example.com", Password: "correct horse " + name}
	r := e.Client(nil).Must(t, "POST", "/api/signup", map[string]any{"name": u.Name, "email": u.Email, "password": u.Password},
		H{"X-Forwarded-For": addr})
	Expect(t, r, http.StatusCreated)
	u.UserID, u.WalletID = r.Str("user_id"), r.Str("wallet_id")
	return u
}
