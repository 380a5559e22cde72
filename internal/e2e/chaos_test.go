package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The fault suite (issue 3, part 2). TestChaos starts two API processes
// and three workers against a Postgres cluster of its own and a Redis
// primary, replica and three Sentinels of its own (toxiproxy in front of
// each server), drives a seeded random workload of deposits and transfers from a
// few dozen users (one wallet hot, one kept nearly empty) through eight
// clients, and meanwhile, at seeded random moments: SIGKILLs workers (also
// mid-task) and APIs and starts them again, restarts them gracefully,
// FLUSHALLs Redis, kills and restarts the Redis primary, kills it for
// good so that the Sentinels fail over to the replica, stops Postgres as
// a crash does and starts it again, adds latency, connection resets and
// stalls on the network to either, terminates the service's
// Postgres connections, freezes a worker or an API (SIGSTOP), deletes the
// wallet locks or idempotency claims as they appear, and for a seeded
// window runs everything with LOCK_TTL far below the time an accept can
// take under these faults. Every request
// carries an Idempotency-Key and is retried with the same key and body
// after a transport error, a 5xx, a 409 or a 401 (with a new token); some
// are sent twice at once, some again after their 2xx. A poller reads
// balances all along. Afterwards it checks the service against the
// client's journal of every request and answer: nothing that got a 2xx is
// lost or left pending; each key made exactly one operation, named by all
// its 2xx answers, and one effect; no operation exists that the journal
// does not know; every balance, and the bank's settlement balance, is what
// the completed operations imply; no balance was seen below zero; and the
// ledger audit ("worker audit" and GET /api/admin/audit) is clean.
//
// Replay a run with the seed and duration it printed:
//
//	go test ./internal/e2e -run '^TestChaos$' -v -count=1 -args -chaos.seed=N -chaos.duration=D
//
// or make chaos SEED=N DURATION=D.

var (
	chaosSeed     = flag.Uint64("chaos.seed", chaosDefaultSeed, "TestChaos: seed of the workload and the faults (0: a random one, printed)")
	chaosDuration = flag.Duration("chaos.duration", 45*time.Second, "TestChaos: how long to drive the workload and inject faults")
)

// chaosDefaultSeed is the seed of make test's run.
const chaosDefaultSeed = 20261125

// chaosRegressions are runs that once exposed a bug; TestChaos replays
// each after the main run (not in -short mode, and not when -chaos.seed
// names another seed). A seed replays the workload and the fault
// schedule, not the exact timing, so these make the bug likely, not
// certain.
var chaosRegressions = []struct {
	seed     uint64
	duration time.Duration
	bug      string
}{
	{23, 30 * time.Second, "a twin request whose claim Redis lost answered 422 insufficient_funds although its key stored an operation"},
	{1, 10 * time.Second, "an idempotency claim outlived its SIGKILLed API for 30 s (409 request_in_progress)"},
}

// A key may answer 409 request_in_progress only while a request with it
// is still being accepted (API.md), which takes at most LOCK_WAIT and a
// commit; a key refused for longer than chaosMaxInProgress fails the run.
const chaosMaxInProgress = 10 * time.Second

// Workload shape.
const (
	chaosUsers       = 30
	chaosClients     = 8
	chaosHotShare    = 35 // percent of transfers sent by, and again received by, the hot wallet
	chaosNormalTTL   = "5s"
	chaosTinyTTL     = "150ms"
	chaosReqBudget   = 40 * time.Second // retries of one request
	chaosFinalBudget = 90 * time.Second // for every accepted operation to become final
)

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the fault suite in -short mode")
	}
	seed, d := *chaosSeed, *chaosDuration
	if seed == 0 {
		seed = 1 + rand.Uint64()%1_000_000_000
	}
	t.Logf("chaos seed=%d duration=%v", seed, d)
	fmt.Printf("chaos seed=%d duration=%v\n", seed, d)
	t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runChaos(t, seed, d, true) })
	if *chaosSeed != chaosDefaultSeed {
		return // a replay or a long run: just that seed
	}
	for _, r := range chaosRegressions {
		t.Run(fmt.Sprintf("regression/seed=%d", r.seed), func(t *testing.T) {
			t.Logf("regression for: %s", r.bug)
			runChaos(t, r.seed, r.duration, false)
		})
	}
}

// ---- the journal ----

// jAnswer is one answer (or transport error) to one attempt.
type jAnswer struct {
	At       time.Duration // since the run started
	Status   int           // 0: transport error
	Err      string
	Code     string // error.code
	OpID     string
	OpStatus string
	Replayed bool // Idempotent-Replayed: true
	Again    bool // a deliberate repeat of a request that had already got a 2xx
}

func (a jAnswer) String() string {
	if a.Status == 0 {
		return fmt.Sprintf("@%.2fs error %s", a.At.Seconds(), a.Err)
	}
	s := fmt.Sprintf("@%.2fs %d", a.At.Seconds(), a.Status)
	if a.Code != "" {
		s += " " + a.Code
	}
	if a.OpID != "" {
		s += " op=" + a.OpID + " " + a.OpStatus
	}
	if a.Replayed {
		s += " replayed"
	}
	if a.Again {
		s += " (repeat)"
	}
	return s
}

// jReq is one logical request (one Idempotency-Key) and every answer it got.
type jReq struct {
	Key      string
	Deposit  bool
	From, To int // user indexes; From is -1 for a deposit
	Cents    int64
	Body     map[string]any
	Answers  []jAnswer // guarded by chaos.mu
	Resolved bool      // got a definitive answer (guarded by chaos.mu)
	Twice    bool      // sent twice at once (a double submit)
}

func (r *jReq) path() string {
	if r.Deposit {
		return "/api/external_to_wallet"
	}
	return "/api/wallet_to_wallet"
}

func (r *jReq) describe() string {
	from := "bank"
	if !r.Deposit {
		from = "u" + strconv.Itoa(r.From)
	}
	return fmt.Sprintf("%s %s->u%d %s", r.Key, from, r.To, money(r.Cents))
}

// ---- the run ----

type chaosUser struct {
	user
	mu    sync.Mutex
	token string
	gen   int
}

