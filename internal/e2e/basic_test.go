package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// opWant is what an operation in an answer must say; empty fields are not
// checked.
type opWant struct {
	status, amount, from, to, balanceAfter, details string
}

// checkOp checks an operation object against the contract's shape and want.
func checkOp(t *testing.T, r *Resp, want opWant) {
	t.Helper()
	b := r.Body
	if b == nil {
		t.Fatalf("not an operation: %s", r)
	}
	if r.Str("operation_id") == "" || r.Str("type") == "" {
		t.Errorf("operation lacks operation_id or type: %s", r)
	}
	status := r.Str("status")
	switch status {
	case "pending", "completed", "failed":
	default:
		t.Errorf("operation status %q is not pending/completed/failed: %s", status, r)
	}
	if want.status != "" && status != want.status {
		t.Errorf("want status %q: %s", want.status, r)
	}
	if r.Str("currency") != "RUB" {
		t.Errorf("want currency RUB: %s", r)
	}
	if _, err := cents(r.Str("amount")); err != nil {
		t.Errorf("%v: %s", err, r)
	}
	if want.amount != "" && r.Str("amount") != want.amount {
		t.Errorf("want amount %q: %s", want.amount, r)
	}
	if want.from != "" && r.Str("from_wallet_id") != want.from {
		t.Errorf("want from_wallet_id %q: %s", want.from, r)
	}
	if want.to != "" && r.Str("to_wallet_id") != want.to {
		t.Errorf("want to_wallet_id %q: %s", want.to, r)
	}
	if want.details != "" && r.Str("details") != want.details {
		t.Errorf("want details %q: %s", want.details, r)
	}
	if _, err := time.Parse(time.RFC3339, r.Str("created_at")); err != nil {
		t.Errorf("created_at is not an RFC 3339 time: %s", r)
	}
	_, hasCompletedAt := b["completed_at"]
	if hasCompletedAt && b["completed_at"] == nil {
		hasCompletedAt = false
	}
	if isFinal(status) {
		if _, err := time.Parse(time.RFC3339, r.Str("completed_at")); err != nil {
			t.Errorf("a final operation needs completed_at: %s", r)
		}
	} else if hasCompletedAt {
		t.Errorf("a pending operation has completed_at: %s", r)
	}
	if status == "failed" && r.Str("failure_code") == "" {
		t.Errorf("a failed operation must name its failure_code: %s", r)
	}
	if status != "failed" && r.Str("failure_code") != "" {
		t.Errorf("only a failed operation has a failure_code: %s", r)
	}
	if want.balanceAfter != "" && r.Str("balance_after") != want.balanceAfter {
		t.Errorf("want balance_after %q: %s", want.balanceAfter, r)
	}
}

// opIDs returns the operation ids of an "operations" array in the body.
func opIDs(t *testing.T, r *Resp) []string {
	t.Helper()
	list, ok := r.Body["operations"].([]any)
	if !ok {
		t.Fatalf("answer has no operations array: %s", r)
	}
	var ids []string
	for _, o := range list {
		m, _ := o.(map[string]any)
		id, _ := m["operation_id"].(string)
		if id == "" {
			t.Fatalf("operation without operation_id in list: %s", r)
		}
		ids = append(ids, id)
	}
	return ids
}

// nextCursor returns next_cursor, "" when it is null, absent or empty.
func nextCursor(t *testing.T, r *Resp) string {
	t.Helper()
	switch c := r.Body["next_cursor"].(type) {
	case nil:
		return ""
	case string:
		return c
	default:
		t.Fatalf("next_cursor is neither a string nor null: %s", r)
		return ""
	}
}

