package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/webhook"
)

// receiver is a webhook endpoint of the test's own: it verifies each
// delivery's signature and answers by its path's rule.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]string // path -> secret
	got     map[string][]receipt
	// gate holds the requests to /slow until it is closed; inFlight and
	// maxInFlight count them.
	gate                  chan struct{}
	inFlight, maxInFlight int
}

type receipt struct {
	ID, Type, Op string
	At           time.Time
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, secrets: map[string]string{}, got: map[string][]receipt{}, gate: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret := r.secrets[req.URL.Path]
	r.mu.Unlock()
	if err := webhook.Verify(secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("%s: a delivery that does not verify: %v", req.URL.Path, err)
		http.Error(w, "bad signature", 400)
		return
	}
	var ev struct {
		EventID string `json:"event_id"`
		Type    string `json:"type"`
		Data    struct {
			OperationID string `json:"operation_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.EventID != req.Header.Get("webhook-id") {
		r.t.Errorf("%s: body %s, webhook-id %s", req.URL.Path, body, req.Header.Get("webhook-id"))
	}
	r.mu.Lock()
	n := len(r.got[req.URL.Path])
	r.got[req.URL.Path] = append(r.got[req.URL.Path], receipt{ID: ev.EventID, Type: ev.Type, Op: ev.Data.OperationID, At: time.Now()})
	r.mu.Unlock()
	switch req.URL.Path {
	case "/ok":
		w.WriteHeader(204)
	case "/flaky": // 500 twice, then fine
		if n < 2 {
			w.WriteHeader(500)
		}
	case "/later": // busy once, with Retry-After
		if n == 0 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(503)
		}
	case "/gone":
		w.WriteHeader(410)
	case "/slow":
		r.mu.Lock()
		r.inFlight++
		r.maxInFlight = max(r.maxInFlight, r.inFlight)
		r.mu.Unlock()
		select {
		case <-r.gate:
		case <-req.Context().Done():
		}
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}
}

func (r *receiver) receipts(path string) []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.got[path]...)
}

// TestWebhookDeliveries: signed deliveries of a party's events, retries
// on 500 and on a refused connection with the backoff, Retry-After
// honoured, 410 disabling the endpoint, the delivery log and a manual
// retry.
func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 1, Env: map[string]string{
		"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_BACKOFF": "300ms,300ms,300ms",
	}})
	rcv := newReceiver(t)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")
	bc := e.Client(Basic(bob.Email, bob.Password))
	hooks := map[string]string{}
	for _, path := range []string{"/ok", "/flaky", "/later", "/gone", "/down"} {
		url := rcv.srv.URL + path
		if path == "/down" {
			url = "http://127.0.0.1:1/down" // nothing listens
		}
		r := bc.Must(t, "POST", "/api/webhooks", map[string]any{"url": url}, nil)
		Expect(t, r, http.StatusCreated)
		rcv.mu.Lock()
		rcv.secrets[path] = r.Str("secret")
		rcv.mu.Unlock()
		hooks[path] = r.Str("webhook_id")
	}
	r := e.Client(Basic(alice.Email, alice.Password)).Must(t, "POST", "/api/wallet_to_wallet",
		map[string]any{"wallet_id": bob.WalletID, "amount": "5.00"}, H{"Prefer": "wait=10"})
	Expect(t, r, http.StatusOK)
	op := r.Str("operation_id")

	log := func(path string) []map[string]any {
		r := bc.Must(t, "GET", "/api/webhooks/"+hooks[path]+"/deliveries", nil, nil)
		Expect(t, r, 200)
		var out []map[string]any
		for _, d := range r.Body["deliveries"].([]any) {
			out = append(out, d.(map[string]any))
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s", what)
			}
		}
	}
	status := func(path string) string {
		if l := log(path); len(l) == 1 {
			return l[0]["status"].(string)
		}
		return ""
	}
	waitFor("ok delivered", func() bool { return status("/ok") == "succeeded" })
	waitFor("flaky delivered on the third attempt", func() bool { return status("/flaky") == "succeeded" })
	waitFor("later delivered after its Retry-After", func() bool { return status("/later") == "succeeded" })
	waitFor("gone failed", func() bool { return status("/gone") == "failed" })
	waitFor("down failed after its attempts", func() bool { return status("/down") == "failed" })

	if got := rcv.receipts("/ok"); len(got) != 1 || got[0].Type != "operation.completed" || got[0].Op != op {
		t.Errorf("ok endpoint received %+v", got)
	}
	flaky := rcv.receipts("/flaky")
	if len(flaky) != 3 || flaky[0].ID != flaky[1].ID || flaky[1].ID != flaky[2].ID {
		t.Errorf("flaky endpoint: %+v, want three attempts with one webhook-id", flaky)
	}
	if l := log("/flaky"); l[0]["attempts"].(json.Number).String() != "3" || l[0]["last_status_code"].(json.Number).String() != "200" {
		t.Errorf("flaky's log: %v", l)
	}
	if later := rcv.receipts("/later"); len(later) != 2 || later[1].At.Sub(later[0].At) < 2*time.Second {
		t.Errorf("later endpoint: %+v, want the second attempt at least 2 s (Retry-After) after the first", later)
	}
	if l := log("/down"); l[0]["attempts"].(json.Number).String() != "4" || l[0]["last_error"] == nil {
		t.Errorf("down's log: %v, want 4 attempts (the first and three retries) and the error", l)
	}
	if l := log("/gone"); l[0]["attempts"].(json.Number).String() != "1" || l[0]["last_status_code"].(json.Number).String() != "410" {
		t.Errorf("gone's log: %v", l)
	}

	// A manual retry sends a succeeded delivery again, same webhook-id.
	first := log("/ok")[0]
	r = bc.Must(t, "POST", "/api/webhooks/"+hooks["/ok"]+"/deliveries/"+first["delivery_id"].(string)+"/retry", nil, nil)
	if r.Status != http.StatusAccepted || r.Str("status") != "pending" {
		t.Fatalf("retry: %s", r)
	}
	waitFor("the retried delivery", func() bool { return len(rcv.receipts("/ok")) == 2 })
	if got := rcv.receipts("/ok"); got[1].ID != got[0].ID {
		t.Errorf("a retry changed the webhook-id: %+v", got)
	}

	// The disabled endpoint gets nothing more.
	Expect(t, e.Client(Basic(alice.Email, alice.Password)).Must(t, "POST", "/api/wallet_to_wallet",
		map[string]any{"wallet_id": bob.WalletID, "amount": "1.00"}, H{"Prefer": "wait=10"}), http.StatusOK)
	waitFor("the second event delivered", func() bool { return len(rcv.receipts("/ok")) == 3 })
	time.Sleep(time.Second)
	if got := rcv.receipts("/gone"); len(got) != 1 {
		t.Errorf("a disabled endpoint received %d deliveries", len(got))
	}

	// Another's endpoint and deliveries are not found.
	ac := e.Client(Basic(alice.Email, alice.Password))
	ExpectError(t, ac.Must(t, "GET", "/api/webhooks/"+hooks["/ok"]+"/deliveries", nil, nil), 404, "webhook_not_found")
	ExpectError(t, ac.Must(t, "POST", "/api/webhooks/"+hooks["/ok"]+"/deliveries/"+first["delivery_id"].(string)+"/retry", nil, nil), 404, "delivery_not_found")
	ExpectError(t, bc.Must(t, "POST", "/api/webhooks/"+hooks["/ok"]+"/deliveries/01a23119-0000-7000-8000-00000000beef/retry", nil, nil), 404, "delivery_not_found")
}

// TestWebhooksThroughCrashes: a burst of transfers while workers are
// SIGKILLed and Redis is flushed: every party's endpoint gets every event
// of its operations at least once, each always under the same
// webhook-id, and the audit (which holds the outbox to one event per
// party) is clean.
func TestWebhooksThroughCrashes(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 2, OwnRedis: true, Env: map[string]string{
		"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_BACKOFF": "500ms,500ms,1s,1s,2s,2s,2s", "LOCK_TTL": "3s",
	}})
	rcv := newReceiver(t)
	const n = 4
	users := make([]user, n)
	clients := make([]*Client, n)
	for i := range users {
		users[i] = e.signup(t, fmt.Sprintf("Hook%d", i))
		clients[i] = e.Client(Basic(users[i].Email, users[i].Password))
		path := fmt.Sprintf("/ok%d", i)
		r := clients[i].Must(t, "POST", "/api/webhooks", map[string]any{"url": rcv.srv.URL + path}, nil)
		Expect(t, r, http.StatusCreated)
		rcv.mu.Lock()
		rcv.secrets[path] = r.Str("secret")
		rcv.mu.Unlock()
	}
	for i := range users {
		e.deposit(t, users[i].WalletID, "100.00")
	}

	var mu sync.Mutex
	type sent struct {
		op       string
		from, to int
	}
	var ops []sent
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			for k := range 15 {
				to := (g + 1 + k%(n-1)) % n
				body := map[string]any{"wallet_id": users[to].WalletID, "amount": "0.10"}
				r, err := submitTransfer(clients[g], body, fmt.Sprintf("burst-%d-%d", g, k), time.Second, time.Now().Add(40*time.Second))
				if err != nil || (r.Status != 202 && r.Status != 200) {
					t.Errorf("transfer: %v %v", r, err)
					continue
				}
				mu.Lock()
				ops = append(ops, sent{r.Str("operation_id"), g, to})
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	e.Workers[0].Kill()
	if err := e.Redis.FlushAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	e.Workers[1].Kill()
	e.Workers[0].Start()
	time.Sleep(500 * time.Millisecond)
	e.Workers[1].Start()
	wg.Wait()

	// Every completed transfer reaches both parties' endpoints.
	want := map[string]map[string]bool{} // path -> operation ids
	for _, s := range ops {
		r, err := pollFinal(clients[s.from], s.op, 60*time.Second)
		if err != nil || r.Str("status") != "completed" {
			t.Fatalf("transfer %s: %v %v", s.op, r, err)
		}
		for _, p := range []int{s.from, s.to} {
			path := fmt.Sprintf("/ok%d", p)
			if want[path] == nil {
				want[path] = map[string]bool{}
			}
			want[path][s.op] = true
		}
	}
	missing := func() int {
		m := 0
		for path, opsOf := range want {
			got := map[string]bool{}
			for _, r := range rcv.receipts(path) {
				got[r.Op] = true
			}
			for op := range opsOf {
				if !got[op] {
					m++
				}
			}
		}
		return m
	}
	for deadline := time.Now().Add(60 * time.Second); missing() > 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d events never delivered within 60 s of the burst", missing())
		}
	}
	for path := range want {
		ids := map[string]string{} // operation -> webhook-id
		for _, r := range rcv.receipts(path) {
			if id, seen := ids[r.Op]; seen && id != r.ID {
				t.Errorf("%s: operation %s delivered under two webhook-ids %s and %s", path, r.Op, id, r.ID)
			}
			ids[r.Op] = r.ID
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, code, err := e.RunAudit(ctx); err != nil || code != 0 {
		t.Errorf("audit: exit %d, %v:\n%s", code, err, out)
	}
}

// TestSlowEndpointDelaysNoOther: while one endpoint holds every request
// it gets, another endpoint of the same user gets all its deliveries,
// and the slow one never has more than WEBHOOK_PER_ENDPOINT requests in
// flight; once it answers, it gets all of its own too.
func TestSlowEndpointDelaysNoOther(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 1, Env: map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_PER_ENDPOINT": "3"}})
	rcv := newReceiver(t)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")
	bc := e.Client(Basic(bob.Email, bob.Password))
	for _, path := range []string{"/slow", "/ok"} {
		r := bc.Must(t, "POST", "/api/webhooks", map[string]any{"url": rcv.srv.URL + path}, nil)
		Expect(t, r, http.StatusCreated)
		rcv.mu.Lock()
		rcv.secrets[path] = r.Str("secret")
		rcv.mu.Unlock()
	}
	ac := e.Client(Basic(alice.Email, alice.Password))
	const n = 10
	for range n {
		Expect(t, ac.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "1.00"}, nil), http.StatusAccepted)
	}
	distinct := func(path string) int {
		ids := map[string]bool{}
		for _, rc := range rcv.receipts(path) {
			ids[rc.ID] = true
		}
		return len(ids)
	}
	for deadline := time.Now().Add(30 * time.Second); distinct("/ok") < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/ok got %d of %d deliveries while /slow held its requests", distinct("/ok"), n)
		}
	}
	rcv.mu.Lock()
	held, most := rcv.inFlight, rcv.maxInFlight
	rcv.mu.Unlock()
	if held == 0 || most > 3 {
		t.Errorf("/slow: %d requests held, at most %d at once; want some, and never more than 3", held, most)
	}
	close(rcv.gate)
	for deadline := time.Now().Add(60 * time.Second); distinct("/slow") < n; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/slow got %d of %d deliveries once it answered", distinct("/slow"), n)
		}
	}
}

// TestWorkersByQueue: a worker that serves the operations alone and one
// that serves the webhooks alone (WORKER_QUEUES) split the work: with the
// webhook worker stopped, transfers still complete and nothing is sent;
// once it is back, every delivery goes out.
func TestWorkersByQueue(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 2, Env: map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"},
		WorkerEnv: []map[string]string{{"WORKER_QUEUES": "operations"}, {"WORKER_QUEUES": "webhooks"}}})
	rcv := newReceiver(t)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "50.00")
	bc := e.Client(Basic(bob.Email, bob.Password))
	r := bc.Must(t, "POST", "/api/webhooks", map[string]any{"url": rcv.srv.URL + "/ok"}, nil)
	Expect(t, r, http.StatusCreated)
	rcv.mu.Lock()
	rcv.secrets["/ok"] = r.Str("secret")
	rcv.mu.Unlock()
	ac := e.Client(Basic(alice.Email, alice.Password))
	send := func() {
		t.Helper()
		Expect(t, ac.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": "1.00"},
			H{"Prefer": "wait=10"}), http.StatusOK)
	}
	waitReceived := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); len(rcv.receipts("/ok")) < n; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("received %d deliveries, want %d", len(rcv.receipts("/ok")), n)
			}
		}
	}
	send()
	waitReceived(1)

	e.Workers[1].Stop() // the webhook worker
	send()
	send()
	time.Sleep(2 * time.Second) // two relay ticks, had anyone been relaying
	if got := len(rcv.receipts("/ok")); got != 1 {
		t.Fatalf("with no webhook worker, %d deliveries arrived; want still 1", got)
	}
	e.Workers[1].Start()
	waitReceived(3)
}