type chaos struct {
	t    *testing.T
	e    *Env
	seed uint64
	// net are the toxiproxy proxies between the programs and Postgres
	// and Redis, by kind ("postgres", "redis").
	net   map[string][]*toxic // the proxies in front of "postgres" and "redis"
	redis *redisSet
	start time.Time
	ctx   context.Context // cancelled when the run is abandoned

	hc    *http.Client
	users []*chaosUser
	bank  *Client
	admin *Client

	mu      sync.Mutex
	journal []*jReq
	byKey   map[string]*jReq
	good    []*jReq // requests that got a 2xx, for deliberate repeats
	faults  []string
	slowest struct {
		took time.Duration
		req  *jReq
	}

	stats struct {
		sent, netErr, err5xx, busy, inProgress, unauth, refused, tokens, doubles atomic.Int64
	}
	hotAvail   atomic.Int64 // the hot and the tight wallet's available balances, as last read
	tightAvail atomic.Int64
	negSeen    atomic.Int64
	negFirst   atomic.Value // string
	negAvail   atomic.Int64
	polls      atomic.Int64
	unexpects  atomic.Int64
}

func (ch *chaos) since() time.Duration { return time.Since(ch.start) }

func (ch *chaos) logf(format string, args ...any) {
	ch.t.Helper()
	ch.t.Logf("[%6.2fs] "+format, append([]any{ch.since().Seconds()}, args...)...)
}

// errorf reports a failure, at most 40 times per run so a broken service
// does not drown the log.
func (ch *chaos) errorf(format string, args ...any) {
	ch.t.Helper()
	if n := ch.unexpects.Add(1); n <= 40 {
		ch.t.Errorf(format, args...)
	} else if n == 41 {
		ch.t.Errorf("... further failures not shown")
	}
}

// client returns a client on one of the API processes, chosen by rng (the
// first one if rng is nil), as a load balancer in front of them would.
func (ch *chaos) client(rng *rand.Rand, auth Auth) *Client {
	base := ch.e.BaseURL
	if rng != nil {
		base = ch.e.BaseURLs[rng.IntN(len(ch.e.BaseURLs))]
	}
	return &Client{base: base, hc: ch.hc, auth: auth}
}

// userAuth returns the user's current Bearer token (getting one first if
// needed) and its generation, or Basic credentials when basic is set.
func (ch *chaos) userAuth(u *chaosUser, basic bool) (Auth, int, error) {
	if basic {
		return Basic(u.Email, u.Password), -1, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.token == "" {
		if err := ch.newToken(u); err != nil {
			return nil, 0, err
		}
	}
	return Bearer(u.token), u.gen, nil
}

// renewToken replaces the token of generation gen after a 401 (Redis lost
// the sessions); a token already renewed by another goroutine is kept.
func (ch *chaos) renewToken(u *chaosUser, gen int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if gen >= 0 && u.gen != gen {
		return nil
	}
	return ch.newToken(u)
}

// newToken gets a token with Basic; u.mu is held.
func (ch *chaos) newToken(u *chaosUser) error {
	r, err := ch.client(nil, Basic(u.Email, u.Password)).Do("POST", "/api/tokens", nil, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusCreated || r.Str("access_token") == "" {
		return fmt.Errorf("new token: %s", r)
	}
	ch.stats.tokens.Add(1)
	u.token = r.Str("access_token")
	u.gen++
	return nil
}

// backoff sleeps before attempt n+1: exponential from 50 ms to 1 s with
// jitter, or what Retry-After asks (at most 5 s).
func (ch *chaos) backoff(rng *rand.Rand, n int, r *Resp) {
	d := min(50*time.Millisecond<<min(n, 5), time.Second)
	d = d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
	if r != nil && r.Header.Get("Retry-After") != "" {
		d = retryAfter(r, 5*time.Second) + time.Duration(rng.IntN(100))*time.Millisecond
	}
	select {
	case <-time.After(d):
	case <-ch.ctx.Done():
	}
}

// send submits req until it gets a definitive answer (a 2xx, or a 4xx
// other than 401 and 409), retrying with the same key and body after a
// transport error, a 5xx, a 409 wallet_busy or request_in_progress, or a
// 401 (with a new token), for at most chaosReqBudget. again marks a
// deliberate repeat of a request that already got a 2xx. It returns the
// last answer and whether it was definitive.
func (ch *chaos) send(rng *rand.Rand, req *jReq, again bool, hdr H) (jAnswer, bool) {
	began := ch.since()
	defer func() {
		took := ch.since() - began
		ch.mu.Lock()
		if took > ch.slowest.took {
			ch.slowest.took, ch.slowest.req = took, req
		}
		ch.mu.Unlock()
	}()
	var u *chaosUser
	var bank Auth
	if req.Deposit {
		bank = Basic(bankEmail, bankPassword)
	} else {
		u = ch.users[req.From]
	}
	r, a, ok := ch.post(rng, req.Key, req.path(), req.Body, hdr, u, bank, again, func(a jAnswer) {
		ch.mu.Lock()
		req.Answers = append(req.Answers, a)
		ch.mu.Unlock()
	})
	if ok {
		ch.checkAnswer(req, r, a)
	}
	return a, ok
}

// post is send's retry loop for any request: it POSTs body to path with
// the Idempotency-Key key, as u (a Bearer token, sometimes Basic) or with
// the fixed auth when u is nil, records every answer, and returns the
// definitive one.
func (ch *chaos) post(rng *rand.Rand, key, path string, body any, hdr H, u *chaosUser, auth Auth, again bool, record func(jAnswer)) (*Resp, jAnswer, bool) {
	deadline := time.Now().Add(chaosReqBudget)
	h := H{"Idempotency-Key": key}
	for k, v := range hdr {
		h[k] = v
	}
	for n := 0; ; n++ {
		if ch.ctx.Err() != nil {
			return nil, jAnswer{Err: "run abandoned"}, false
		}
		c := ch.client(rng, auth)
		gen := -1
		if u != nil {
			ua, g, err := ch.userAuth(u, rng.IntN(5) == 0)
			if err != nil {
				ch.stats.netErr.Add(1)
				if time.Now().After(deadline) {
					return nil, jAnswer{At: ch.since(), Err: "no token: " + err.Error()}, false
				}
				ch.backoff(rng, n, nil)
				continue
			}
			c, gen = ch.client(rng, ua), g
		}
		ch.stats.sent.Add(1)
		r, err := c.Do("POST", path, body, h)
		a := jAnswer{At: ch.since(), Again: again}
		if err != nil {
			a.Err = err.Error()
		} else {
			a.Status, a.Code, a.OpID, a.OpStatus = r.Status, r.ErrCode(), r.Str("operation_id"), r.Str("status")
			a.Replayed = r.Header.Get("Idempotent-Replayed") == "true"
		}
		record(a)

		retry := false
		switch {
		case err != nil:
			ch.stats.netErr.Add(1)
			retry = true
		case r.Status >= 500:
			ch.stats.err5xx.Add(1)
			retry = true
		case r.Status == http.StatusConflict && a.Code == "wallet_busy":
			ch.stats.busy.Add(1)
			if r.Header.Get("Retry-After") == "" {
				ch.errorf("%s: 409 wallet_busy without Retry-After: %s", key, r)
			}
			retry = true
		case r.Status == http.StatusConflict && a.Code == "request_in_progress":
			ch.stats.inProgress.Add(1)
			retry = true
		case r.Status == http.StatusUnauthorized && u != nil:
			// A flushed or restarted Redis lost the sessions.
			ch.stats.unauth.Add(1)
			if gen < 0 {
				ch.errorf("%s: Basic credentials refused: %s", key, r)
			} else if err := ch.renewToken(u, gen); err != nil {
				ch.stats.netErr.Add(1)
			}
			retry = true
		}
		if !retry {
			return r, a, true
		}
		if time.Now().After(deadline) {
			return r, a, false
		}
		ch.backoff(rng, n, r)
	}
}

// checkAnswer checks a definitive answer against the request as it comes.
func (ch *chaos) checkAnswer(req *jReq, r *Resp, a jAnswer) {
	ch.mu.Lock()
	req.Resolved = true
	ch.mu.Unlock()
	switch {
	case r.Status == http.StatusOK || r.Status == http.StatusAccepted:
		if a.OpID == "" {
			ch.errorf("%s: 2xx without operation_id: %s", req.describe(), r)
			return
		}
		if err := ch.sameOp(req, r.Body); err != nil {
			ch.errorf("%s: the answer is not this request's operation: %v: %s", req.describe(), err, r)
		}
		if r.Header.Get("Location") != "/api/operations/"+a.OpID {
			ch.errorf("%s: Location %q, want /api/operations/%s", req.Key, r.Header.Get("Location"), a.OpID)
		}
		if r.Status == http.StatusAccepted && isFinal(a.OpStatus) && !a.Replayed && r.Header.Get("Preference-Applied") != "" {
			ch.errorf("%s: 202 for a final operation after a wait: %s", req.Key, r)
		}
		if a.Again && !a.Replayed {
			ch.errorf("%s: a repeat of a request that got a 2xx is not marked Idempotent-Replayed: %s", req.Key, r)
		}
		ch.mu.Lock()
		first := !a.Again
		if first {
			ch.good = append(ch.good, req)
		}
		ch.mu.Unlock()
	case r.Status == http.StatusUnprocessableEntity && a.Code == "insufficient_funds" && !req.Deposit && !a.Again:
		ch.stats.refused.Add(1)
	default:
		ch.errorf("%s: unexpected answer (repeat=%v): %s", req.describe(), a.Again, r)
	}
}

// sameOp checks that an operation object is the one req asks for.
func (ch *chaos) sameOp(req *jReq, op map[string]any) error {
	str := func(k string) string { s, _ := op[k].(string); return s }
	typ, from := "wallet_to_wallet", ""
	if req.Deposit {
		typ = "external_to_wallet"
	} else {
		from = ch.users[req.From].WalletID
	}
	var bad []string
	if str("type") != typ {
		bad = append(bad, "type "+str("type"))
	}
	if str("amount") != money(req.Cents) {
		bad = append(bad, "amount "+str("amount"))
	}
	if str("to_wallet_id") != ch.users[req.To].WalletID {
		bad = append(bad, "to_wallet_id "+str("to_wallet_id"))
	}
	if from != "" && str("from_wallet_id") != from {
		bad = append(bad, "from_wallet_id "+str("from_wallet_id"))
	}
	if str("details") != req.Key {
		bad = append(bad, "details "+str("details"))
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, ", "))
	}
	return nil
}

