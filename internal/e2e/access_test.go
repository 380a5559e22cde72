package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// accCaller is one way of calling the API: a principal (anon, A, B, bank,
// admin) and how it proves who it is.
type accCaller struct {
	label string // "A (cookie)"
	who   string // the principal, which decides the expected answer
	c     *Client
	hdr   H    // added to every request (a planted cookie, say)
	creds user // the principal's own credentials, for the login row
	// scopes are an OAuth access token's; nil for every other way of
	// signing in, which carries all of the role's.
	scopes []string
}

// accWant is one cell of the matrix.
type accWant struct {
	status int
	code   string // error code for 4xx
}

// accRow is one endpoint applied to one resource, with the answer every
// principal must get.
type accRow struct {
	name, method, path string
	body               func(cl accCaller) any // nil: no body
	want               map[string]accWant     // by principal; all five required
	check              func(t *testing.T, cl accCaller, r *Resp)
	// scope is what the endpoint needs of an OAuth token: one scope, or
	// alternatives as "a|b"; "" nothing, "role" every scope of the
	// caller's role.
	scope string
}

// accRoleScopes are the scopes each principal's role carries
// (API-OAUTH.md, and the README's table).
var accRoleScopes = map[string][]string{
	"anon": {}, "A": {"wallet:read", "wallet:transfer"}, "B": {"wallet:read", "wallet:transfer"},
	"bank": {"wallet:read", "bank:deposit"}, "admin": {"wallet:read", "admin"},
	// The money matrix's principals.
	"payer": {"wallet:read", "wallet:transfer"}, "recipient": {"wallet:read", "wallet:transfer"},
	"other": {"wallet:read", "wallet:transfer"}, "bank2": {"wallet:read", "bank:deposit"},
}

// expect is the cell of row for cl: the principal's, unless cl's OAuth
// token lacks a scope that the endpoint needs and the role has, which is
// 403 insufficient_scope.
func (row accRow) expect(cl accCaller) accWant {
	want := row.want[cl.who]
	if cl.scopes == nil || row.scope == "" {
		return want
	}
	role := accRoleScopes[cl.who]
	if row.scope == "role" {
		for _, sc := range role {
			if !slices.Contains(cl.scopes, sc) {
				return accWant{403, "insufficient_scope"}
			}
		}
		return want
	}
	roleHas, has := false, false
	for _, sc := range strings.Split(row.scope, "|") {
		roleHas = roleHas || slices.Contains(role, sc)
		has = has || slices.Contains(cl.scopes, sc)
	}
	if roleHas && !has {
		return accWant{403, "insufficient_scope"}
	}
	return want
}

var accPrincipals = []string{"anon", "A", "B", "bank", "admin"}

// accSame is a row where every signed-in principal gets the same answer
// and the anonymous caller 401.
func accSame(status int, code string) map[string]accWant {
	return map[string]accWant{
		"anon": {401, "unauthorized"}, "A": {status, code}, "B": {status, code},
		"bank": {status, code}, "admin": {status, code},
	}
}

