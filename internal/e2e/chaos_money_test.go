package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The fault suite's money workload: beside the journal of deposits and
// transfers, two clients place holds (some expiring within the run),
// capture them in parts or whole, void them, and withdraw through a bank
// of their own, which takes, completes and fails the withdrawals, all with
// Idempotency-Keys and the same retries, under the same faults. Its users
// and its bank are its own, so the transfer journal's balance checks stay
// exact. Afterwards: every operation that got a 2xx is final and was not
// lost, each key named one operation, no hold stays active past its
// expiry, no withdrawal is left requested, and the audit (run by verify)
// covers held, captured and released amounts.

const (
	chaosMoneyUsers   = 6
	chaosMoneyClients = 2
)

// mReq is one logical money request and its answers.
type mReq struct {
	Key, Path string
	Body      map[string]any
	As        int // a money user's index; -1 for the bank
	Answers   []jAnswer
	OpID      string // named by its 2xx answers
}

type moneyChaos struct {
	ch      *chaos
	bank    user
	bankID  string
	users   []*chaosUser
	mu      sync.Mutex
	reqs    []*mReq
	holds   []mHold // active as far as the workload knows
	pending []string
}

type mHold struct {
	id       string
	payer    int
	recipent int
}

// setupMoney creates the workload's bank and users and funds them, before
// the faults start.
func (ch *chaos) setupMoney() *moneyChaos {
	t := ch.t
	mc := &moneyChaos{ch: ch}
	pw := "chaos bank password"
	r := ch.admin.Must(t, "POST", "/api/admin/banks", map[string]any{"name": "Chaos Bank",
		"email": "chaos-bank-" + randHex(3) + "@bank.example", "password": pw}, nil)
	Expect(t, r, http.StatusCreated)
	mc.bank, mc.bankID = user{Email: r.Str("email"), Password: pw}, r.Str("bank_id")
	bank := ch.client(nil, Basic(mc.bank.Email, mc.bank.Password))
	for i := range chaosMoneyUsers {
		u := &chaosUser{user: ch.e.signup(t, fmt.Sprintf("Money%d", i))}
		mc.users = append(mc.users, u)
		r := bank.Must(t, "POST", "/api/external_to_wallet", map[string]any{"wallet_id": u.WalletID, "amount": "2000.00", "details": "money setup"},
			H{"Prefer": "wait=10"})
		final(t, bank, r, "completed")
	}
	return mc
}

// send sends a money request with the fault suite's retries and records
// its answers; it returns the definitive answer, if any.
func (mc *moneyChaos) send(rng *rand.Rand, req *mReq) (*Resp, bool) {
	mc.mu.Lock()
	mc.reqs = append(mc.reqs, req)
	mc.mu.Unlock()
	var u *chaosUser
	var auth Auth
	if req.As >= 0 {
		u = mc.users[req.As]
	} else {
		auth = Basic(mc.bank.Email, mc.bank.Password)
	}
	hdr := H{}
	if rng.IntN(3) == 0 {
		hdr["Prefer"] = "wait=" + strconv.Itoa(1+rng.IntN(2))
	}
	var body any // a nil map would go as "null"
	if req.Body != nil {
		body = req.Body
	}
	r, _, ok := mc.ch.post(rng, req.Key, req.Path, body, hdr, u, auth, false, func(a jAnswer) {
		mc.mu.Lock()
		req.Answers = append(req.Answers, a)
		mc.mu.Unlock()
	})
	if !ok {
		return r, false
	}
	if r.Status == http.StatusOK || r.Status == http.StatusAccepted {
		mc.mu.Lock()
		req.OpID = r.Str("operation_id")
		mc.mu.Unlock()
	}
	return r, true
}