func (ch *chaos) newReq(key string, deposit bool, from, to int, c int64) *jReq {
	req := &jReq{Key: key, Deposit: deposit, From: from, To: to, Cents: c,
		Body: map[string]any{"wallet_id": ch.users[to].WalletID, "amount": money(c), "details": key}}
	if !deposit && c%2 == 1 {
		// Amounts also travel as JSON numbers; the key's request hash must
		// not care.
		req.Body["amount"] = jsonNumber(money(c))
	}
	ch.mu.Lock()
	ch.journal = append(ch.journal, req)
	ch.byKey[key] = req
	ch.mu.Unlock()
	return req
}

// jsonNumber is an amount sent as a JSON number, written exactly.
type jsonNumber string

func (n jsonNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

// runClient drives the workload from one client until stop is closed.
func (ch *chaos) runClient(id int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(ch.seed, uint64(id)+1))
	const hot, tight = 0, 1
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		var hdr H
		if rng.IntN(4) == 0 {
			hdr = H{"Prefer": "wait=" + strconv.Itoa(1+rng.IntN(3))}
		}
		p := rng.IntN(100)
		ch.mu.Lock()
		ngood := len(ch.good)
		var repeat *jReq
		if p < 5 && ngood > 0 {
			repeat = ch.good[rng.IntN(ngood)]
		}
		ch.mu.Unlock()
		key := fmt.Sprintf("chaos-%d-c%d-%d", ch.seed, id, n)
		switch {
		case repeat != nil:
			ch.send(rng, repeat, true, hdr)
		case p < 22:
			to, c := rng.IntN(len(ch.users)), int64(100_00+rng.IntN(1_900_00))
			switch q := rng.IntN(100); {
			case q < 30:
				to = hot
			case q < 45:
				to, c = tight, int64(10_00+rng.IntN(90_00))
			}
			ch.send(rng, ch.newReq(key, true, -1, to, c), false, hdr)
		case p < 32:
			// The tight wallet tries to send most of what it has, from
			// several clients at once: only the locks and the conditional
			// debit keep it from going below zero.
			to := 2 + rng.IntN(len(ch.users)-2)
			c := max(ch.tightAvail.Load()*int64(50+rng.IntN(50))/100, 1_00)
			// Double submits are frequent here, where a duplicate that is
			// not recognised as one would find the funds gone.
			ch.submit(rng, ch.newReq(key, false, tight, to, c), 25, hdr)
		default:
			from, to := rng.IntN(len(ch.users)), rng.IntN(len(ch.users))
			switch q := rng.IntN(100); {
			case q < chaosHotShare:
				from = hot
			case q < 2*chaosHotShare:
				to = hot
			}
			for to == from {
				to = rng.IntN(len(ch.users))
			}
			c := int64(1_00 + rng.IntN(300_00))
			switch q := rng.IntN(100); {
			case q < 8:
				c = int64(1_000_00 + rng.IntN(20_000_00)) // often more than the sender has
			case q < 20 && from == hot && ch.hotAvail.Load() > 2_00:
				// Most of what the hot wallet last had: of two such transfers
				// at once only one can complete.
				c = ch.hotAvail.Load() * int64(40+rng.IntN(40)) / 100
			}
			ch.submit(rng, ch.newReq(key, false, from, to, c), 3, hdr)
		}
		time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
	}
}