func accCells(anon, a, b, bank, admin accWant) map[string]accWant {
	return map[string]accWant{"anon": anon, "A": a, "B": b, "bank": bank, "admin": admin}
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)

	// Resources: A's and B's wallets, a deposit to A, an operation between
	// A and B, and a transfer between C and D, to which neither is party.
	a, b, c, d := e.signup(t, "Ann"), e.signup(t, "Ben"), e.signup(t, "Cid"), e.signup(t, "Dee")
	depA := e.deposit(t, a.WalletID, "100.00")
	depB := e.deposit(t, b.WalletID, "50.00")
	depC := e.deposit(t, c.WalletID, "50.00")
	aBasic := e.Client(Basic(a.Email, a.Password))
	r := aBasic.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": b.WalletID, "amount": "10.00", "details": "A to B"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	opAB := r.Str("operation_id")
	r = e.Client(Basic(c.Email, c.Password)).Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": d.WalletID, "amount": "5.00"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	opCD := r.Str("operation_id")
	bankUser := user{Email: bankEmail, Password: bankPassword}
	adminUser := user{Email: adminEmail, Password: adminPassword}
	r = e.Client(Basic(bankEmail, bankPassword)).Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	settlement := r.Str("wallet_id")
	const unknownOp = "00000000-0000-4000-8000-00000000abcd"

	login := func(u user) *Client {
		cl := e.Client(nil)
		r := cl.Must(t, "POST", "/api/login", map[string]any{"email": u.Email, "password": u.Password}, nil)
		Expect(t, r, http.StatusOK)
		return cl
	}
	callers := []accCaller{
		{label: "anonymous", who: "anon", c: e.Client(nil)},
		{label: "wrong Basic password", who: "anon", c: e.Client(func(r *http.Request) {
			// A new unknown email each time, so the login rate limit
			// does not turn these 401s into 429s.
			r.SetBasicAuth("nobody-"+randHex(4)+"@example.com", "wrong-password")
		})},
		{label: "unknown Bearer token", who: "anon", c: e.Client(Bearer(randHex(32)))},
		{label: "unknown session cookie", who: "anon", c: e.Client(nil), hdr: H{"Cookie": "wallet_session=" + randHex(32)}},
		{label: "A (cookie)", who: "A", c: login(a), creds: a},
		{label: "A (Basic)", who: "A", c: aBasic, creds: a},
		{label: "A (Bearer)", who: "A", c: e.Client(Bearer(e.token(t, a))), creds: a},
		{label: "B (Basic)", who: "B", c: e.Client(Basic(b.Email, b.Password)), creds: b},
		{label: "B (cookie)", who: "B", c: login(b), creds: b},
		{label: "bank (Basic)", who: "bank", c: e.Client(Basic(bankEmail, bankPassword)), creds: bankUser},
		{label: "bank (Bearer)", who: "bank", c: e.Client(Bearer(e.token(t, bankUser))), creds: bankUser},
		{label: "admin (Basic)", who: "admin", c: e.Client(Basic(adminEmail, adminPassword)), creds: adminUser},
		{label: "admin (cookie)", who: "admin", c: login(adminUser), creds: adminUser},
	}
	// OAuth access tokens (JWTs) of each scope: with all of the role's
	// the answers are the role's; narrower, an endpoint outside them is
	// 403 insufficient_scope.
	pub := e.registerClient(t, "public", loopbackRedirect)
	oauth := func(label, who string, u user, scopes ...string) accCaller {
		return e.oauthCaller(t, pub, label, who, u, scopes...)
	}
	callers = append(callers,
		oauth("A (OAuth)", "A", a),
		oauth("A (OAuth wallet:read)", "A", a, "wallet:read"),
		oauth("A (OAuth wallet:transfer)", "A", a, "wallet:transfer"),
		oauth("bank (OAuth client)", "bank", bankUser),
		oauth("bank (OAuth wallet:read)", "bank", bankUser, "wallet:read"),
		oauth("bank (OAuth bank:deposit)", "bank", bankUser, "bank:deposit"),
		oauth("admin (OAuth)", "admin", adminUser),
		oauth("admin (OAuth wallet:read)", "admin", adminUser, "wallet:read"),
	)
	for i := range callers {
		if callers[i].who == "anon" {
			callers[i].creds = a // the login row signs in as A
		}
	}

	ok := accWant{200, ""}
	unauth := accWant{401, "unauthorized"}
	forbidden := accWant{403, "forbidden"}
	opNotFound := accWant{404, "operation_not_found"}
	walletNotFound := accWant{404, "wallet_not_found"}
	accepted := accWant{202, ""}
	sameWallet := accWant{422, "same_wallet"}

	// viewOp checks a visible operation and whose balance_after it shows:
	// the caller's own, never another's.
	viewOp := func(id string, balanceAfter map[string]string) func(t *testing.T, cl accCaller, r *Resp) {
		return func(t *testing.T, cl accCaller, r *Resp) {
			if r.Str("operation_id") != id {
				t.Errorf("%s: got another operation: %s", cl.label, r)
			}
			want, has := balanceAfter[cl.who]
			_, shown := r.Body["balance_after"]
			switch {
			case has && r.Str("balance_after") != want:
				t.Errorf("%s: want balance_after %s: %s", cl.label, want, r)
			case !has && shown:
				t.Errorf("%s owns no wallet in the operation, yet sees a balance_after: %s", cl.label, r)
			}
		}
	}
	// listing checks which operations a wallet listing holds and lacks.
	listing := func(has map[string][]string, lacks map[string][]string) func(t *testing.T, cl accCaller, r *Resp) {
		return func(t *testing.T, cl accCaller, r *Resp) {
			ids := opIDs(t, r)
			for _, id := range has[cl.who] {
				if !slices.Contains(ids, id) {
					t.Errorf("%s: listing lacks its operation %s: %v", cl.label, id, ids)
				}
			}
			for _, id := range lacks[cl.who] {
				if slices.Contains(ids, id) {
					t.Errorf("%s: listing shows another's operation %s: %v", cl.label, id, ids)
				}
			}
		}
	}
	opBody := func(to, details string) func(accCaller) any {
		return func(accCaller) any {
			m := map[string]any{"wallet_id": to, "amount": "0.01"}
			if details != "" {
				m["details"] = details
			}
			return m
		}
	}

	rows := []accRow{
		{name: "own wallet", method: "GET", path: "/api/wallet", scope: "wallet:read",
			want: accCells(unauth, ok, ok, ok, walletNotFound),
			check: func(t *testing.T, cl accCaller, r *Resp) {
				want := map[string][2]string{"A": {a.WalletID, "user"}, "B": {b.WalletID, "user"}, "bank": {settlement, "settlement"}}[cl.who]
				if r.Str("wallet_id") != want[0] || r.Str("kind") != want[1] {
					t.Errorf("%s: want wallet %s of kind %s: %s", cl.label, want[0], want[1], r)
				}
				if cl.who == "bank" && !strings.HasPrefix(r.Str("balance"), "-") {
					t.Errorf("%s: a settlement account that paid in has a negative balance: %s", cl.label, r)
				}
			}},
		{name: "own operations", method: "GET", path: "/api/wallet/operations", scope: "wallet:read",
			want: accCells(unauth, ok, ok, ok, walletNotFound),
			check: listing(
				map[string][]string{"A": {depA, opAB}, "B": {depB, opAB}, "bank": {depA, depB, depC}},
				map[string][]string{"A": {depB, depC, opCD}, "B": {depA, depC, opCD}, "bank": {opAB, opCD}})},
		{name: "deposit to A", method: "GET", path: "/api/operations/" + depA, scope: "wallet:read",
			want:  accCells(unauth, ok, opNotFound, ok, ok),
			check: viewOp(depA, map[string]string{"A": "100.00"})},
		{name: "A to B", method: "GET", path: "/api/operations/" + opAB, scope: "wallet:read",
			want:  accCells(unauth, ok, ok, opNotFound, ok),
			check: viewOp(opAB, map[string]string{"A": "90.00", "B": "60.00"})},
		{name: "deposit to B", method: "GET", path: "/api/operations/" + depB, scope: "wallet:read",
			want:  accCells(unauth, opNotFound, ok, ok, ok),
			check: viewOp(depB, map[string]string{"B": "50.00"})},
		{name: "C to D", method: "GET", path: "/api/operations/" + opCD, scope: "wallet:read",
			want:  accCells(unauth, opNotFound, opNotFound, opNotFound, ok),
			check: viewOp(opCD, nil)},
		{name: "C to D, long poll", method: "GET", path: "/api/operations/" + opCD + "?wait=1", scope: "wallet:read",
			want:  accCells(unauth, opNotFound, opNotFound, opNotFound, ok),
			check: viewOp(opCD, nil)},
		{name: "deposit to C", method: "GET", path: "/api/operations/" + depC, scope: "wallet:read",
			want:  accCells(unauth, opNotFound, opNotFound, ok, ok),
			check: viewOp(depC, nil)},
		{name: "no such operation", method: "GET", path: "/api/operations/" + unknownOp, scope: "wallet:read",
			want: accSame(404, "operation_not_found")},
		{name: "audit", method: "GET", path: "/api/admin/audit", scope: "admin",
			want: accCells(unauth, forbidden, forbidden, forbidden, ok),
			check: func(t *testing.T, cl accCaller, r *Resp) {
				if r.Body["ok"] != true {
					t.Errorf("%s: the audit of a clean ledger is not ok: %s", cl.label, r)
				}
			}},
		{name: "dashboard", method: "GET", path: "/admin/queues", scope: "admin",
			want: accCells(unauth, forbidden, forbidden, forbidden, ok),
			check: func(t *testing.T, cl accCaller, r *Resp) {
				if !strings.Contains(strings.ToLower(string(r.Raw)), "<html") {
					t.Errorf("%s: the dashboard is not an HTML page: %s", cl.label, r)
				}
			}},
		{name: "dashboard API: queues", method: "GET", path: "/admin/queues/api/queues", scope: "admin",
			want: accCells(unauth, forbidden, forbidden, forbidden, ok),
			check: func(t *testing.T, cl accCaller, r *Resp) {
				if _, ok := r.Body["queues"].([]any); !ok {
					t.Errorf("%s: want {\"queues\": [...]}: %s", cl.label, r)
				}
			}},
		{name: "dashboard API: pause a queue", method: "POST", path: "/admin/queues/api/queues/operations:pause", scope: "admin",
			want: accCells(unauth, forbidden, forbidden, forbidden, forbidden)},
		{name: "dashboard API: delete a queue", method: "DELETE", path: "/admin/queues/api/queues/operations", scope: "admin",
			want: accCells(unauth, forbidden, forbidden, forbidden, forbidden)},
		{name: "dashboard API: delete archived tasks", method: "DELETE", path: "/admin/queues/api/queues/operations/archived_tasks:delete_all", scope: "admin",
			want: accCells(unauth, forbidden, forbidden, forbidden, forbidden)},
		{name: "health", method: "GET", path: "/healthz", want: accCells(ok, ok, ok, ok, ok)},
		{name: "readiness", method: "GET", path: "/readyz", want: accCells(ok, ok, ok, ok, ok)},
		{name: "metrics", method: "GET", path: "/metrics", want: accCells(ok, ok, ok, ok, ok)},
		{name: "unknown API path", method: "GET", path: "/api/no-such-endpoint", want: accCells(
			accWant{404, "not_found"}, accWant{404, "not_found"}, accWant{404, "not_found"}, accWant{404, "not_found"}, accWant{404, "not_found"})},
		{name: "access token", method: "POST", path: "/api/tokens", scope: "role",
			want: accSame(201, ""),
			check: func(t *testing.T, cl accCaller, r *Resp) {
				if r.Str("access_token") == "" || r.Str("token_type") != "Bearer" {
					t.Errorf("%s: token answer: %s", cl.label, r)
				}
			}},
		{name: "deposit to A", method: "POST", path: "/api/external_to_wallet", body: opBody(a.WalletID, "matrix"), scope: "bank:deposit",
			want: accCells(unauth, forbidden, forbidden, accepted, forbidden)},
		{name: "deposit to the settlement account", method: "POST", path: "/api/external_to_wallet", body: opBody(settlement, "matrix"), scope: "bank:deposit",
			want: accCells(unauth, forbidden, forbidden, walletNotFound, forbidden)},
		{name: "transfer to B", method: "POST", path: "/api/wallet_to_wallet", body: opBody(b.WalletID, ""), scope: "wallet:transfer",
			want: accCells(unauth, accepted, sameWallet, forbidden, forbidden)},
		{name: "transfer to A", method: "POST", path: "/api/wallet_to_wallet", body: opBody(a.WalletID, ""), scope: "wallet:transfer",
			want: accCells(unauth, sameWallet, accepted, forbidden, forbidden)},
		{name: "transfer to C", method: "POST", path: "/api/wallet_to_wallet", body: opBody(c.WalletID, ""), scope: "wallet:transfer",
			want: accCells(unauth, accepted, accepted, forbidden, forbidden)},
		{name: "transfer to the settlement account", method: "POST", path: "/api/wallet_to_wallet", body: opBody(settlement, ""), scope: "wallet:transfer",
			want: accCells(unauth, walletNotFound, walletNotFound, forbidden, forbidden)},
		{name: "sign up", method: "POST", path: "/api/signup",
			body: func(accCaller) any {
				return map[string]any{"name": "Newcomer", "email": "new-" + randHex(4) + "@example.com", "password": "correct horse"}
			},
			want: accCells(accWant{201, ""}, accWant{201, ""}, accWant{201, ""}, accWant{201, ""}, accWant{201, ""})},
		{name: "log in", method: "POST", path: "/api/login",
			body: func(cl accCaller) any { return map[string]any{"email": cl.creds.Email, "password": cl.creds.Password} },
			want: accCells(ok, ok, ok, ok, ok),
			check: func(t *testing.T, cl accCaller, r *Resp) {
				if r.Str("email") != cl.creds.Email {
					t.Errorf("%s: logged in as another: %s", cl.label, r)
				}
			}},
		// Last: it ends the cookie and Bearer callers' sessions.
		{name: "log out", method: "POST", path: "/api/logout", want: accSame(204, "")},
	}

	// The whole matrix, not a sample: every row names all five principals,
	// and every caller is tried on every row.
	for _, row := range rows {
		for _, p := range accPrincipals {
			if _, ok := row.want[p]; !ok {
				t.Fatalf("row %q has no expectation for %s", row.name, p)
			}
		}
	}
	runAccessMatrix(t, e, rows, callers)

	// Logout ended the cookie and Bearer sessions on the server; Basic has
	// nothing to end.
	for _, cl := range callers {
		if cl.who == "anon" {
			continue
		}
		r := cl.c.Must(t, "GET", "/api/wallet", nil, nil)
		if strings.Contains(cl.label, "Basic") {
			if r.Status == http.StatusUnauthorized {
				t.Errorf("%s after logout: Basic should still work: %s", cl.label, r)
			}
		} else if err := errorShape(r, http.StatusUnauthorized, "unauthorized"); err != nil {
			t.Errorf("%s after logout: the session should be over: %v", cl.label, err)
		}
	}

	// An operation the caller may not see answers exactly like one that
	// does not exist.
	missing := aBasic.Must(t, "GET", "/api/operations/"+unknownOp, nil, nil)
	for _, id := range []string{opCD, depB, depC} {
		r := aBasic.Must(t, "GET", "/api/operations/"+id, nil, nil)
		if r.Status != missing.Status || string(r.Raw) != string(missing.Raw) {
			t.Errorf("a hidden operation answers unlike a missing one:\nhidden  %s\nmissing %s", r, missing)
		}
	}

	// The refused dashboard writes did nothing: the queue is not paused
	// and still there.
	admin := e.Client(Basic(adminEmail, adminPassword))
	r = admin.Must(t, "GET", "/admin/queues/api/queues", nil, nil)
	Expect(t, r, http.StatusOK)
	queues, _ := r.Body["queues"].([]any)
	found := false
	for _, q := range queues {
		m, _ := q.(map[string]any)
		if m["queue"] == "operations" {
			found = true
			if m["paused"] == true {
				t.Errorf("a refused pause paused the queue: %s", r)
			}
		}
	}
	if !found {
		t.Errorf("the operations queue is gone after a refused delete: %s", r)
	}

	// The accepted operations of the matrix all end well.
	for _, cl := range callers {
		if cl.who == "A" || cl.who == "B" {
			r := e.Client(Basic(cl.creds.Email, cl.creds.Password)).Must(t, "GET", "/api/wallet/operations", nil, nil)
			Expect(t, r, http.StatusOK)
			for _, id := range opIDs(t, r) {
				waitFinal(t, admin, id, 30*time.Second)
			}
		}
	}
	r = admin.Must(t, "GET", "/api/admin/audit", nil, nil)
	Expect(t, r, http.StatusOK)
	if r.Body["ok"] != true {
		t.Errorf("audit after the matrix: %s", r)
	}
}

