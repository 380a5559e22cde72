package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file holds issue 3's hostile-input test and the helpers the access
// and session tests share: raw requests, and snapshots of the database
// and of wallets as the API shows them.

// ---- raw requests ----

// noContentType as rawReq.contentType sends a body without Content-Type.
const noContentType = "-"

// rawReq is a request sent exactly as given: Client.Do always labels a
// body as JSON and follows redirects of pages, which these tests must
// control.
type rawReq struct {
	method, path string
	body         []byte // nil: no body
	contentType  string // with a body: "" is application/json, noContentType none
	hdr          H
	noRedirect   bool // answer a redirect itself instead of following it
}

// sendRaw sends q with c's credentials and cookie jar.
func sendRaw(c *Client, q rawReq) (*Resp, error) {
	var rd io.Reader
	if q.body != nil {
		rd = bytes.NewReader(q.body)
	}
	req, err := http.NewRequest(q.method, c.base+q.path, rd)
	if err != nil {
		return nil, err
	}
	if q.body != nil {
		switch q.contentType {
		case "":
			req.Header.Set("Content-Type", "application/json")
		case noContentType:
		default:
			req.Header.Set("Content-Type", q.contentType)
		}
	}
	req.Header.Set("Accept", "application/json")
	if c.auth != nil {
		c.auth(req)
	}
	for k, v := range q.hdr {
		req.Header.Set(k, v)
	}
	hc := c.hc
	if q.noRedirect {
		cp := *c.hc
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		hc = &cp
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	path := q.path
	if len(path) > 120 {
		path = fmt.Sprintf("%s...(%d bytes)", path[:100], len(path))
	}
	r := &Resp{Method: q.method, Path: path, Status: resp.StatusCode, Header: resp.Header, Raw: raw, Cookies: resp.Cookies()}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err == nil {
			r.Body = m
		}
	}
	return r, nil
}

// mustRaw is sendRaw that fails the test on a transport error.
func mustRaw(t *testing.T, c *Client, q rawReq) *Resp {
	t.Helper()
	r, err := sendRaw(c, q)
	if err != nil {
		t.Fatalf("%s %.200s: %v", q.method, q.path, err)
	}
	return r
}

// jsonText marshals v, failing loudly on values that cannot be JSON.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// jsonObj writes a JSON object from key/raw-value pairs in order, so a
// test can put any text, valid JSON or not, in a field.
func jsonObj(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonText(kv[i]) + ":" + kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// basicHeader is an Authorization header for arbitrary Basic credentials
// bytes, including ones no well-behaved client would send.
func basicHeader(cred string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
}

// ---- snapshots ----

// dbState is a fingerprint of everything a refused request must leave
// alone: row counts and contents of the ledger's tables.
type dbState map[string]string

// openDB connects to the test's database; the connection is closed at
// the test's end.
func openDB(t *testing.T, e *Env) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL(e.DBName))
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// snapshotDB reads the fingerprint straight from the test's database. The
// queries also prove that the tables still exist.
func snapshotDB(t *testing.T, conn *pgx.Conn) dbState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	queries := map[string]string{
		"users":             `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(id::text || name || email || role, ',' ORDER BY id)), '') FROM users`,
		"wallets":           `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(id::text || kind || balance::text, ',' ORDER BY id)), '') FROM wallets`,
		"settlement_shards": `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(wallet_id::text || shard::text || balance::text, ',' ORDER BY wallet_id, shard)), '') FROM settlement_shards`,
		"operations":        `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(id::text || status || amount::text || details, ',' ORDER BY id)), '') FROM operations`,
		"entries":           `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(operation_id::text || wallet_id::text || amount::text, ',' ORDER BY id)), '') FROM entries`,
		"idempotency_keys":  `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(user_id::text || key, ',' ORDER BY user_id, key)), '') FROM idempotency_keys`,
		"held":              `SELECT coalesce(md5(string_agg(id::text || held::text, ',' ORDER BY id)), '') FROM wallets`,
		"holds":             `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(id::text || status || captured::text || released::text, ',' ORDER BY id)), '') FROM holds`,
		"payment_requests":  `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(id::text || status, ',' ORDER BY id)), '') FROM payment_requests`,
		"withdrawals":       `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(id::text || status, ',' ORDER BY id)), '') FROM withdrawals`,
		"banks":             `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(id::text || status, ',' ORDER BY id)), '') FROM banks`,
	}
	s := dbState{}
	for name, q := range queries {
		var v string
		if err := conn.QueryRow(ctx, q).Scan(&v); err != nil {
			t.Fatalf("snapshot %s: %v", name, err)
		}
		s[name] = v
	}
	return s
}