// submit sends a new transfer, with the given chance in percent twice at
// once (a double submit): one copy is accepted, the other waits
// (request_in_progress) and then replays it.
func (ch *chaos) submit(rng *rand.Rand, req *jReq, twice int, hdr H) {
	if rng.IntN(100) >= twice {
		ch.send(rng, req, false, hdr)
		return
	}
	req.Twice = true
	twin := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	lag := time.Duration(rng.IntN(20_000)) * time.Microsecond // a double click
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(lag)
		ch.send(twin, req, false, hdr)
	}()
	ch.send(rng, req, false, hdr)
	<-done
	ch.stats.doubles.Add(1)
}

// poll reads balances until stop is closed and records any below zero.
func (ch *chaos) poll(stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(ch.seed, 0xba1a))
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		i := rng.IntN(len(ch.users))
		switch rng.IntN(4) {
		case 0, 1:
			i = 0 // hot
		case 2:
			i = 1 // tight
		}
		u := ch.users[i]
		r, err := ch.client(rng, Basic(u.Email, u.Password)).Do("GET", "/api/wallet", nil, nil)
		if err != nil || r.Status != http.StatusOK {
			continue
		}
		ch.polls.Add(1)
		b, err1 := cents(r.Str("balance"))
		a, err2 := cents(r.Str("available"))
		if err1 != nil || err2 != nil {
			ch.errorf("wallet of u%d: %v %v: %s", i, err1, err2, r)
			continue
		}
		if b < 0 {
			if ch.negSeen.Add(1) == 1 {
				ch.negFirst.Store(fmt.Sprintf("@%.2fs u%d: %s", ch.since().Seconds(), i, r))
			}
		}
		if a < 0 {
			ch.negAvail.Add(1)
		}
		switch i {
		case 0:
			ch.hotAvail.Store(a)
		case 1:
			ch.tightAvail.Store(a)
		}
	}
}

// ---- faults ----

type fault struct {
	name   string
	weight int
	run    func(ch *chaos, rng *rand.Rand) string
}