// runAccessMatrix sends every row as every caller, checks each answer
// against the row's cell for the caller's principal, and logs the whole
// matrix with the wrong cells marked.
func runAccessMatrix(t *testing.T, e *Env, rows []accRow, callers []accCaller) {
	t.Helper()
	type cell struct{ got, want string }
	grid := make([][]cell, len(rows))
	bad := 0
	for i, row := range rows {
		for _, cl := range callers {
			want := row.expect(cl)
			q := rawReq{method: row.method, path: row.path, hdr: cl.hdr, noRedirect: true}
			if row.body != nil {
				js, err := json.Marshal(row.body(cl))
				if err != nil {
					t.Fatal(err)
				}
				q.body = js
			}
			c := cl.c
			if row.path == "/api/login" && cl.who == "anon" {
				// Signing in as A must not make this caller A for the
				// rows after.
				c = e.Client(cl.c.auth)
			}
			r, err := sendRaw(c, q)
			if err != nil {
				t.Fatalf("%s %s as %s: %v", row.method, row.path, cl.label, err)
			}
			got := fmt.Sprintf("%d %s", r.Status, r.ErrCode())
			grid[i] = append(grid[i], cell{got: strings.TrimSpace(got), want: strings.TrimSpace(fmt.Sprintf("%d %s", want.status, want.code))})
			var problem error
			switch {
			case want.status >= 400:
				problem = errorShape(r, want.status, want.code)
				if problem == nil && want.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
					problem = fmt.Errorf("401 without WWW-Authenticate: %s", r)
				}
			case r.Status != want.status:
				problem = fmt.Errorf("want %d: %s", want.status, r)
			}
			if problem != nil {
				bad++
				t.Errorf("%s (%s %s) as %s: %v", row.name, row.method, row.path, cl.label, problem)
				continue
			}
			if row.check != nil && r.Status < 300 {
				row.check(t, cl, r)
			}
		}
	}

	// The matrix as a table, with the wrong cells marked.
	var tb strings.Builder
	fmt.Fprintf(&tb, "%-50s", "")
	for _, cl := range callers {
		fmt.Fprintf(&tb, " | %-22s", cl.label)
	}
	tb.WriteString("\n")
	for i, row := range rows {
		fmt.Fprintf(&tb, "%-50.50s", row.method+" "+row.name)
		for _, c := range grid[i] {
			s := c.got
			if c.got != c.want {
				s = "!" + c.got + " (want " + c.want + ")"
			}
			fmt.Fprintf(&tb, " | %-22s", s)
		}
		tb.WriteString("\n")
	}
	t.Logf("access matrix, %d rows x %d callers, %d wrong:\n%s", len(rows), len(callers), bad, tb.String())

}
