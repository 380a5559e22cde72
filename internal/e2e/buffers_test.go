package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Fiber hands out strings that point into request buffers which the next
// request on the connection reuses. These tests send the traffic that
// showed it: a value kept past its request (a cache key, a metric label)
// then names something else.

// TestConcurrentFormTransfers posts the web transfer form from 16
// connections at once to 50 recipients, each recipient with an amount of
// its own, and checks that every operation reached the recipient its form
// named, with that recipient's amount, and that the API is still alive.
// All 16 connections debit one payer, so a slow worker commit (a loaded
// machine) can hold its lock past LOCK_WAIT: a 409 wallet_busy page is
// then resubmitted with the form's idempotency key, as a user would.
func TestConcurrentFormTransfers(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)

	const recipients, perRecipient, conns = 50, 12, 16
	payer := e.signup(t, "Payer")
	e.deposit(t, payer.WalletID, "100000.00")
	var to []user
	amountOf := map[string]string{} // recipient wallet id -> its amount
	for i := range recipients {
		u := e.signup(t, fmt.Sprintf("Recipient%d", i))
		to = append(to, u)
		amountOf[u.WalletID] = money(int64(101 + i)) // 1.01, 1.02, ...
	}

	// One browser session, shared by 16 kept-alive connections.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{
		Jar:           jar,
		Timeout:       60 * time.Second,
		Transport:     &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	browser := &Client{base: e.BaseURL, hc: hc}
	r := postForm(t, browser, "/login", url.Values{"email": {payer.Email}, "password": {payer.Password}}, nil)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("web login: %s", r)
	}
	csrf := pageCSRF(t, browser)

	type job struct {
		to  user
		key string
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var failures []string
	busy := 0
	var wg sync.WaitGroup
	deadline := time.Now().Add(90 * time.Second)
	for range conns {
		wg.Go(func() {
			for j := range jobs {
				form := url.Values{"csrf_token": {csrf}, "idempotency_key": {j.key}, "wallet_id": {j.to.WalletID},
					"amount": {amountOf[j.to.WalletID]}, "details": {"form " + j.to.Name}}
				for {
					r, err := sendRaw(browser, rawReq{method: "POST", path: "/transfer", body: []byte(form.Encode()),
						contentType: "application/x-www-form-urlencoded", noRedirect: true})
					if err == nil && r.Status == http.StatusConflict && r.Header.Get("Retry-After") != "" &&
						strings.Contains(pageAlert(r), "is busy") && time.Now().Before(deadline) {
						mu.Lock()
						busy++
						mu.Unlock()
						time.Sleep(retryAfter(r, 200*time.Millisecond) + time.Duration(rand.IntN(50))*time.Millisecond)
						continue
					}
					mu.Lock()
					switch {
					case err != nil:
						failures = append(failures, err.Error())
					case r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/":
						failures = append(failures, fmt.Sprintf("%d %q Location=%q", r.Status, pageAlert(r), r.Header.Get("Location")))
					}
					mu.Unlock()
					break
				}
			}
		})
	}
	for round := range perRecipient {
		for _, u := range to {
			jobs <- job{to: u, key: fmt.Sprintf("%s-%d", randHex(8), round)}
		}
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d answers were 409 wallet_busy and resubmitted", busy)
	if len(failures) > 0 {
		t.Errorf("%d of %d form transfers were not accepted; the first: %s", len(failures), recipients*perRecipient, failures[0])
	}
	if e.API.Exited() {
		t.Fatalf("the API died under concurrent form posts; log:\n%s", tail(e.API.Log, 60))
	}

	// Every operation of the payer went where its form said, for the
	// amount of that recipient.
	payerAPI := e.Client(Basic(payer.Email, payer.Password))
	count := map[string]int{}
	cursor := ""
	for {
		path := "/api/wallet/operations?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := payerAPI.Must(t, "GET", path, nil, nil)
		Expect(t, r, http.StatusOK)
		ops, _ := r.Body["operations"].([]any)
		for _, o := range ops {
			op := o.(map[string]any)
			if op["type"] != "wallet_to_wallet" {
				continue
			}
			id, _ := op["operation_id"].(string)
			toID, _ := op["to_wallet_id"].(string)
			want, ok := amountOf[toID]
			switch {
			case !ok:
				t.Errorf("operation %s went to %q, which no form named", id, toID)
			case op["amount"] != want:
				t.Errorf("operation %s to %s moved %v, but every form for that recipient said %s", id, toID, op["amount"], want)
			case op["from_wallet_id"] != payer.WalletID:
				t.Errorf("operation %s is from %v, want the payer %s", id, op["from_wallet_id"], payer.WalletID)
			}
			count[toID]++
		}
		cursor = nextCursor(t, r)
		if cursor == "" {
			break
		}
	}
	for _, u := range to {
		if count[u.WalletID] != perRecipient {
			t.Errorf("%s received %d transfers, want %d", u.Name, count[u.WalletID], perRecipient)
		}
	}
	// And the recipients' balances say what their operations say, once
	// everything applied (one deadline for all of them).
	applied := time.Now().Add(30 * time.Second)
	for _, u := range to {
		c := e.Client(Basic(u.Email, u.Password))
		var got int64
		want, _ := cents(amountOf[u.WalletID])
		want *= int64(count[u.WalletID])
		for got = balance(t, c); got != want && time.Now().Before(applied); got = balance(t, c) {
			time.Sleep(100 * time.Millisecond)
		}
		if got != want {
			t.Errorf("%s has %s, want %d × %s", u.Name, money(got), count[u.WalletID], amountOf[u.WalletID])
		}
	}
	if e.API.Exited() {
		t.Fatalf("the API died; log:\n%s", tail(e.API.Log, 60))
	}
}

// TestMetricsLabels sends a mix of methods and routes over a few
// kept-alive connections, then parses /metrics with Prometheus's own text
// parser: every method and route label must be one that was sent, and
// /metrics must keep answering.
func TestMetricsLabels(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 0)
	u := e.signup(t, "Metrics")

	hc := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxConnsPerHost: 2, MaxIdleConnsPerHost: 2},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	type sent struct{ method, path, body, route string }
	reqs := []sent{
		{"POST", "/api/login", `{"email":"` + u.Email + `","password":"not the password"}`, "/api/login"},
		{"GET", "/healthz", "", "/healthz"},
		{"GET", "/readyz", "", "/readyz"},
		{"POST", "/api/signup", `{"name":"","email":"x","password":"y"}`, "/api/signup"},
		{"GET", "/login", "", "/login"},
		{"DELETE", "/api/wallet", "", "/api/*"},
		{"GET", "/api/operations/0190c0de-0000-7000-8000-000000000000", "", "/api/operations/:id"},
		{"PUT", "/api/wallet_to_wallet", `{}`, "/api/*"},
		{"GET", "/api/wallet", "", "/api/wallet"},
		{"POST", "/api/external_to_wallet", `{}`, "/api/external_to_wallet"},
		{"OPTIONS", "/api/wallet", "", "/api/*"},
		{"GET", "/signup", "", "/signup"},
		{"PATCH", "/api/login", `{}`, "/api/*"},
	}
	allowed := map[[2]string]bool{{"GET", "/metrics"}: true}
	for _, q := range reqs {
		allowed[[2]string{q.method, q.route}] = true
	}
	for round := range 40 {
		for i := range reqs {
			q := reqs[(i+round)%len(reqs)]
			var body io.Reader
			if q.body != "" {
				body = strings.NewReader(q.body)
			}
			req, _ := http.NewRequest(q.method, e.BaseURL+q.path, body)
			if q.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", q.method, q.path, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if round%10 == 9 {
			checkMetricLabels(t, hc, e.BaseURL, allowed)
		}
	}
}

// checkMetricLabels scrapes /metrics and checks every
// http_request_duration_seconds series against the (method, route) pairs
// sent.
func checkMetricLabels(t *testing.T, hc *http.Client, base string, allowed map[[2]string]bool) {
	t.Helper()
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics answered %d: %.500s", resp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics is not valid Prometheus text: %v", err)
	}
	fam := families["http_request_duration_seconds"]
	if fam == nil || len(fam.Metric) == 0 {
		t.Fatalf("/metrics has no http_request_duration_seconds series")
	}
	for _, m := range fam.Metric {
		var method, route string
		for _, l := range m.Label {
			switch l.GetName() {
			case "method":
				method = l.GetValue()
			case "route":
				route = l.GetValue()
			}
		}
		if !allowed[[2]string{method, route}] {
			t.Errorf("http_request_duration_seconds has method=%q route=%q, which no request sent", method, route)
		}
	}
}

// pageAlert is the error a web page shows, "" when none.
func pageAlert(r *Resp) string {
	return between(string(r.Raw), `<p class="error" role="alert">`, "</p>")
}