var faults = []fault{
	{"kill-worker", 3, func(ch *chaos, rng *rand.Rand) string {
		w := ch.e.Workers[rng.IntN(len(ch.e.Workers))]
		w.Kill()
		down := time.Duration(rng.IntN(1500)) * time.Millisecond
		time.Sleep(down)
		w.Start()
		return fmt.Sprintf("SIGKILL %s, restarted after %v", w.Name, down)
	}},
	{"kill-worker-in-flight", 3, func(ch *chaos, rng *rand.Rand) string {
		w := ch.e.Workers[rng.IntN(len(ch.e.Workers))]
		seen := ch.e.KillInFlight(w)
		down := time.Duration(rng.IntN(1000)) * time.Millisecond
		time.Sleep(down)
		w.Start()
		return fmt.Sprintf("SIGKILL %s with a task in flight (seen: %v), restarted after %v", w.Name, seen, down)
	}},
	{"restart-worker", 1, func(ch *chaos, rng *rand.Rand) string {
		// A graceful stop under load must finish the tasks in flight and
		// exit 0 (Proc.Stop checks).
		w := ch.e.Workers[rng.IntN(len(ch.e.Workers))]
		w.Restart()
		return fmt.Sprintf("SIGTERM %s (graceful), restarted", w.Name)
	}},
	{"kill-api", 3, func(ch *chaos, rng *rand.Rand) string {
		i := rng.IntN(len(ch.e.APIs))
		api := ch.e.APIs[i]
		api.Kill()
		down := time.Duration(rng.IntN(800)) * time.Millisecond
		time.Sleep(down)
		api.Start()
		ch.e.WaitReadyAt(i)
		return fmt.Sprintf("SIGKILL %s, restarted after %v", api.Name, down)
	}},
	{"restart-api", 1, func(ch *chaos, rng *rand.Rand) string {
		i := rng.IntN(len(ch.e.APIs))
		ch.e.APIs[i].Restart()
		ch.e.WaitReadyAt(i)
		return fmt.Sprintf("SIGTERM %s (graceful), restarted", ch.e.APIs[i].Name)
	}},
	{"flush-redis", 3, func(ch *chaos, rng *rand.Rand) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p, err := ch.redis.Primary(ctx)
		if err == nil {
			err = ch.redis.Servers[p].FlushAll(ctx)
		}
		if err != nil {
			return "FLUSHALL failed: " + err.Error()
		}
		return "FLUSHALL the redis primary (the replica follows)"
	}},
	{"restart-redis", 2, func(ch *chaos, rng *rand.Rand) string {
		// The primary dies and is back, empty, before the Sentinels act
		// (or just as they do): everything in Redis is gone.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := ch.redis.Primary(ctx)
		cancel()
		if err != nil {
			return "restart failed: " + err.Error()
		}
		r := ch.redis.Servers[p]
		r.Kill()
		down := time.Duration(rng.IntN(900)) * time.Millisecond
		time.Sleep(down)
		if err := r.Start(); err != nil {
			ch.t.Fatalf("restart own redis: %v", err)
		}
		// A primary back this fast, empty, can leave the Sentinels
		// with a split set (each server replicating the other) that
		// they never mend: that is Redis's own hazard of a restarted
		// primary without persistence, not the service's, so the set is
		// repaired as an operator would and the run goes on.
		if err := ch.redis.Settle(30 * time.Second); err != nil {
			ch.logf("after restarting the redis primary: %v", err)
			if err := ch.redis.Repair(30 * time.Second); err != nil {
				ch.errorf("repairing the redis set after restarting its primary: %v", err)
			}
			return fmt.Sprintf("SIGKILL the redis primary, restarted empty after %v; the set did not settle and was repaired", down)
		}
		return fmt.Sprintf("SIGKILL the redis primary, restarted empty after %v", down)
	}},
	{"redis-failover", 2, func(ch *chaos, rng *rand.Rand) string {
		// The primary dies for good: the Sentinels promote the replica and
		// every program must follow them to it.
		took, err := ch.redis.Failover(30 * time.Second)
		if err != nil {
			ch.errorf("redis failover: %v", err)
			return "failover failed: " + err.Error()
		}
		return fmt.Sprintf("SIGKILL the redis primary: the replica promoted after %v, the old primary back as its replica", took.Round(time.Millisecond))
	}},
	{"pg-terminate", 3, func(ch *chaos, rng *rand.Rand) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := ch.e.TerminatePostgresConns(ctx)
		if err != nil {
			return "pg_terminate_backend failed: " + err.Error()
		}
		return fmt.Sprintf("pg_terminate_backend: %d connections", n)
	}},
	{"restart-postgres", 1, func(ch *chaos, rng *rand.Rand) string {
		// The database server stops as a crash stops it (no checkpoint,
		// every connection cut) and comes back after crash recovery:
		// meanwhile the programs answer 503 and retry, and nothing
		// accepted may be lost or applied twice.
		if err := ch.e.Postgres.StopImmediate(); err != nil {
			return "pg_ctl stop failed: " + err.Error()
		}
		down := time.Duration(300+rng.IntN(1700)) * time.Millisecond
		time.Sleep(down)
		if err := ch.e.Postgres.Start(); err != nil {
			ch.t.Fatalf("restart own postgres: %v", err)
		}
		return fmt.Sprintf("pg_ctl stop -m immediate, started again after %v", down)
	}},
	{"net-latency", 1, func(ch *chaos, rng *rand.Rand) string {
		// A slow network to both dependencies for a while.
		d := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		lat := 5 + rng.IntN(30)
		withToxic(ch.proxies(), "chaos-lat", fmt.Sprintf(`{"name":"chaos-lat","type":"latency","stream":"downstream","attributes":{"latency":%d,"jitter":%d}}`, lat, lat/2), d)
		return fmt.Sprintf("latency %d±%d ms to Postgres and Redis for %v", lat, lat/2, d)
	}},
	{"net-reset", 2, func(ch *chaos, rng *rand.Rand) string {
		// Connections reset by peer, whatever they were doing (a
		// transaction, a commit, a lock try, a dequeue).
		kind := []string{"postgres", "redis"}[rng.IntN(2)]
		d := time.Duration(50+rng.IntN(300)) * time.Millisecond
		withToxic(ch.net[kind], "chaos-reset", `{"name":"chaos-reset","type":"reset_peer","attributes":{"timeout":0}}`, d)
		return fmt.Sprintf("%s connections reset for %v", kind, d)
	}},
	{"net-stall", 1, func(ch *chaos, rng *rand.Rand) string {
		// Nothing passes, connections stay open: the bounded steps
		// (ACCEPT_TIMEOUT, statement_timeout) must give up, not hang.
		kind := []string{"postgres", "redis"}[rng.IntN(2)]
		d := time.Duration(300+rng.IntN(1700)) * time.Millisecond
		withToxic(ch.net[kind], "chaos-stall", `{"name":"chaos-stall","type":"timeout","attributes":{"timeout":0}}`, d)
		return fmt.Sprintf("%s stalled for %v", kind, d)
	}},
	{"stall-api", 2, func(ch *chaos, rng *rand.Rand) string {
		// A paused API (a GC pause, a slow host) outlives the locks of the
		// requests it is accepting when LOCK_TTL is tiny: others may then
		// take the same wallets and decide on the same balance.
		api := ch.e.APIs[rng.IntN(len(ch.e.APIs))]
		d := time.Duration(200+rng.IntN(800)) * time.Millisecond
		api.Signal(syscall.SIGSTOP)
		time.Sleep(d)
		api.Signal(syscall.SIGCONT)
		return fmt.Sprintf("SIGSTOP %s for %v", api.Name, d)
	}},
	{"steal-locks", 2, func(ch *chaos, rng *rand.Rand) string {
		// Wallet locks, idempotency claims, or both vanish at any instant
		// for a while, also between an API's balance check and
		// its insert and while a worker applies: what a lock that expires
		// under its holder, or a Redis that loses keys, looks like to
		// others. Postgres must still decide right.
		d := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		patterns := [][]string{{"*:lock:wallet:*"}, {"*:claim:*"}, {"*:lock:wallet:*", "*:claim:*"}}[rng.IntN(3)]
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		rdb := ch.e.RedisClient()
		defer rdb.Close()
		stolen := 0
		for ctx.Err() == nil {
			var keys []string
			for _, p := range patterns {
				k, _ := rdb.Keys(ctx, p).Result()
				keys = append(keys, k...)
			}
			if len(keys) > 0 {
				n, _ := rdb.Del(ctx, keys...).Result()
				stolen += int(n)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return fmt.Sprintf("deleted %v keys as they appeared for %v: %d", patterns, d, stolen)
	}},
	{"stall-worker", 2, func(ch *chaos, rng *rand.Rand) string {
		// A worker frozen mid-task: the sweeper may apply its operations
		// meanwhile, and the accepts for the same wallets go on (their
		// locks were released when the group was stored).
		w := ch.e.Workers[rng.IntN(len(ch.e.Workers))]
		d := time.Duration(200+rng.IntN(2800)) * time.Millisecond
		w.Signal(syscall.SIGSTOP)
		time.Sleep(d)
		w.Signal(syscall.SIGCONT)
		return fmt.Sprintf("SIGSTOP %s for %v", w.Name, d)
	}},
}

// withToxic adds the toxic (toxiproxy's JSON, named name) to every proxy
// for d, then takes it away.
func withToxic(proxies []*toxic, name, json string, d time.Duration) {
	for _, p := range proxies {
		p.add(json)
	}
	time.Sleep(d)
	for _, p := range proxies {
		p.remove(name)
	}
}

// proxies are every proxy in front of a dependency.
func (ch *chaos) proxies() []*toxic {
	return append(append([]*toxic(nil), ch.net["postgres"]...), ch.net["redis"]...)
}

// setLockTTL restarts every program, gracefully, with LOCK_TTL=ttl.
func (ch *chaos) setLockTTL(ttl string) {
	for _, p := range ch.e.procs() {
		p.SetEnv("LOCK_TTL", ttl)
	}
	for i, api := range ch.e.APIs {
		api.Restart()
		ch.e.WaitReadyAt(i)
	}
	for _, w := range ch.e.Workers {
		w.Restart()
	}
}

func (ch *chaos) fault(rng *rand.Rand, f fault) {
	start := ch.since()
	msg := f.run(ch, rng)
	line := fmt.Sprintf("[%6.2fs] %-22s %s (%.1fs)", start.Seconds(), f.name, msg, (ch.since() - start).Seconds())
	ch.mu.Lock()
	ch.faults = append(ch.faults, line)
	ch.mu.Unlock()
	ch.t.Log(line)
}

// injectFaults runs faults at seeded random moments until d has passed
// (and, with everyKind, each kind has run): first each kind once in a
// seeded order, then by weight; and for a seeded window of the run every
// program runs with a tiny LOCK_TTL.
func (ch *chaos) injectFaults(d time.Duration, tinyFrom, tinyTo time.Duration, everyKind bool) map[string]int {
	rng := rand.New(rand.NewPCG(ch.seed, 0xfa17))
	counts := map[string]int{}
	total := 0
	for _, f := range faults {
		total += f.weight
	}
	order := rng.Perm(len(faults))
	tiny := tinyFrom == 0
	for n := 0; ; {
		gap := time.Duration(300+rng.IntN(2200)) * time.Millisecond
		if ch.since()+gap >= d && (!everyKind || n >= len(order)) {
			break
		}
		time.Sleep(gap)
		now := ch.since()
		if !tiny && now >= tinyFrom && now < tinyTo {
			ch.fault(rng, fault{"lock-ttl", 0, func(ch *chaos, _ *rand.Rand) string {
				ch.setLockTTL(chaosTinyTTL)
				return "restarted every program with LOCK_TTL=" + chaosTinyTTL
			}})
			counts["lock-ttl"]++
			tiny = true
			continue
		}
		if tiny && now >= tinyTo {
			ch.fault(rng, fault{"lock-ttl", 0, func(ch *chaos, _ *rand.Rand) string {
				ch.setLockTTL(chaosNormalTTL)
				return "restarted every program with LOCK_TTL=" + chaosNormalTTL
			}})
			counts["lock-ttl"]++
			tiny = false
			continue
		}
		var f fault
		if n < len(order) {
			f = faults[order[n]]
		} else {
			w := rng.IntN(total)
			for _, c := range faults {
				if w < c.weight {
					f = c
					break
				}
				w -= c.weight
			}
		}
		ch.fault(rng, f)
		counts[f.name]++
		n++
	}
	return counts
}

// ---- the run ----

// runChaos runs one seed for d; everyKind runs past d, if need be, until
// each kind of fault has been injected once (a regression seed replays
// what it did when it was found).
func runChaos(t *testing.T, seed uint64, d time.Duration, everyKind bool) {
	// Seeded choices of the run itself (the clients and the fault injector
	// have their own streams).
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var tinyFrom, tinyTo time.Duration
	if rng.IntN(4) == 0 {
		tinyFrom, tinyTo = 0, d*time.Duration(30+rng.IntN(30))/100
	} else {
		tinyFrom = d * time.Duration(15+rng.IntN(30)) / 100
		tinyTo = tinyFrom + d*time.Duration(25+rng.IntN(20))/100
	}
	ttl := chaosNormalTTL
	if tinyFrom == 0 {
		ttl = chaosTinyTTL
	}
	// Redis is a primary, a replica and three Sentinels; toxiproxy sits in
	// front of both servers and of Postgres.
	set := startSentinels(t, true)
	net := map[string][]*toxic{"redis": set.Proxies}
	e := StartEnvWith(t, Options{Workers: 3, APIs: 2, RedisURL: set.URL, OwnPostgres: true, Via: func(kind, raw string) string {
		if kind != "postgres" {
			return raw // the Sentinels name the proxied servers
		}
		p, via := newToxicProxy(t, kind, raw)
		net[kind] = []*toxic{p}
		return via
	}, Env: map[string]string{
		"LOCK_TTL": ttl, "LOG_LEVEL": "warn", "SHUTDOWN_TIMEOUT": "10s",
	}})
	ctx, abandon := context.WithCancel(context.Background())
	defer abandon()
	ch := &chaos{t: t, e: e, seed: seed, ctx: ctx, net: net, redis: set, byKey: map[string]*jReq{},
		hc: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	ch.bank = ch.client(nil, Basic(bankEmail, bankPassword))
	ch.admin = ch.client(nil, Basic(adminEmail, adminPassword))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay: go test ./internal/e2e -run '^TestChaos$' -count=1 -v -args -chaos.seed=%d -chaos.duration=%v  (or make chaos SEED=%d DURATION=%v)", seed, d, seed, d)
		}
	})

	// Users and their first deposits, through the journal like the rest.
	ch.start = time.Now()
	for i := 0; i < chaosUsers; i++ {
		name := fmt.Sprintf("Chaos%d", i)
		switch i {
		case 0:
			name = "Hot"
		case 1:
			name = "Tight"
		}
		ch.users = append(ch.users, &chaosUser{user: e.signup(t, name)})
	}
	setup := rand.New(rand.NewPCG(seed, 0x5e7))
	for i := range ch.users {
		c := int64(500_00)
		if i == 0 {
			c = 5_000_00
		}
		if _, ok := ch.send(setup, ch.newReq(fmt.Sprintf("chaos-%d-setup-%d", seed, i), true, -1, i, c), false, nil); !ok {
			t.Fatalf("setup deposit %d got no answer", i)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	mc := ch.setupMoney()
	ch.logf("chaos seed=%d duration=%v: %d APIs, %d workers, %d users, %d clients, LOCK_TTL=%s from %.1fs to %.1fs (else %s)",
		seed, d, len(e.APIs), len(e.Workers), len(ch.users), chaosClients, chaosTinyTTL, tinyFrom.Seconds(), tinyTo.Seconds(), chaosNormalTTL)

	// The workload and the balance poller.
	ch.start = time.Now()
	stopClients, stopPoller := make(chan struct{}), make(chan struct{})
	var clients, poller sync.WaitGroup
	for i := 0; i < chaosClients; i++ {
		clients.Add(1)
		go func() { defer clients.Done(); ch.runClient(i, stopClients) }()
	}
	for i := 0; i < chaosMoneyClients; i++ {
		clients.Add(1)
		go func() { defer clients.Done(); mc.run(i, stopClients) }()
	}
	poller.Add(1)
	go func() { defer poller.Done(); ch.poll(stopPoller) }()
	stopped := false
	stopAll := func() {
		if stopped {
			return
		}
		stopped = true
		close(stopClients)
		clients.Wait()
		close(stopPoller)
		poller.Wait()
	}
	defer func() {
		// On a t.Fatal in the fault loop: end the clients' retries first.
		abandon()
		stopAll()
	}()

	counts := ch.injectFaults(d, tinyFrom, tinyTo, everyKind)
	var summary []string
	for _, k := range sortedKeys(counts) {
		summary = append(summary, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	ch.logf("faults stopped: %s", strings.Join(summary, " "))
	stopAll()
	ch.logf("workload stopped")

	// Requests that never got a definitive answer are sent again, now
	// that the faults have stopped: the key decides whether they were
	// accepted.
	var open []*jReq
	for _, r := range ch.journal {
		if !r.Resolved {
			open = append(open, r)
		}
	}
	if len(open) > 0 {
		ch.logf("%d requests without a definitive answer; sending them again", len(open))
		resend := rand.New(rand.NewPCG(seed, 0x7e5))
		// Each resend may take its full patience; a service that answers
		// none of three in a row is broken, and the rest would only make
		// the run last.
		const giveUp = 3
		unanswered := 0
		for i, r := range open {
			if unanswered == giveUp {
				ch.errorf("%d more requests without a definitive answer not sent again: the last %d sent got none", len(open)-i, giveUp)
				break
			}
			if a, ok := ch.send(resend, r, false, nil); !ok {
				unanswered++
				ch.errorf("%s: no definitive answer even after the faults stopped; last: %s", r.describe(), a)
			} else {
				unanswered = 0
			}
		}
	}

	mc.verify()
	ch.verify()
}

// ---- the checks ----

type finalOp struct {
	resp *Resp
	err  error
}

func (ch *chaos) verify() {
	t := ch.t
	// Each key's answers: every 2xx names the same operation, and no
	// operation belongs to two keys.
	opOf := map[string]*jReq{}
	var accepted []string
	var stats struct{ reqs, answers, twoxx, repeats int }
	for _, r := range ch.journal {
		stats.reqs++
		id, firstStatus := "", 0
		for _, a := range r.Answers {
			stats.answers++
			if a.Again {
				stats.repeats++
			}
			if a.Status != http.StatusOK && a.Status != http.StatusAccepted {
				// A refusal (4xx) stores nothing, so a later attempt with the
				// key is a fresh one and may be accepted (README); but once a
				// 2xx has arrived, the key is taken and must replay it.
				if id != "" && a.Status >= 400 && a.Status < 500 && a.Status != http.StatusConflict && a.Status != http.StatusUnauthorized {
					msg := fmt.Sprintf("%s: after a 2xx naming %s it answered %s; answers: %v", r.describe(), id, a, r.Answers)
					// Regression: a twin whose claim Redis lost found the funds
					// taken by its own copy and answered 422 (now the key decides).
					ch.errorf("%s", msg)
				}
				continue
			}
			stats.twoxx++
			if firstStatus == 0 && id == "" && !a.Replayed {
				firstStatus = a.Status // the server's first answer to this key
			}
			// A deliberate repeat starts after the first answer arrived, so it
			// must replay that answer's status. (The twin of a double submit
			// may be served while the first still waits.)
			if firstStatus != 0 && a.Again && a.Status != firstStatus {
				ch.errorf("%s: a replay answered %d, the first answer was %d; answers: %v", r.describe(), a.Status, firstStatus, r.Answers)
			}
			switch {
			case id == "":
				id = a.OpID
			case a.OpID != id:
				ch.errorf("%s: one key, two operations: %s and %s; answers: %v", r.describe(), id, a.OpID, r.Answers)
			}
		}
		if id == "" {
			continue
		}
		if other, ok := opOf[id]; ok {
			ch.errorf("operation %s returned for two keys: %s and %s", id, other.Key, r.Key)
		}
		opOf[id] = r
		accepted = append(accepted, id)
	}
	var longest time.Duration
	var longestReq *jReq
	for _, r := range ch.journal {
		var since time.Duration = -1
		for _, a := range r.Answers {
			inProgress := a.Status == http.StatusConflict && a.Code == "request_in_progress"
			switch {
			case inProgress && since < 0:
				since = a.At
			case inProgress:
				if d := a.At - since; d > longest {
					longest, longestReq = d, r
				}
			default:
				since = -1
			}
		}
	}
	if longest > chaosMaxInProgress {
		msg := fmt.Sprintf("%s answered 409 request_in_progress for %.1fs on end, longer than any accept takes: %v",
			longestReq.describe(), longest.Seconds(), longestReq.Answers)
		// Regression: a claim outlived its crashed API for 30 s.
		ch.errorf("%s", msg)
	}
	if r := ch.slowest.req; r != nil {
		ch.logf("slowest request: %s took %.1fs; its last answers: %v", r.describe(), ch.slowest.took.Seconds(), r.Answers[max(0, len(r.Answers)-3):])
	}
	ch.logf("journal: %d requests (%d accepted, %d sent twice at once), %d answers, %d of them 2xx, %d deliberate repeats",
		stats.reqs, len(accepted), ch.stats.doubles.Load(), stats.answers, stats.twoxx, stats.repeats)
	ch.logf("retries: %d transport errors, %d 5xx, %d wallet_busy, %d request_in_progress, %d 401 (%d tokens issued); %d refused insufficient_funds",
		ch.stats.netErr.Load(), ch.stats.err5xx.Load(), ch.stats.busy.Load(), ch.stats.inProgress.Load(),
		ch.stats.unauth.Load(), ch.stats.tokens.Load(), ch.stats.refused.Load())

	// Every accepted operation becomes final, within the bound.
	final := make(map[string]finalOp, len(accepted))
	var fmu sync.Mutex
	waitStart := time.Now()
	deadline := waitStart.Add(chaosFinalBudget)
	var idx atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < chaosClients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(idx.Add(1)) - 1
				if i >= len(accepted) {
					return
				}
				var r *Resp
				var err error
				for {
					r, err = pollFinal(ch.admin, accepted[i], time.Until(deadline))
					if err == nil || time.Now().After(deadline) || (r != nil && r.Status < 500) {
						break
					}
					time.Sleep(100 * time.Millisecond) // a transport error or a 5xx: ask again
				}
				fmu.Lock()
				final[accepted[i]] = finalOp{r, err}
				fmu.Unlock()
			}
		}()
	}
	wg.Wait()
	ch.logf("waited %.1fs for the accepted operations to be final", time.Since(waitStart).Seconds())

	want := make([]int64, len(ch.users))
	var deposits int64
	var completed, failed, lost, stuck int
	failCodes := map[string]int{}
	status := map[string]string{}
	for _, id := range accepted {
		r, f := opOf[id], final[id]
		switch {
		case f.resp != nil && f.resp.Status == http.StatusNotFound:
			lost++
			ch.errorf("LOST: %s got a 2xx naming %s, which now answers 404: %v", r.describe(), id, r.Answers)
			continue
		case f.err != nil:
			stuck++
			ch.errorf("%s (%s): %v", r.describe(), id, f.err)
			continue
		case !isFinal(f.resp.Str("status")):
			stuck++
			ch.errorf("STUCK: %s (%s) still %s after %v: %s", r.describe(), id, f.resp.Str("status"), chaosFinalBudget, f.resp)
			continue
		}
		if err := ch.sameOp(r, f.resp.Body); err != nil {
			ch.errorf("%s: operation %s differs from the request: %v: %s", r.describe(), id, err, f.resp)
		}
		status[id] = f.resp.Str("status")
		if f.resp.Str("status") == "failed" {
			failed++
			code := f.resp.Str("failure_code")
			failCodes[code]++
			if r.Deposit || code != "insufficient_funds" {
				ch.errorf("%s: operation %s failed with %q: %s", r.describe(), id, code, f.resp)
			}
			continue
		}
		completed++
		want[r.To] += r.Cents
		if r.Deposit {
			deposits += r.Cents
		} else {
			want[r.From] -= r.Cents
		}
	}
	ch.logf("accepted operations: %d completed, %d failed %v, %d lost, %d not final", completed, failed, failCodes, lost, stuck)

	// What each wallet lists: every operation the journal knows of for
	// that wallet, once, and nothing else; each key at most once.
	listed := map[string]int{}
	listWallet := func(who string, u *chaosUser, c *Client) {
		cursor := ""
		for page := 0; page < 10000; page++ {
			path := "/api/wallet/operations?limit=100"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r, err := ch.stable(u, c, path)
			if err != nil {
				ch.errorf("%s: list operations: %v", who, err)
				return
			}
			ops, _ := r.Body["operations"].([]any)
			for _, o := range ops {
				m, _ := o.(map[string]any)
				id, _ := m["operation_id"].(string)
				details, _ := m["details"].(string)
				listed[id]++
				req, known := opOf[id]
				switch {
				case !known && ch.byKey[details] != nil:
					ch.errorf("%s lists operation %s of key %s, which never got a 2xx naming it (answers: %v)", who, id, details, ch.byKey[details].Answers)
				case !known:
					ch.errorf("%s lists operation %s that the journal does not know: %v", who, id, m)
				default:
					if err := ch.sameOp(req, m); err != nil {
						ch.errorf("%s lists %s differently from its request %s: %v", who, id, req.describe(), err)
					}
					if s, _ := m["status"].(string); status[id] != "" && s != status[id] {
						ch.errorf("%s lists %s as %s, GET says %s", who, id, s, status[id])
					}
				}
			}
			cursor = nextCursor(t, r)
			if cursor == "" {
				return
			}
		}
	}
	balances := make([]*Resp, len(ch.users))
	for i, u := range ch.users {
		listWallet(fmt.Sprintf("u%d", i), u, nil)
		r, err := ch.stable(u, nil, "/api/wallet")
		if err != nil {
			ch.errorf("u%d: wallet: %v", i, err)
			continue
		}
		balances[i] = r
	}
	listWallet("bank", nil, ch.bank)
	for _, id := range accepted {
		r := opOf[id]
		n := listed[id]
		// A transfer shows in the lists of both its wallets (the sender's
		// and the recipient's), a deposit in the recipient's and the bank's.
		if n != 2 {
			ch.errorf("operation %s of %s is listed %d times across the wallets, want 2", id, r.describe(), n)
		}
	}

	// Balances: what the completed operations imply, never below zero.
	var total int64
	for i, r := range balances {
		if r == nil {
			continue
		}
		got, err := cents(r.Str("balance"))
		if err != nil {
			ch.errorf("u%d: %v", i, err)
			continue
		}
		total += got
		if got != want[i] {
			ch.errorf("u%d holds %s, but its completed operations make %s", i, money(got), money(want[i]))
		}
		if r.Str("available") != r.Str("balance") {
			ch.errorf("u%d: nothing is pending, yet available differs from balance: %s", i, r)
		}
	}
	if total != deposits {
		ch.errorf("user wallets hold %s in all, completed deposits were %s", money(total), money(deposits))
	}
	if r, err := ch.stable(nil, ch.bank, "/api/wallet"); err != nil {
		ch.errorf("bank wallet: %v", err)
	} else if got, err := cents(r.Str("balance")); err != nil || got != -deposits {
		ch.errorf("the bank's settlement balance is %s, want minus the completed deposits, %s: %s", r.Str("balance"), money(-deposits), r)
	}
	if n := ch.negSeen.Load(); n > 0 {
		ch.errorf("a balance below zero was observed %d times; first: %v", n, ch.negFirst.Load())
	}
	ch.logf("poller: %d balance reads, %d negative balances, %d negative available (not a violation: pending transfers beyond the balance under an expired lock)",
		ch.polls.Load(), ch.negSeen.Load(), ch.negAvail.Load())

	// The audits.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, code, err := ch.e.RunAudit(ctx)
	if err != nil || code != 0 {
		ch.errorf("worker audit: exit %d, %v:\n%s", code, err, out)
	} else {
		ch.logf("worker audit: clean")
	}
	if r, err := ch.stable(nil, ch.admin, "/api/admin/audit"); err != nil {
		ch.errorf("GET /api/admin/audit: %v", err)
	} else if ok, _ := r.Body["ok"].(bool); !ok {
		ch.errorf("GET /api/admin/audit is not ok: %s", r)
	}
	if t.Failed() {
		ch.mu.Lock()
		t.Logf("faults injected:\n%s", strings.Join(ch.faults, "\n"))
		ch.mu.Unlock()
	}
}

// stable sends a GET as u (or as c when u is nil) until it answers 200,
// renewing u's token after a 401, for up to 30 s: the faults have stopped,
// so a failure now is a real one.
func (ch *chaos) stable(u *chaosUser, c *Client, path string) (*Resp, error) {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		gen := -1
		if u != nil {
			auth, g, err := ch.userAuth(u, false)
			if err != nil {
				last = err
				time.Sleep(200 * time.Millisecond)
				continue
			}
			c, gen = ch.client(nil, auth), g
		}
		r, err := c.Do("GET", path, nil, nil)
		switch {
		case err != nil:
			last = err
		case r.Status == http.StatusOK:
			return r, nil
		case r.Status == http.StatusUnauthorized && gen >= 0:
			last = fmt.Errorf("%s", r)
			if err := ch.renewToken(u, gen); err != nil {
				last = err
			}
		case r.Status >= 500:
			last = fmt.Errorf("%s", r)
		default:
			return r, fmt.Errorf("%s", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, last
}

// sortedKeys is for stable log lines.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