// run drives the money workload from one client until stop is closed.
func (mc *moneyChaos) run(id int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(mc.ch.seed, 0x30e+uint64(id)))
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("chaos-%d-m%d-%d", mc.ch.seed, id, n)
		mc.mu.Lock()
		var h *mHold
		if len(mc.holds) > 0 && rng.IntN(2) == 0 {
			i := rng.IntN(len(mc.holds))
			hh := mc.holds[i]
			h = &hh
			if rng.IntN(3) == 0 { // this one is done with, one way or another
				mc.holds = append(mc.holds[:i], mc.holds[i+1:]...)
			}
		}
		var wid string
		if len(mc.pending) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(mc.pending))
			wid = mc.pending[i]
			mc.pending = append(mc.pending[:i], mc.pending[i+1:]...)
		}
		mc.mu.Unlock()

		switch {
		case h != nil && rng.IntN(4) == 0:
			mc.send(rng, &mReq{Key: key, Path: "/api/holds/" + h.id + "/void", As: h.recipent})
		case h != nil:
			body := map[string]any{"final": rng.IntN(3) == 0}
			if rng.IntN(4) > 0 {
				body["amount"] = money(int64(1_00 + rng.IntN(30_00)))
			}
			mc.send(rng, &mReq{Key: key, Path: "/api/holds/" + h.id + "/capture", Body: body, As: h.recipent})
		case wid != "":
			switch rng.IntN(4) {
			case 0:
				mc.send(rng, &mReq{Key: key, Path: "/api/withdrawals/" + wid + "/fail", Body: map[string]any{"reason": "chaos"}, As: -1})
			case 1:
				mc.send(rng, &mReq{Key: key, Path: "/api/withdrawals/" + wid + "/processing", As: -1})
				mc.send(rng, &mReq{Key: key + "-c", Path: "/api/withdrawals/" + wid + "/complete", Body: map[string]any{"reference": key}, As: -1})
			default:
				mc.send(rng, &mReq{Key: key, Path: "/api/withdrawals/" + wid + "/complete", Body: map[string]any{"reference": key}, As: -1})
			}
		case rng.IntN(4) == 0:
			from := rng.IntN(len(mc.users))
			r, ok := mc.send(rng, &mReq{Key: key, Path: "/api/withdrawals", As: from,
				Body: map[string]any{"bank_id": mc.bankID, "amount": money(int64(1_00 + rng.IntN(50_00))), "details": key}})
			if ok && r.Str("withdrawal_id") != "" {
				mc.mu.Lock()
				mc.pending = append(mc.pending, r.Str("withdrawal_id"))
				mc.mu.Unlock()
			}
		default:
			from, to := rng.IntN(len(mc.users)), rng.IntN(len(mc.users))
			for to == from {
				to = rng.IntN(len(mc.users))
			}
			body := map[string]any{"wallet_id": mc.users[to].WalletID, "amount": money(int64(5_00 + rng.IntN(60_00))), "details": key}
			if rng.IntN(3) == 0 {
				body["expires_in"] = 1 + rng.IntN(8) // expires during the run
			}
			r, ok := mc.send(rng, &mReq{Key: key, Path: "/api/holds", Body: body, As: from})
			if ok && r.Str("hold_id") != "" {
				mc.mu.Lock()
				mc.holds = append(mc.holds, mHold{id: r.Str("hold_id"), payer: from, recipent: to})
				mc.mu.Unlock()
			}
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	}
}

// moneyRefusals are the refusals the workload provokes on purpose: it
// acts on holds and withdrawals that may have closed meanwhile, captures
// more than may remain, and spends what may not be there.
var moneyRefusals = map[string]bool{
	"hold_not_active": true, "capture_exceeds_hold": true, "insufficient_funds": true,
	"withdrawal_closed": true, "withdrawal_not_pending": true,
}

// verify checks the money workload once the faults have stopped.
func (mc *moneyChaos) verify() {
	ch := mc.ch
	var accepted, refused, unanswered int
	for _, r := range mc.reqs {
		id := ""
		for _, a := range r.Answers {
			if a.Status != http.StatusOK && a.Status != http.StatusAccepted {
				continue
			}
			if id == "" {
				id = a.OpID
			} else if a.OpID != id {
				ch.errorf("money %s: one key, two operations: %s and %s: %v", r.Key, id, a.OpID, r.Answers)
			}
		}
		var last jAnswer
		if len(r.Answers) > 0 {
			last = r.Answers[len(r.Answers)-1]
		}
		switch {
		case id != "":
			accepted++
		case last.Status >= 400 && last.Status < 500:
			refused++
			if !moneyRefusals[last.Code] {
				ch.errorf("money %s %s: refused with %d %s, which this workload never provokes: %v", r.Key, r.Path, last.Status, last.Code, r.Answers)
			}
		default:
			unanswered++
		}
		if id == "" {
			continue
		}
		f, err := pollFinal(ch.admin, id, chaosFinalBudget)
		switch {
		case f != nil && f.Status == http.StatusNotFound:
			ch.errorf("LOST: money %s got a 2xx naming %s, which answers 404: %v", r.Key, id, r.Answers)
		case err != nil:
			ch.errorf("money %s (%s): %v", r.Key, id, err)
		case !isFinal(f.Str("status")):
			ch.errorf("STUCK: money %s (%s) still %s", r.Key, id, f.Str("status"))
		}
	}
	ch.logf("money workload: %d requests, %d accepted, %d refused (4xx), %d without a definitive answer", len(mc.reqs), accepted, refused, unanswered)

	// Expiries: no hold stays active past its expiry (the sweeper finds
	// those whose task Redis lost), and no withdrawal stays requested.
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range mc.users {
		c := ch.client(nil, Basic(u.Email, u.Password))
		for {
			r, err := ch.stable(nil, c, "/api/holds?role=payer&status=active&limit=100")
			if err != nil {
				ch.errorf("money holds: %v", err)
				break
			}
			overdue := 0
			for _, h := range r.Body["holds"].([]any) {
				exp, _ := time.Parse(time.RFC3339Nano, h.(map[string]any)["expires_at"].(string))
				if time.Since(exp) > 5*time.Second {
					overdue++
				}
			}
			if overdue == 0 {
				break
			}
			if time.Now().After(deadline) {
				ch.errorf("%s has %d active holds more than 5 s past their expiry: %s", u.Name, overdue, r)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r, err := ch.stable(nil, c, "/api/withdrawals?status=requested"); err == nil {
			if ws := r.Body["withdrawals"].([]any); len(ws) > 0 {
				ch.errorf("%s has withdrawals still requested after everything was final: %s", u.Name, r)
			}
		}
	}
}