// countRows counts a table's rows in the test's database.
func countRows(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// settle waits until no operation is pending, so that the worker is done
// with whatever was accepted.
func settle(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM operations WHERE status = 'pending'`).Scan(&n); err != nil {
			t.Fatalf("count pending operations: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations still pending after 15s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// diffDB lists what changed between two snapshots.
func diffDB(before, after dbState) []string {
	var out []string
	for k, v := range before {
		if after[k] != v {
			out = append(out, fmt.Sprintf("%s: %q -> %q", k, v, after[k]))
		}
	}
	return out
}

// walletView is a wallet as its owner sees it through the API: balance,
// available and the ids of its operations, newest first.
func walletView(t *testing.T, c *Client) string {
	t.Helper()
	r := c.Must(t, "GET", "/api/wallet/operations?limit=100", nil, nil)
	Expect(t, r, http.StatusOK)
	ids := opIDs(t, r)
	w := c.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, w, http.StatusOK)
	return fmt.Sprintf("balance=%s available=%s ops=%s", w.Str("balance"), w.Str("available"), strings.Join(ids, ","))
}

// ---- the test ----

// hostileCase is one refused request: who sends what, and the 4xx it must
// get.
type hostileCase struct {
	name   string
	c      *Client
	req    rawReq
	status int    // 0: any 4xx
	code   string // "" with status 0: any code
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)

	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "100.00")
	anon := e.Client(nil)
	aliceAPI := e.Client(Basic(alice.Email, alice.Password))
	bobAPI := e.Client(Basic(bob.Email, bob.Password))
	bank := e.Client(Basic(bankEmail, bankPassword))
	r := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "10.00", "details": "seed"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	opAB := r.Str("operation_id")
	// A hold, a payment request and a withdrawal to aim at.
	r = aliceAPI.Must(t, "POST", "/api/holds", map[string]any{"wallet_id": bob.WalletID, "amount": "20.00"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	holdID := r.Str("hold_id")
	r = bobAPI.Must(t, "POST", "/api/payment_requests", map[string]any{"wallet_id": alice.WalletID, "amount": "1.00"}, nil)
	Expect(t, r, http.StatusCreated)
	requestID := r.Str("payment_request_id")
	r = e.Client(Basic(alice.Email, alice.Password)).Must(t, "GET", "/api/banks", nil, nil)
	bankID := r.Body["banks"].([]any)[0].(map[string]any)["bank_id"].(string)
	r = aliceAPI.Must(t, "POST", "/api/withdrawals", map[string]any{"bank_id": bankID, "amount": "5.00", "details": "IBAN"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	withdrawalID := r.Str("withdrawal_id")
	admin := e.Client(Basic(adminEmail, adminPassword))
	r = bank.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	settlement := r.Str("wallet_id")
	if settlement == "" || settlement == alice.WalletID {
		t.Fatalf("bank's wallet view: %s", r)
	}

	const sql = "'; DROP TABLE users; --"
	// Every refused sign-up names its own unused email, so that one
	// wrongly accepted cannot change the answers to the others; all must
	// be free afterwards.
	const emailSlot = "{{refused-email}}"
	refusedEmail := "refused-" + randHex(4) + "@example.com"
	var refusedEmails []string
	q := func(s string) string { return jsonText(s) }
	signupBody := func(name, email, password string) string {
		return jsonObj("name", name, "email", email, "password", password)
	}
	okName, okPass := q("Mallory"), q("correct horse battery")
	refused := q(emailSlot)
	transferBody := func(walletID, amount, details string) string {
		kv := []string{}
		if walletID != "" {
			kv = append(kv, "wallet_id", walletID)
		}
		if amount != "" {
			kv = append(kv, "amount", amount)
		}
		if details != "" {
			kv = append(kv, "details", details)
		}
		return jsonObj(kv...)
	}
	toB, toA := q(bob.WalletID), q(alice.WalletID)
	big := strings.Repeat("a", 70<<10)
	// A body of exactly the limit passes the size check and fails later.
	atLimit := func(walletID string) string {
		head := `{"wallet_id":` + q(walletID) + `,"amount":"1.00","details":"`
		tail := `"}`
		return head + strings.Repeat("b", 64<<10-len(head)-len(tail)) + tail
	}

	// nobody as a body sends none.
	const nobody = "\x00nobody"
	var cases []hostileCase
	add := func(name string, c *Client, method, path, body, ctype string, hdr H, status int, code string) {
		var b []byte
		if body != nobody {
			b = []byte(body)
		}
		if strings.Contains(body, emailSlot) {
			email := fmt.Sprintf("refused-%d-%s@example.com", len(refusedEmails), randHex(3))
			refusedEmails = append(refusedEmails, email)
			b = []byte(strings.ReplaceAll(body, emailSlot, email))
		}
		cases = append(cases, hostileCase{name: name, c: c, req: rawReq{method: method, path: path, body: b, contentType: ctype, hdr: hdr}, status: status, code: code})
	}

	// Bodies that are not one JSON object, for every endpoint that reads one.
	malformed := []struct{ name, body string }{
		{"malformed JSON", `{"name":`},
		{"not JSON", `{not json}`},
		{"bare NaN", `{"amount":NaN}`},
		{"trailing data", `{} {}`},
		{"trailing garbage", `{}x`},
		{"array", `[]`},
		{"string", `"hello"`},
		{"number", `42`},
		{"null", `null`},
		{"empty body", ``},
		{"whitespace body", "  \n "},
		{"invalid UTF-8 structure", "{\"\xff\":1}"},
	}
	bodyEndpoints := []struct {
		path string
		c    *Client
	}{
		{"/api/signup", anon},
		{"/api/login", anon},
		{"/api/external_to_wallet", bank},
		{"/api/wallet_to_wallet", aliceAPI},
	}
	for _, ep := range bodyEndpoints {
		for _, m := range malformed {
			add(ep.path+": "+m.name, ep.c, "POST", ep.path, m.body, "", nil, 400, "invalid_request")
		}
		// Wrong content types.
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "text/json", "application/jsonx", noContentType} {
			body := `{"email":"a@example.com","password":"x"}`
			switch ct {
			case "application/x-www-form-urlencoded":
				body = "email=a%40example.com&password=x&wallet_id=" + bob.WalletID + "&amount=1.00"
			case "multipart/form-data; boundary=x":
				body = "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@example.com\r\n--x--\r\n"
			}
			add(ep.path+": Content-Type "+ct, ep.c, "POST", ep.path, body, ct, nil, 415, "unsupported_media_type")
		}
		// Too big.
		add(ep.path+": body over 64 KiB", ep.c, "POST", ep.path, `{"name":"`+big+`"}`, "", nil, 413, "payload_too_large")
		add(ep.path+": body over 64 KiB without Content-Type", ep.c, "POST", ep.path, big, noContentType, nil, 413, "payload_too_large")
	}
	// Every other endpoint refuses oversized bodies too.
	for _, ep := range []struct{ method, path string }{
		{"POST", "/api/logout"}, {"POST", "/api/tokens"}, {"GET", "/api/wallet"},
		{"GET", "/api/wallet/operations"}, {"GET", "/api/operations/" + opAB}, {"GET", "/api/admin/audit"},
	} {
		add(ep.method+" "+ep.path+": body over 64 KiB", aliceAPI, ep.method, ep.path, `{"x":"`+big+`"}`, "", nil, 413, "payload_too_large")
	}
	// The limit is 64 KiB: exactly that much is read (and then refused for
	// its content), one byte more is not.
	add("transfer: body of exactly 64 KiB", aliceAPI, "POST", "/api/wallet_to_wallet", atLimit(bob.WalletID), "", nil, 400, "invalid_details")
	add("transfer: body of 64 KiB + 1", aliceAPI, "POST", "/api/wallet_to_wallet", atLimit(bob.WalletID)+" ", "", nil, 413, "payload_too_large")
	// Content-Type parameters and case do not matter: these pass the
	// media-type check and fail on the amount.
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		add("transfer: Content-Type "+ct+" is JSON", aliceAPI, "POST", "/api/wallet_to_wallet", transferBody(toB, `"0"`, ""), ct, nil, 400, "invalid_amount")
	}

	// ---- signup ----
	su := func(name, body string, status int, code string) {
		add("signup: "+name, anon, "POST", "/api/signup", body, "", nil, status, code)
	}
	su("name is an array", signupBody(`["Mallory"]`, refused, okPass), 400, "invalid_request")
	su("name is a number", signupBody(`42`, refused, okPass), 400, "invalid_request")
	su("name is an object", signupBody(`{}`, refused, okPass), 400, "invalid_request")
	su("email is a number", signupBody(okName, `12345`, okPass), 400, "invalid_request")
	su("email is an array", signupBody(okName, `[`+refused+`]`, okPass), 400, "invalid_request")
	su("password is a number", signupBody(okName, refused, `12345678`), 400, "invalid_request")
	su("password is true", signupBody(okName, refused, `true`), 400, "invalid_request")
	su("unknown field role", jsonObj("name", okName, "email", refused, "password", okPass, "role", q("admin")), 400, "invalid_request")
	su("unknown field user_id", jsonObj("name", okName, "email", refused, "password", okPass, "user_id", q("00000000-0000-4000-8000-000000000000")), 400, "invalid_request")
	su("unknown field wallet_id", jsonObj("name", okName, "email", refused, "password", okPass, "wallet_id", toA), 400, "invalid_request")
	su("missing name", jsonObj("email", refused, "password", okPass), 400, "invalid_name")
	su("missing email", jsonObj("name", okName, "password", okPass), 400, "invalid_email")
	su("missing password", jsonObj("name", okName, "email", refused), 400, "weak_password")
	su("empty object", `{}`, 400, "invalid_name")
	su("null name", signupBody(`null`, refused, okPass), 400, "invalid_name")
	for _, bad := range []struct{ name, text string }{
		{"NUL", "Mal\x00lory"},
		{"right-to-left override U+202E", "Mal\u202eyrol"},
		{"first strong isolate U+2068", "Mal\u2068lory"},
		{"newline", "Mal\nlory"},
		{"carriage return", "Mal\rlory"},
		{"tab", "Mal\tlory"},
		{"escape", "Mal\x1b[31mlory"},
		{"DEL", "Mal\x7flory"},
		{"C1 control U+0085", "Mal\u0085lory"},
		{"line separator U+2028", "Mal\u2028lory"},
	} {
		su("name with "+bad.name, signupBody(q(bad.text), refused, okPass), 400, "invalid_name")
		add("deposit: details with "+bad.name, bank, "POST", "/api/external_to_wallet", transferBody(toA, `"1.00"`, q(bad.text)), "", nil, 400, "invalid_details")
		add("transfer: details with "+bad.name, aliceAPI, "POST", "/api/wallet_to_wallet", transferBody(toB, `"1.00"`, q(bad.text)), "", nil, 400, "invalid_details")
	}
	su("empty name", signupBody(`""`, refused, okPass), 400, "invalid_name")
	su("blank name", signupBody(q("   "), refused, okPass), 400, "invalid_name")
	su("name of 101 characters", signupBody(q(strings.Repeat("n", 101)), refused, okPass), 400, "invalid_name")
	su("name of 101 Cyrillic characters", signupBody(q(strings.Repeat("ж", 101)), refused, okPass), 400, "invalid_name")
	su("name of 10000 characters", signupBody(q(strings.Repeat("n", 10000)), refused, okPass), 400, "invalid_name")
	longLocal := strings.Repeat("e", 300-len("@example.com"))
	su("email of 300 characters", signupBody(okName, q(longLocal+"@example.com"), okPass), 400, "invalid_email")
	su("email of 255 characters", signupBody(okName, q(strings.Repeat("e", 255-len("@example.com"))+"@example.com"), okPass), 400, "invalid_email")
	su("email is SQL", signupBody(okName, q(sql), okPass), 400, "invalid_email")
	su("email with SQL after it", signupBody(okName, q(refusedEmail+sql), okPass), 400, "invalid_email")
	su("email with NUL", signupBody(okName, q("refused\x00"+refusedEmail), okPass), 400, "invalid_email")
	su("email with newline inside", signupBody(okName, q("a\nb@example.com"), okPass), 400, "invalid_email")
	su("email with a display name", signupBody(okName, q("Mallory <"+refusedEmail+">"), okPass), 400, "invalid_email")
	su("email without @", signupBody(okName, q("mallory.example.com"), okPass), 400, "invalid_email")
	su("empty email", signupBody(okName, `""`, okPass), 400, "invalid_email")
	su("password of 7 characters", signupBody(okName, refused, q("1234567")), 400, "weak_password")
	su("empty password", signupBody(okName, refused, `""`), 400, "weak_password")
	su("password of 2000 bytes", signupBody(okName, refused, q(strings.Repeat("p", 2000))), 400, "weak_password")
	su("password of 1025 bytes", signupBody(okName, refused, q(strings.Repeat("p", 1025))), 400, "weak_password")
	su("email taken, in other case", signupBody(okName, q(strings.ToUpper(alice.Email)), okPass), 409, "email_taken")

	// ---- login ----
	li := func(name, body string, status int, code string) {
		add("login: "+name, anon, "POST", "/api/login", body, "", nil, status, code)
	}
	li("email is a number", jsonObj("email", `1`, "password", q(alice.Password)), 400, "invalid_request")
	li("password is true", jsonObj("email", q(alice.Email), "password", `true`), 400, "invalid_request")
	li("password is an object", jsonObj("email", q(alice.Email), "password", `{"$ne":null}`), 400, "invalid_request")
	li("unknown field", jsonObj("email", q(alice.Email), "password", q(alice.Password), "remember_me", `true`), 400, "invalid_request")
	li("email is SQL", jsonObj("email", q(sql), "password", q("whatever-password")), 401, "invalid_credentials")
	li("email is SQL tautology", jsonObj("email", q("' OR '1'='1"), "password", q("' OR '1'='1")), 401, "invalid_credentials")
	li("password is SQL", jsonObj("email", q(alice.Email), "password", q("' OR '1'='1' --")), 401, "invalid_credentials")
	li("email with NUL", jsonObj("email", q("alice\x00"+alice.Email), "password", q(alice.Password)), 401, "invalid_credentials")
	li("email of 300 characters", jsonObj("email", q(longLocal+"@example.com"), "password", q("whatever-password")), 401, "invalid_credentials")
	li("password of 2000 bytes", jsonObj("email", q(alice.Email), "password", q(strings.Repeat("p", 2000))), 401, "invalid_credentials")
	li("empty email and password", jsonObj("email", `""`, "password", `""`), 401, "invalid_credentials")

	// ---- credentials in headers, on the endpoints without a body ----
	badAuth := []struct{ name, header string }{
		{"Basic not base64", "Basic !!!not-base64!!!"},
		{"Basic without colon", basicHeader("nocolon")},
		{"Basic empty credentials", basicHeader(":")},
		{"Basic with SQL email", basicHeader(sql + ":" + alice.Password)},
		{"Basic with NUL in email", basicHeader("alice\x00" + alice.Email + ":" + alice.Password)},
		{"Basic with invalid UTF-8 email", basicHeader("\xff\xfe" + alice.Email + ":" + alice.Password)},
		{"Basic with email of 300 characters", basicHeader(longLocal + "@example.com:whatever-password")},
		{"Basic with password of 2000 bytes", basicHeader(alice.Email + ":" + strings.Repeat("p", 2000))},
		{"Basic scheme alone", "Basic"},
		{"Bearer empty", "Bearer "},
		{"Bearer SQL", "Bearer ' OR 1=1 --"},
		{"Bearer of 3000 characters", "Bearer " + strings.Repeat("t", 3000)},
		{"unknown scheme", "Digest username=\"alice\""},
	}
	for _, ep := range []struct{ method, path string }{{"POST", "/api/tokens"}, {"POST", "/api/logout"}, {"GET", "/api/wallet"}} {
		for _, a := range badAuth {
			add(ep.method+" "+ep.path+": "+a.name, anon, ep.method, ep.path, nobody, "", H{"Authorization": a.header}, 401, "unauthorized")
		}
		add(ep.method+" "+ep.path+": cookie is SQL", anon, ep.method, ep.path, nobody, "", H{"Cookie": "wallet_session=' OR 1=1 --"}, 401, "unauthorized")
		add(ep.method+" "+ep.path+": cookie of 3000 characters", anon, ep.method, ep.path, nobody, "", H{"Cookie": "wallet_session=" + strings.Repeat("c", 3000)}, 401, "unauthorized")
	}
	// Headers too big to read at all still get a JSON 4xx, not a 5xx.
	add("GET /api/wallet: Authorization header of 16 KiB", anon, "GET", "/api/wallet", nobody, "", H{"Authorization": "Bearer " + strings.Repeat("t", 16<<10)}, 0, "")
	add("GET /api/operations/{id}: id of 16 KiB", aliceAPI, "GET", "/api/operations/"+strings.Repeat("9", 16<<10), nobody, "", nil, 0, "")

	// ---- deposits and transfers ----
	type opEP struct {
		label, path string
		c           *Client
		to          string // a valid recipient
		details     string // valid details
	}
	opEPs := []opEP{
		{"deposit", "/api/external_to_wallet", bank, toA, q("top-up")},
		{"transfer", "/api/wallet_to_wallet", aliceAPI, toB, ""},
	}
	badAmounts := []struct{ name, raw string }{
		{"0", `"0"`}, {"number 0", `0`}, {"0.00", `"0.00"`}, {"-1", `"-1"`}, {"number -1", `-1`}, {"-0.01", `"-0.01"`},
		{"1e3", `"1e3"`}, {"number 1e3", `1e3`}, {"number 1E2", `1E2`}, {"number 1e-2", `1e-2`},
		{"NaN", `"NaN"`}, {"Infinity", `"Infinity"`}, {"-Infinity", `"-Infinity"`},
		{"1.001", `"1.001"`}, {"number 1.001", `1.001`}, {"0.001", `"0.001"`},
		{"huge", `"99999999999999999999999999999"`}, {"number huge", `99999999999999999999999999999`},
		{"1,5", `"1,5"`}, {"leading space", `" 1"`}, {"trailing space", `"1 "`}, {"plus sign", `"+1"`},
		{"hex", `"0x10"`}, {"trailing dot", `"1."`}, {"leading dot", `".5"`}, {"empty string", `""`},
		{"fullwidth digit", `"１"`}, {"Arabic-Indic digit", `"١"`}, {"with NUL", `"1.00\u0000"`}, {"SQL", q("1; " + sql)},
		{"true", `true`}, {"false", `false`}, {"null", `null`}, {"object", `{}`}, {"object with value", `{"value":"1.00"}`},
		{"array", `[]`}, {"array with amount", `["1.00"]`},
		{"over MAX_AMOUNT", `"1000000.01"`}, {"number over MAX_AMOUNT", `1000000.01`}, {"far over MAX_AMOUNT", `"1000001"`},
	}
	for _, ep := range opEPs {
		op := func(name, body string, hdr H, status int, code string) {
			add(ep.label+": "+name, ep.c, "POST", ep.path, body, "", hdr, status, code)
		}
		for _, a := range badAmounts {
			op("amount "+a.name, transferBody(ep.to, a.raw, ep.details), nil, 400, "invalid_amount")
		}
		op("missing amount", transferBody(ep.to, "", ep.details), nil, 400, "invalid_amount")
		op("wallet_id is a number", transferBody(`12345`, `"1.00"`, ep.details), nil, 400, "invalid_request")
		op("wallet_id is true", transferBody(`true`, `"1.00"`, ep.details), nil, 400, "invalid_request")
		op("wallet_id is an object", transferBody(`{"id":`+ep.to+`}`, `"1.00"`, ep.details), nil, 400, "invalid_request")
		op("wallet_id is an array", transferBody(`[`+ep.to+`]`, `"1.00"`, ep.details), nil, 400, "invalid_request")
		op("details is a number", transferBody(ep.to, `"1.00"`, `42`), nil, 400, "invalid_request")
		op("details is an array", transferBody(ep.to, `"1.00"`, `["x"]`), nil, 400, "invalid_request")
		op("details is true", transferBody(ep.to, `"1.00"`, `true`), nil, 400, "invalid_request")
		op("unknown field from_wallet_id", jsonObj("wallet_id", ep.to, "amount", `"1.00"`, "details", q("x"), "from_wallet_id", toB), nil, 400, "invalid_request")
		op("unknown field status", jsonObj("wallet_id", ep.to, "amount", `"1.00"`, "details", q("x"), "status", q("completed")), nil, 400, "invalid_request")
		op("unknown field currency", jsonObj("wallet_id", ep.to, "amount", `"1.00"`, "details", q("x"), "currency", q("USD")), nil, 400, "invalid_request")
		op("missing wallet_id", transferBody("", `"1.00"`, ep.details), nil, 400, "invalid_wallet_id")
		op("null wallet_id", transferBody(`null`, `"1.00"`, ep.details), nil, 400, "invalid_wallet_id")
		op("empty wallet_id", transferBody(`""`, `"1.00"`, ep.details), nil, 400, "invalid_wallet_id")
		for _, w := range []struct{ name, id string }{
			{"not a uuid", "not-a-uuid"},
			{"SQL", sql},
			{"SQL tautology", "' OR '1'='1"},
			{"uuid with SQL after it", alice.WalletID + "' OR '1'='1"},
			{"of 300 characters", strings.Repeat("f", 300)},
			{"with NUL", "\x00" + alice.WalletID},
			{"unknown uuid", "00000000-0000-4000-8000-000000000001"},
			{"nil uuid", "00000000-0000-0000-0000-000000000000"},
			{"the bank's settlement account", settlement},
			{"an operation id", opAB},
			{"a user id", alice.UserID},
		} {
			op("wallet_id "+w.name, transferBody(q(w.id), `"1.00"`, ep.details), nil, 404, "wallet_not_found")
		}
		op("details of 501 characters", transferBody(ep.to, `"1.00"`, q(strings.Repeat("d", 501))), nil, 400, "invalid_details")
		op("details of 501 Cyrillic characters", transferBody(ep.to, `"1.00"`, q(strings.Repeat("д", 501))), nil, 400, "invalid_details")
		op("Idempotency-Key of 256 characters", transferBody(ep.to, `"1.00"`, ep.details), H{"Idempotency-Key": strings.Repeat("k", 256)}, 400, "invalid_idempotency_key")
		op("Idempotency-Key not ASCII", transferBody(ep.to, `"1.00"`, ep.details), H{"Idempotency-Key": "ключ"}, 400, "invalid_idempotency_key")
		op("Idempotency-Key with a tab", transferBody(ep.to, `"1.00"`, ep.details), H{"Idempotency-Key": "a\tb"}, 400, "invalid_idempotency_key")
		op("Idempotency-Key is SQL, amount bad", transferBody(ep.to, `"-1"`, ep.details), H{"Idempotency-Key": sql}, 400, "invalid_amount")
	}
	add("deposit: missing details", bank, "POST", "/api/external_to_wallet", transferBody(toA, `"1.00"`, ""), "", nil, 400, "invalid_details")
	add("deposit: null details", bank, "POST", "/api/external_to_wallet", transferBody(toA, `"1.00"`, `null`), "", nil, 400, "invalid_details")
	add("deposit: empty details", bank, "POST", "/api/external_to_wallet", transferBody(toA, `"1.00"`, `""`), "", nil, 400, "invalid_details")
	add("transfer: to oneself", aliceAPI, "POST", "/api/wallet_to_wallet", transferBody(toA, `"1.00"`, ""), "", nil, 422, "same_wallet")
	add("transfer: more than the balance", aliceAPI, "POST", "/api/wallet_to_wallet", transferBody(toB, `"90.01"`, ""), "", nil, 422, "insufficient_funds")
	add("transfer: MAX_AMOUNT exactly, more than the balance", aliceAPI, "POST", "/api/wallet_to_wallet", transferBody(toB, `"1000000.00"`, ""), "", nil, 422, "insufficient_funds")

	// ---- listings ----
	for _, l := range []string{"0", "-1", "101", "abc", "1.5", "1e2", "%201", "99999999999999999999", "10;DROP", url.QueryEscape(sql)} {
		add("operations: limit="+l, aliceAPI, "GET", "/api/wallet/operations?limit="+l, nobody, "", nil, 400, "invalid_limit")
	}
	for _, c := range []string{
		"not-a-cursor", url.QueryEscape(sql), strings.Repeat("A", 3000), "%00",
		base64.RawURLEncoding.EncodeToString([]byte(sql)),
		base64.RawURLEncoding.EncodeToString([]byte("00000000-0000-4000-8000-000000000000' OR '1'='1")),
		opAB, // a raw operation id is not a cursor this API gives out
	} {
		name := c
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		add("operations: cursor="+name, aliceAPI, "GET", "/api/wallet/operations?cursor="+c, nobody, "", nil, 400, "invalid_cursor")
	}

	// ---- one operation ----
	for _, id := range []struct{ name, path string }{
		{"garbage id", "not-an-id"},
		{"SQL id", url.PathEscape(sql)},
		{"SQL tautology id", url.PathEscape(opAB + "' OR '1'='1")},
		{"encoded traversal to /api/wallet", "%2e%2e%2fwallet"},
		{"encoded traversal to the audit", "..%2F..%2Fapi%2Fadmin%2Faudit"},
		{"NUL id", "%00"},
		{"id of 3000 characters", strings.Repeat("9", 3000)},
		{"unknown uuid", "00000000-0000-4000-8000-000000000000"},
		{"a wallet id", alice.WalletID},
	} {
		add("operation: "+id.name, aliceAPI, "GET", "/api/operations/"+id.path, nobody, "", nil, 404, "operation_not_found")
	}
	for _, w := range []string{"abc", "-1", "1.5", "1e1", "%20", "99999999999999999999", url.QueryEscape(sql)} {
		add("operation: ?wait="+w, aliceAPI, "GET", "/api/operations/"+opAB+"?wait="+w, nobody, "", nil, 400, "invalid_request")
	}

	// ---- holds, payment requests, withdrawals, banks ----
	holdBody := func(walletID, amount, expires string) string {
		kv := []string{"wallet_id", walletID, "amount", amount}
		if expires != "" {
			kv = append(kv, "expires_in", expires)
		}
		return jsonObj(kv...)
	}
	for _, a := range badAmounts {
		add("hold: amount "+a.name, aliceAPI, "POST", "/api/holds", holdBody(toB, a.raw, ""), "", nil, 400, "invalid_amount")
		add("payment request: amount "+a.name, bobAPI, "POST", "/api/payment_requests", holdBody(toA, a.raw, ""), "", nil, 400, "invalid_amount")
		add("withdrawal: amount "+a.name, aliceAPI, "POST", "/api/withdrawals", jsonObj("bank_id", q(bankID), "amount", a.raw, "details", q("IBAN")), "", nil, 400, "invalid_amount")
		if a.raw != `null` {
			add("capture: amount "+a.name, bobAPI, "POST", "/api/holds/"+holdID+"/capture", jsonObj("amount", a.raw), "", nil, 400, "invalid_amount")
		}
	}
	for _, x := range []string{`0`, `-1`, `2592001`, `"60"`, `1.5`, `1e3`, `true`, `[]`, `{}`, `99999999999999999999`, `""`} {
		add("hold: expires_in "+x, aliceAPI, "POST", "/api/holds", holdBody(toB, `"1.00"`, x), "", nil, 400, "invalid_expiry")
		add("payment request: expires_in "+x, bobAPI, "POST", "/api/payment_requests", holdBody(toA, `"1.00"`, x), "", nil, 400, "invalid_expiry")
	}
	for _, w := range []struct{ name, id string }{{"not a uuid", "x"}, {"SQL", sql}, {"unknown", "00000000-0000-4000-8000-000000000001"},
		{"the settlement account", settlement}, {"a hold id", holdID}} {
		add("hold: wallet_id "+w.name, aliceAPI, "POST", "/api/holds", holdBody(q(w.id), `"1.00"`, ""), "", nil, 404, "wallet_not_found")
		add("payment request: wallet_id "+w.name, bobAPI, "POST", "/api/payment_requests", holdBody(q(w.id), `"1.00"`, ""), "", nil, 404, "wallet_not_found")
	}
	add("hold: to oneself", aliceAPI, "POST", "/api/holds", holdBody(toA, `"1.00"`, ""), "", nil, 422, "same_wallet")
	add("hold: more than available", aliceAPI, "POST", "/api/holds", holdBody(toB, `"70.01"`, ""), "", nil, 422, "insufficient_funds")
	add("hold: amount twice", aliceAPI, "POST", "/api/holds", `{"wallet_id":`+toB+`,"amount":"0.01","amount":"50"}`, "", nil, 400, "invalid_request")
	add("hold: Amount in another case", aliceAPI, "POST", "/api/holds", `{"wallet_id":`+toB+`,"Amount":"50"}`, "", nil, 400, "invalid_request")
	add("hold: unknown field", aliceAPI, "POST", "/api/holds", jsonObj("wallet_id", toB, "amount", `"1"`, "captured", `"1"`), "", nil, 400, "invalid_request")
	add("hold: not JSON", aliceAPI, "POST", "/api/holds", "wallet_id=x", "application/x-www-form-urlencoded", nil, 415, "unsupported_media_type")
	add("capture: final is a string", bobAPI, "POST", "/api/holds/"+holdID+"/capture", jsonObj("final", `"true"`), "", nil, 400, "invalid_request")
	add("capture: unknown field", bobAPI, "POST", "/api/holds/"+holdID+"/capture", jsonObj("amount", `"1"`, "to", toB), "", nil, 400, "invalid_request")
	add("capture: more than the hold", bobAPI, "POST", "/api/holds/"+holdID+"/capture", jsonObj("amount", `"20.01"`), "", nil, 422, "capture_exceeds_hold")
	add("capture: an array body", bobAPI, "POST", "/api/holds/"+holdID+"/capture", `[]`, "", nil, 400, "invalid_request")
	add("capture: a form body", bobAPI, "POST", "/api/holds/"+holdID+"/capture", "amount=1", "application/x-www-form-urlencoded", nil, 415, "unsupported_media_type")
	add("void: a field", bobAPI, "POST", "/api/holds/"+holdID+"/void", jsonObj("amount", `"1"`), "", nil, 400, "invalid_request")
	for _, id := range []struct{ name, path string }{{"garbage", "x"}, {"SQL", url.PathEscape(sql)}, {"unknown", "00000000-0000-4000-8000-000000000002"},
		{"an operation id", opAB}, {"of 3000 characters", strings.Repeat("9", 3000)}} {
		add("hold "+id.name, bobAPI, "GET", "/api/holds/"+id.path, nobody, "", nil, 404, "hold_not_found")
		add("capture hold "+id.name, bobAPI, "POST", "/api/holds/"+id.path+"/capture", nobody, "", nil, 404, "hold_not_found")
		add("void hold "+id.name, bobAPI, "POST", "/api/holds/"+id.path+"/void", nobody, "", nil, 404, "hold_not_found")
		add("payment request "+id.name, aliceAPI, "GET", "/api/payment_requests/"+id.path, nobody, "", nil, 404, "payment_request_not_found")
		add("approve request "+id.name, aliceAPI, "POST", "/api/payment_requests/"+id.path+"/approve", nobody, "", nil, 404, "payment_request_not_found")
		add("decline request "+id.name, aliceAPI, "POST", "/api/payment_requests/"+id.path+"/decline", nobody, "", nil, 404, "payment_request_not_found")
		add("withdrawal "+id.name, aliceAPI, "GET", "/api/withdrawals/"+id.path, nobody, "", nil, 404, "withdrawal_not_found")
		add("cancel withdrawal "+id.name, aliceAPI, "POST", "/api/withdrawals/"+id.path+"/cancel", nobody, "", nil, 404, "withdrawal_not_found")
		add("complete withdrawal "+id.name, bank, "POST", "/api/withdrawals/"+id.path+"/complete", nobody, "", nil, 404, "withdrawal_not_found")
		add("processing withdrawal "+id.name, bank, "POST", "/api/withdrawals/"+id.path+"/processing", nobody, "", nil, 404, "withdrawal_not_found")
	}
	add("decline: reason of 501 characters", aliceAPI, "POST", "/api/payment_requests/"+requestID+"/decline", jsonObj("reason", q(strings.Repeat("r", 501))), "", nil, 400, "invalid_details")
	add("decline: reason is a number", aliceAPI, "POST", "/api/payment_requests/"+requestID+"/decline", jsonObj("reason", `5`), "", nil, 400, "invalid_request")
	add("decline: reason with a control character", aliceAPI, "POST", "/api/payment_requests/"+requestID+"/decline", jsonObj("reason", q("a\u0007b")), "", nil, 400, "invalid_details")
	add("approve: a field", aliceAPI, "POST", "/api/payment_requests/"+requestID+"/approve", jsonObj("amount", `"99"`), "", nil, 400, "invalid_request")
	for _, b := range []struct{ name, id string }{{"garbage", "x"}, {"SQL", sql}, {"a user's id", alice.UserID}, {"a wallet id", alice.WalletID},
		{"the settlement account", settlement}, {"unknown", "00000000-0000-4000-8000-000000000003"}} {
		add("withdrawal: bank_id "+b.name, aliceAPI, "POST", "/api/withdrawals", jsonObj("bank_id", q(b.id), "amount", `"1"`, "details", q("IBAN")), "", nil, 404, "bank_not_found")
	}
	add("withdrawal: no bank_id", aliceAPI, "POST", "/api/withdrawals", jsonObj("amount", `"1"`, "details", q("IBAN")), "", nil, 400, "invalid_request")
	add("withdrawal: no details", aliceAPI, "POST", "/api/withdrawals", jsonObj("bank_id", q(bankID), "amount", `"1"`), "", nil, 400, "invalid_details")
	add("withdrawal: details with a newline", aliceAPI, "POST", "/api/withdrawals", jsonObj("bank_id", q(bankID), "amount", `"1"`, "details", q("a\nb")), "", nil, 400, "invalid_details")
	add("withdrawal: more than available", aliceAPI, "POST", "/api/withdrawals", jsonObj("bank_id", q(bankID), "amount", `"70.01"`, "details", q("IBAN")), "", nil, 422, "insufficient_funds")
	add("withdrawal: bank_id twice", aliceAPI, "POST", "/api/withdrawals", `{"bank_id":`+q(bankID)+`,"bank_id":"x","amount":"1","details":"d"}`, "", nil, 400, "invalid_request")
	add("complete: reference is a number", bank, "POST", "/api/withdrawals/"+withdrawalID+"/complete", jsonObj("reference", `7`), "", nil, 400, "invalid_request")
	add("complete: a reason", bank, "POST", "/api/withdrawals/"+withdrawalID+"/complete", jsonObj("reason", q("x")), "", nil, 400, "invalid_request")
	add("fail: no reason", bank, "POST", "/api/withdrawals/"+withdrawalID+"/fail", jsonObj(), "", nil, 400, "invalid_details")
	add("fail: reason of 501 characters", bank, "POST", "/api/withdrawals/"+withdrawalID+"/fail", jsonObj("reason", q(strings.Repeat("r", 501))), "", nil, 400, "invalid_details")
	add("fail: a reference", bank, "POST", "/api/withdrawals/"+withdrawalID+"/fail", jsonObj("reason", q("x"), "reference", q("y")), "", nil, 400, "invalid_request")
	add("cancel: a field", aliceAPI, "POST", "/api/withdrawals/"+withdrawalID+"/cancel", jsonObj("reason", q("x")), "", nil, 400, "invalid_request")
	add("new bank: bad email", admin, "POST", "/api/admin/banks", signupBody(q("B"), q("not-an-email"), okPass), "", nil, 400, "invalid_email")
	add("new bank: weak password", admin, "POST", "/api/admin/banks", signupBody(q("B"), q("b-"+randHex(3)+"@bank.example"), q("short")), "", nil, 400, "weak_password")
	add("new bank: no name", admin, "POST", "/api/admin/banks", signupBody(`""`, q("b-"+randHex(3)+"@bank.example"), okPass), "", nil, 400, "invalid_name")
	add("new bank: the bank's email", admin, "POST", "/api/admin/banks", signupBody(q("B"), q(bankEmail), okPass), "", nil, 409, "email_taken")
	add("new bank: unknown field", admin, "POST", "/api/admin/banks", jsonObj("name", q("B"), "email", q("b@bank.example"), "password", okPass, "status", q("active")), "", nil, 400, "invalid_request")
	add("disable bank: garbage id", admin, "POST", "/api/admin/banks/"+url.PathEscape(sql)+"/disable", nobody, "", nil, 404, "bank_not_found")
	for _, list := range []string{"/api/holds", "/api/payment_requests", "/api/withdrawals"} {
		add(list+": limit=0", aliceAPI, "GET", list+"?limit=0", nobody, "", nil, 400, "invalid_limit")
		add(list+": cursor=garbage", aliceAPI, "GET", list+"?cursor=x", nobody, "", nil, 400, "invalid_cursor")
		add(list+": status=gone", aliceAPI, "GET", list+"?status=gone", nobody, "", nil, 400, "invalid_request")
	}
	add("holds: role=owner", aliceAPI, "GET", "/api/holds?role=owner", nobody, "", nil, 400, "invalid_request")
	add("payment requests: direction=sideways", aliceAPI, "GET", "/api/payment_requests?direction=sideways", nobody, "", nil, 400, "invalid_request")

	// Everything above is refused; nothing it sends may change the ledger,
	// which is checked after every request so that a change is pinned on
	// the request that made it.
	waitFinal(t, aliceAPI, opAB, 30*time.Second)
	db := openDB(t, e)
	dbBefore := snapshotDB(t, db)
	viewsBefore := []string{walletView(t, aliceAPI), walletView(t, bobAPI), walletView(t, bank)}

	baseline := dbBefore
	failed, changed := 0, 0
	for _, tc := range cases {
		r, err := sendRaw(tc.c, tc.req)
		// A server that answers before reading a big request and closes
		// the connection can make the client fail writing the rest; the
		// answer is what matters, so try again a few times.
		for i := 0; err != nil && i < 5; i++ {
			time.Sleep(20 * time.Millisecond)
			r, err = sendRaw(tc.c, tc.req)
		}
		var problem error
		switch {
		case err != nil:
			problem = err
		case tc.status == 0 && (r.Status < 400 || r.Status > 499):
			problem = fmt.Errorf("want a 4xx: %s", r)
		case tc.status == 0:
			problem = errorShape(r, r.Status, "")
		default:
			problem = errorShape(r, tc.status, tc.code)
		}
		if problem == nil && r.Status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
			problem = fmt.Errorf("401 without WWW-Authenticate: %s", r)
		}
		if problem == nil {
			for _, ck := range r.Cookies {
				if ck.Name == "wallet_session" && ck.Value != "" {
					problem = fmt.Errorf("a refused request got a session cookie: %s", r)
				}
			}
		}
		if problem != nil {
			failed++
			t.Errorf("%s: %v", tc.name, problem)
		}
		if d := diffDB(baseline, snapshotDB(t, db)); len(d) > 0 {
			changed++
			t.Errorf("%s: changed the database: %s", tc.name, strings.Join(d, "; "))
			settle(t, db)
			baseline = snapshotDB(t, db)
		}
	}
	t.Logf("%d hostile requests: %d answered wrongly, %d changed the database", len(cases), failed, changed)

	// The API keeps answering, the ledger is as it was, and the emails of
	// the refused sign-ups are still free.
	Expect(t, anon.Must(t, "GET", "/readyz", nil, nil), http.StatusOK)
	if changed == 0 {
		if d := diffDB(dbBefore, snapshotDB(t, db)); len(d) > 0 {
			t.Errorf("refused requests changed the database:\n%s", strings.Join(d, "\n"))
		}
		viewsAfter := []string{walletView(t, aliceAPI), walletView(t, bobAPI), walletView(t, bank)}
		for i, who := range []string{"Alice", "Bob", "the bank"} {
			if viewsAfter[i] != viewsBefore[i] {
				t.Errorf("refused requests changed %s's wallet:\nbefore %s\nafter  %s", who, viewsBefore[i], viewsAfter[i])
			}
		}
		for _, email := range refusedEmails {
			r = anon.Must(t, "POST", "/api/signup", map[string]any{"name": "Mallory", "email": email, "password": "correct horse battery"}, nil)
			if r.Status != http.StatusCreated {
				t.Errorf("the email of a refused sign-up is no longer free: %s", r)
			}
		}
	}

	t.Run("ordinary text is kept verbatim", func(t *testing.T) {
		users := countRows(t, db, "users")
		ops := countRows(t, db, "operations")

		// Unicode, HTML and SQL are just text in a name and a valid email.
		name := "Ёжик 👨‍👩‍👧 مرحبا <b>" + sql
		email := "o'brien+drop--" + randHex(3) + "@example.com"
		r := anon.Must(t, "POST", "/api/signup", map[string]any{"name": name, "email": email, "password": sql + sql}, nil)
		Expect(t, r, http.StatusCreated)
		if r.Str("name") != name || r.Str("email") != email {
			t.Errorf("signup changed the name or email: %s", r)
		}
		r = anon.Must(t, "POST", "/api/login", map[string]any{"email": strings.ToUpper(email), "password": sql + sql}, nil)
		Expect(t, r, http.StatusOK)
		if r.Str("name") != name || r.Str("email") != email {
			t.Errorf("login shows another name or email: %s", r)
		}
		// The longest name allowed, in two-byte characters.
		long := strings.Repeat("ж", 100)
		r = anon.Must(t, "POST", "/api/signup", map[string]any{"name": long, "email": "long-" + randHex(3) + "@example.com", "password": "correct horse"}, nil)
		Expect(t, r, http.StatusCreated)
		if r.Str("name") != long {
			t.Errorf("a 100-character name was changed: %s", r)
		}

		// Details and an Idempotency-Key with SQL in them.
		details := "Привет 👋 👨‍👩‍👧 ❤️ <script>alert(1)</script> " + sql
		key := "'; DROP TABLE idempotency_keys; --"
		body := map[string]any{"wallet_id": bob.WalletID, "amount": "1.00", "details": details}
		first := aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": key, "Prefer": "wait=10"})
		Expect(t, first, http.StatusOK)
		checkOp(t, first, opWant{status: "completed", amount: "1.00", details: details})
		r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body, H{"Idempotency-Key": key})
		Expect(t, r, http.StatusOK)
		if r.Str("operation_id") != first.Str("operation_id") || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("a key with SQL in it did not replay: %s", r)
		}
		r = bobAPI.Must(t, "GET", "/api/operations/"+first.Str("operation_id"), nil, nil)
		Expect(t, r, http.StatusOK)
		if r.Str("details") != details {
			t.Errorf("details changed on the way: %s", r)
		}
		// The longest details allowed, in two-byte characters, by the bank.
		longDetails := strings.Repeat("я", 500)
		r = bank.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": alice.WalletID, "amount": "1.00", "details": longDetails}, H{"Prefer": "wait=10"})
		Expect(t, r, http.StatusOK)
		checkOp(t, r, opWant{status: "completed", details: longDetails})

		if got := countRows(t, db, "users"); got != users+2 {
			t.Errorf("users: %d rows, want %d", got, users+2)
		}
		if got := countRows(t, db, "operations"); got != ops+2 {
			t.Errorf("operations: %d rows, want %d", got, ops+2)
		}
		if got := countRows(t, db, "idempotency_keys"); got != 1 {
			t.Errorf("idempotency_keys: %d rows, want 1", got)
		}
	})
}