func sameIDs(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestBasicScenario(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	anon := e.Client(nil)

	// Probes and metrics.
	Expect(t, anon.Must(t, "GET", "/healthz", nil, nil), http.StatusOK)
	Expect(t, anon.Must(t, "GET", "/readyz", nil, nil), http.StatusOK)
	m := anon.Must(t, "GET", "/metrics", nil, nil)
	Expect(t, m, http.StatusOK)
	if !strings.Contains(string(m.Raw), "# TYPE") {
		t.Errorf("/metrics is not Prometheus text: %.300s", m.Raw)
	}

	// Sign-up.
	alice := user{Name: "Alice", Email: "alice@example.com", Password: "alice-password"}
	r := anon.Must(t, "POST", "/api/signup", map[string]any{"name": "Alice", "email": alice.Email, "password": "short77"}, nil)
	CheckError(t, r, http.StatusBadRequest, "weak_password")
	r = anon.Must(t, "POST", "/api/signup", map[string]any{"name": "Alice", "email": "not-an-email", "password": alice.Password}, nil)
	CheckError(t, r, http.StatusBadRequest, "invalid_email")
	// Refused sign-ups stored nothing: the email is still free.
	r = anon.Must(t, "POST", "/api/signup", map[string]any{"name": "Alice", "email": alice.Email, "password": alice.Password}, nil)
	Expect(t, r, http.StatusCreated)
	alice.UserID, alice.WalletID = r.Str("user_id"), r.Str("wallet_id")
	if alice.UserID == "" || alice.WalletID == "" || r.Str("name") != "Alice" || r.Str("email") != alice.Email {
		t.Fatalf("signup answer: want {user_id, wallet_id, name, email}: %s", r)
	}
	r = anon.Must(t, "POST", "/api/signup", map[string]any{"name": "Alice Again", "email": alice.Email, "password": "another-password"}, nil)
	CheckError(t, r, http.StatusConflict, "email_taken")
	bob := e.signup(t, "Bob")
	if bob.WalletID == alice.WalletID || bob.UserID == alice.UserID {
		t.Fatalf("two users share ids: %+v %+v", alice, bob)
	}

	// Authentication failures.
	for _, c := range []struct {
		name string
		c    *Client
	}{
		{"anonymous", anon},
		{"wrong basic password", e.Client(Basic(alice.Email, "wrong-password"))},
		{"unknown bearer token", e.Client(Bearer("not-a-token"))},
	} {
		r := c.c.Must(t, "GET", "/api/wallet", nil, nil)
		CheckError(t, r, http.StatusUnauthorized, "")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate: %s", c.name, r)
		}
	}
	r = anon.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "1.00"}, nil)
	CheckError(t, r, http.StatusUnauthorized, "")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate: %s", r)
	}
	// /api/* answers JSON, never HTML, also for unknown paths.
	r = e.Client(Basic(alice.Email, alice.Password)).Must(t, "GET", "/api/no-such-endpoint", nil, nil)
	CheckError(t, r, http.StatusNotFound, "")

	// Login.
	aliceWeb := e.Client(nil)
	r = aliceWeb.Must(t, "POST", "/api/login", map[string]any{"email": alice.Email, "password": "wrong-password"}, nil)
	CheckError(t, r, http.StatusUnauthorized, "invalid_credentials")
	r = aliceWeb.Must(t, "POST", "/api/login", map[string]any{"email": "nobody@example.com", "password": "whatever-password"}, nil)
	CheckError(t, r, http.StatusUnauthorized, "invalid_credentials")
	r = aliceWeb.Must(t, "POST", "/api/login", map[string]any{"email": alice.Email, "password": alice.Password}, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("user_id") != alice.UserID || r.Str("name") != "Alice" || r.Str("email") != alice.Email {
		t.Errorf("login answer: want {user_id, name, email} of Alice: %s", r)
	}
	var session *http.Cookie
	for _, c := range r.Cookies {
		if c.Name == "wallet_session" {
			session = c
		}
	}
	if session == nil || session.Value == "" {
		t.Fatalf("login set no wallet_session cookie: %v", r.Header["Set-Cookie"])
	}
	if !session.HttpOnly {
		t.Errorf("wallet_session is not HttpOnly: %v", r.Header["Set-Cookie"])
	}
	if session.SameSite != http.SameSiteLaxMode && session.SameSite != http.SameSiteStrictMode {
		t.Errorf("wallet_session needs SameSite=Lax or Strict: %v", r.Header["Set-Cookie"])
	}
	r = aliceWeb.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("wallet_id") != alice.WalletID || r.Str("user_id") != alice.UserID || r.Str("currency") != "RUB" ||
		r.Str("balance") != "0.00" || r.Str("available") != "0.00" {
		t.Errorf("new wallet: want Alice's, RUB, balance and available 0.00: %s", r)
	}
	if ids := opIDs(t, r); len(ids) != 0 {
		t.Errorf("new wallet has operations: %s", r)
	}

	// Deposits by the bank.
	bank := e.Client(Basic(bankEmail, bankPassword))
	r = bank.Must(t, "POST", "/api/external_to_wallet",
		map[string]any{"wallet_id": alice.WalletID, "amount": "100.00", "details": "top-up 1"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	checkOp(t, r, opWant{status: "completed", amount: "100.00", to: alice.WalletID, details: "top-up 1"})
	if got := r.Header.Get("Preference-Applied"); got != "wait=10" {
		t.Errorf("Preference-Applied = %q, want wait=10: %s", got, r)
	}
	depositA := r.Str("operation_id")

	r = bank.Must(t, "POST", "/api/external_to_wallet",
		map[string]any{"wallet_id": bob.WalletID, "amount": "50.00", "details": "top-up 2"}, nil)
	Expect(t, r, http.StatusAccepted)
	checkOp(t, r, opWant{status: "pending", amount: "50.00", to: bob.WalletID, details: "top-up 2"})
	depositB := r.Str("operation_id")
	if loc := r.Header.Get("Location"); loc != "/api/operations/"+depositB {
		t.Errorf("Location = %q, want /api/operations/%s", loc, depositB)
	}
	if depositB == depositA {
		t.Fatalf("two deposits share an operation id %s", depositA)
	}
	r = bank.Must(t, "GET", "/api/operations/"+depositB+"?wait=10", nil, nil)
	Expect(t, r, http.StatusOK)
	checkOp(t, r, opWant{status: "completed", amount: "50.00", to: bob.WalletID})
	if r.Str("operation_id") != depositB {
		t.Errorf("GET returned another operation: %s", r)
	}

	// Transfers: Alice by cookie (string amount), Bob by Basic (JSON number).
	r = aliceWeb.Must(t, "POST", "/api/wallet_to_wallet",
		map[string]any{"wallet_id": bob.WalletID, "amount": "30.50", "details": "lunch"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	checkOp(t, r, opWant{status: "completed", amount: "30.50", from: alice.WalletID, to: bob.WalletID, balanceAfter: "69.50", details: "lunch"})
	if got := r.Header.Get("Preference-Applied"); got != "wait=10" {
		t.Errorf("Preference-Applied = %q, want wait=10", got)
	}
	transferAB := r.Str("operation_id")

	bobAPI := e.Client(Basic(bob.Email, bob.Password))
	r = bobAPI.Must(t, "POST", "/api/wallet_to_wallet",
		map[string]any{"wallet_id": alice.WalletID, "amount": json.Number("5.2")}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	checkOp(t, r, opWant{status: "completed", amount: "5.20", from: bob.WalletID, to: alice.WalletID, balanceAfter: "75.30"})
	transferBA := r.Str("operation_id")

	// Wallets: exact balances, newest first.
	r = aliceWeb.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("balance") != "74.70" || r.Str("available") != "74.70" || r.Str("currency") != "RUB" || r.Str("wallet_id") != alice.WalletID {
		t.Errorf("Alice's wallet: want balance and available 74.70 RUB: %s", r)
	}
	aliceOps := []string{transferBA, transferAB, depositA}
	if ids := opIDs(t, r); !sameIDs(ids, aliceOps) {
		t.Errorf("Alice's operations = %v, want newest first %v", ids, aliceOps)
	}
	if c := nextCursor(t, r); c != "" {
		t.Errorf("3 operations fit one page, yet next_cursor = %q", c)
	}
	r = bobAPI.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("balance") != "75.30" || r.Str("available") != "75.30" || r.Str("currency") != "RUB" || r.Str("wallet_id") != bob.WalletID {
		t.Errorf("Bob's wallet: want balance and available 75.30 RUB: %s", r)
	}
	if ids, want := opIDs(t, r), []string{transferBA, transferAB, depositB}; !sameIDs(ids, want) {
		t.Errorf("Bob's operations = %v, want newest first %v", ids, want)
	}

	// Pagination, one at a time, until exhausted.
	var paged []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("pagination does not end: %v", paged)
		}
		path := "/api/wallet/operations?limit=1"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r = aliceWeb.Must(t, "GET", path, nil, nil)
		Expect(t, r, http.StatusOK)
		ids := opIDs(t, r)
		if len(ids) > 1 {
			t.Fatalf("limit=1 returned %d operations: %s", len(ids), r)
		}
		paged = append(paged, ids...)
		if cursor = nextCursor(t, r); cursor == "" {
			break
		}
		if len(ids) == 0 {
			t.Fatalf("an empty page with a next_cursor: %s", r)
		}
	}
	if !sameIDs(paged, aliceOps) {
		t.Errorf("paginated operations = %v, want %v", paged, aliceOps)
	}
	r = aliceWeb.Must(t, "GET", "/api/wallet/operations?cursor=not-a-cursor", nil, nil)
	CheckError(t, r, http.StatusBadRequest, "invalid_cursor")

	// Who may see an operation.
	r = bobAPI.Must(t, "GET", "/api/operations/"+depositA, nil, nil)
	CheckError(t, r, http.StatusNotFound, "operation_not_found")
	r = bank.Must(t, "GET", "/api/operations/"+transferAB, nil, nil)
	CheckError(t, r, http.StatusNotFound, "operation_not_found")
	r = aliceWeb.Must(t, "GET", "/api/operations/00000000-0000-4000-8000-000000000000", nil, nil)
	CheckError(t, r, http.StatusNotFound, "operation_not_found")
	r = bobAPI.Must(t, "GET", "/api/operations/"+transferAB, nil, nil)
	Expect(t, r, http.StatusOK)
	// balance_after is the caller's own balance: Bob had 50.00 + 30.50.
	checkOp(t, r, opWant{status: "completed", amount: "30.50", from: alice.WalletID, to: bob.WalletID, balanceAfter: "80.50"})
	r = aliceWeb.Must(t, "GET", "/api/operations/"+depositA, nil, nil)
	Expect(t, r, http.StatusOK)
	checkOp(t, r, opWant{status: "completed", amount: "100.00", to: alice.WalletID, balanceAfter: "100.00"})
	r = bank.Must(t, "GET", "/api/operations/"+depositA, nil, nil)
	Expect(t, r, http.StatusOK)
	admin := e.Client(Basic(adminEmail, adminPassword))
	for _, id := range []string{depositA, depositB, transferAB, transferBA} {
		r = admin.Must(t, "GET", "/api/operations/"+id, nil, nil)
		Expect(t, r, http.StatusOK)
		if r.Str("operation_id") != id || r.Str("status") != "completed" {
			t.Errorf("admin view of %s: %s", id, r)
		}
	}

	// Refusals that must change nothing.
	aliceAPI := e.Client(Basic(alice.Email, alice.Password))
	r = aliceAPI.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": alice.WalletID, "amount": "10.00", "details": "x"}, nil)
	CheckError(t, r, http.StatusForbidden, "forbidden")
	r = admin.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": alice.WalletID, "amount": "10.00", "details": "x"}, nil)
	CheckError(t, r, http.StatusForbidden, "forbidden")
	const unknownWallet = "00000000-0000-4000-8000-000000000001"
	r = bank.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": unknownWallet, "amount": "10.00", "details": "x"}, nil)
	CheckError(t, r, http.StatusNotFound, "wallet_not_found")
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": unknownWallet, "amount": "1.00"}, nil)
	CheckError(t, r, http.StatusNotFound, "wallet_not_found")
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": alice.WalletID, "amount": "1.00"}, nil)
	CheckError(t, r, http.StatusUnprocessableEntity, "same_wallet")
	r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "74.71"}, nil)
	CheckError(t, r, http.StatusUnprocessableEntity, "insufficient_funds")
	badAmounts := []any{
		"0", "0.00", "-1", "-1.00", "1.001", "0.001", "1e3", "1E3", "NaN", "Infinity", "abc", "", " 1.00", "1,00",
		"1000000.01", // above MAX_AMOUNT
		json.Number("0"), json.Number("-1"), json.Number("1.001"), json.Number("1e3"), json.Number("1E-2"),
		json.Number("1000000.01"),
	}
	for _, a := range badAmounts {
		r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": a}, nil)
		CheckError(t, r, http.StatusBadRequest, "invalid_amount")
		r = bank.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": alice.WalletID, "amount": a, "details": "x"}, nil)
		CheckError(t, r, http.StatusBadRequest, "invalid_amount")
	}
	for _, body := range []string{"{not json", `{"wallet_id": 1, "amount": "1.00"}`, `["1.00"]`} {
		r = aliceAPI.Must(t, "POST", "/api/wallet_to_wallet", body, nil)
		CheckError(t, r, http.StatusBadRequest, "")
	}
	// Cookie-authenticated mutations from another origin are refused.
	for _, h := range []H{{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}} {
		r = aliceWeb.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "1.00"}, h)
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("cross-origin cookie transfer with %v not refused with a 4xx: %s", h, r)
		} else {
			CheckError(t, r, r.Status, "")
		}
	}
	r = aliceWeb.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("balance") != "74.70" || !sameIDs(opIDs(t, r), aliceOps) {
		t.Errorf("refused requests changed Alice's wallet: %s", r)
	}
	r = bobAPI.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("balance") != "75.30" || len(opIDs(t, r)) != 3 {
		t.Errorf("refused requests changed Bob's wallet: %s", r)
	}

	// With no worker running, an accepted operation waits: Prefer: wait=1
	// answers 202 pending once the second is over (never before it: the
	// lower bound cannot fail on a slow machine), the amount is held from
	// the available balance, and the operation completes once a worker is
	// back.
	e.Workers[0].Stop()
	start := time.Now()
	r = bobAPI.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": alice.WalletID, "amount": "1.00"}, H{"Prefer": "wait=1"})
	waited := time.Since(start)
	Expect(t, r, http.StatusAccepted)
	checkOp(t, r, opWant{status: "pending", amount: "1.00", from: bob.WalletID, to: alice.WalletID})
	pendingID := r.Str("operation_id")
	if loc := r.Header.Get("Location"); loc != "/api/operations/"+pendingID {
		t.Errorf("Location = %q, want /api/operations/%s", loc, pendingID)
	}
	if got := r.Header.Get("Preference-Applied"); got != "wait=1" {
		t.Errorf("Preference-Applied = %q, want wait=1", got)
	}
	if waited < time.Second {
		t.Errorf("Prefer: wait=1 on an operation that cannot finish answered after %v, before its second was over", waited)
	}
	start = time.Now()
	r = bobAPI.Must(t, "GET", "/api/operations/"+pendingID+"?wait=1", nil, nil)
	waited = time.Since(start)
	Expect(t, r, http.StatusAccepted)
	checkOp(t, r, opWant{status: "pending"})
	if waited < time.Second {
		t.Errorf("GET ?wait=1 on an operation that cannot finish answered after %v, before its second was over", waited)
	}
	r = bobAPI.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("balance") != "75.30" || r.Str("available") != "74.30" {
		t.Errorf("Bob's wallet with 1.00 pending out: want balance 75.30, available 74.30: %s", r)
	}
	if ids := opIDs(t, r); len(ids) == 0 || ids[0] != pendingID {
		t.Errorf("Bob's newest operation should be the pending %s: %s", pendingID, r)
	}
	// A long poll sent while no worker runs ends with the result, not
	// with its time: 200 completed, where a timeout would be 202 pending.
	longPoll := make(chan *Resp, 1)
	go func() {
		r, err := bobAPI.Do("GET", "/api/operations/"+pendingID+"?wait=30", nil, nil)
		if err != nil {
			t.Errorf("long poll: %v", err)
		}
		longPoll <- r
	}()
	e.Workers[0].Start()
	if r = <-longPoll; r == nil {
		t.FailNow()
	}
	Expect(t, r, http.StatusOK)
	checkOp(t, r, opWant{status: "completed", balanceAfter: "74.30"})
	if got := balance(t, aliceAPI); got != 7570 {
		t.Errorf("Alice's balance %s, want 75.70", money(got))
	}

	// Bearer tokens.
	tok := e.token(t, alice)
	r = e.Client(Bearer(tok)).Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Str("wallet_id") != alice.WalletID {
		t.Errorf("Bearer token reads another wallet: %s", r)
	}

	// Logout ends the session on the server.
	r = aliceWeb.Must(t, "POST", "/api/logout", nil, nil)
	Expect(t, r, http.StatusNoContent)
	r = aliceWeb.Must(t, "GET", "/api/wallet", nil, nil)
	CheckError(t, r, http.StatusUnauthorized, "")
	replay := e.Client(nil)
	r = replay.Must(t, "GET", "/api/wallet", nil, H{"Cookie": "wallet_session=" + session.Value})
	CheckError(t, r, http.StatusUnauthorized, "")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate: %s", r)
	}

	// Guessing passwords is cut off: within 20 wrong logins for one account
	// comes 429 too_many_attempts, which then holds for the right password too.
	carol := e.signup(t, "Carol")
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		r = anon.Must(t, "POST", "/api/login", map[string]any{"email": carol.Email, "password": "guess-" + randHex(4)}, nil)
		switch r.Status {
		case http.StatusTooManyRequests:
			CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
			limited = true
		default:
			CheckError(t, r, http.StatusUnauthorized, "invalid_credentials")
		}
	}
	if !limited {
		t.Errorf("20 wrong passwords in a row were never answered 429 too_many_attempts")
	} else {
		r = anon.Must(t, "POST", "/api/login", map[string]any{"email": carol.Email, "password": carol.Password}, nil)
		CheckError(t, r, http.StatusTooManyRequests, "too_many_attempts")
	}

	// The queue dashboard is for admins only.
	r = anon.Must(t, "GET", "/admin/queues", nil, nil)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous /admin/queues: want 401: %s", r)
	}
	r = bobAPI.Must(t, "GET", "/admin/queues", nil, nil)
	if r.Status != http.StatusForbidden {
		t.Errorf("user /admin/queues: want 403: %s", r)
	}
	r = admin.Must(t, "GET", "/admin/queues", nil, nil)
	if r.Status != http.StatusOK {
		t.Errorf("admin /admin/queues: want 200: %s", r)
	}
}
