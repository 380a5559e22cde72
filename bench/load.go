package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// opKind is what an operation does.
type opKind uint8

const (
	kindTransfer opKind = iota
	kindDeposit
	// kindHold places a hold for the hot merchant wallet (user 0), and
	// kindCapture is the merchant capturing it right after.
	kindHold
	kindCapture
	// mixed: a payment request paid by its payer at once (the payment is
	// the operation), a withdrawal and the bank completing it.
	kindRequestPaid
	kindWithdrawal
	kindWithdrawalComplete
)

func (k opKind) String() string {
	switch k {
	case kindDeposit:
		return "external_to_wallet"
	case kindHold:
		return "hold"
	case kindCapture:
		return "hold_capture"
	case kindRequestPaid:
		return "payment_request_paid"
	case kindWithdrawal:
		return "withdrawal"
	case kindWithdrawalComplete:
		return "withdrawal_complete"
	}
	return "wallet_to_wallet"
}

// opRecord is one operation the service accepted, as the generator saw it
// and, after the phase, as the service finished it.
type opRecord struct {
	ID       string
	Kind     opKind
	From, To int32 // indexes in population.Users; From is -1 for a deposit, both the owner for a withdrawal
	// Due is when the operation was due (open loop) or begun (closed loop),
	// since the phase started; Accept runs from then to the answer that
	// accepted it, retries included.
	Due, Accept time.Duration
	Attempts    int

	// The final state, from the service's own timestamps.
	Status      string
	FailureCode string
	CreatedAt   time.Time
	CompletedAt time.Time
}

// final reports whether the operation's outcome is known.
func (r *opRecord) final() bool { return r.Status == "completed" || r.Status == "failed" }

// lateAfter is how far behind its schedule an open-loop operation may
// start before it counts as the generator falling behind.
const lateAfter = 10 * time.Millisecond

// tally is what one client (or open-loop sender) saw; tallies are merged
// after the phase, so that recording takes no lock.
type tally struct {
	ops []opRecord
	// answers counts refusals by code (transport errors included),
	// whether the operation was then retried or not.
	answers map[string]int64
	// refused counts operations given up on, by their last code.
	refused map[string]int64
	retries int64
	// lag is how late open-loop operations started, in µs.
	lag  *hdr.Histogram
	late int64
	// placed are the holds this client placed and the merchant has not
	// captured yet, oldest first.
	placed []placedHold
}

// placedHold is a hold waiting for the merchant's capture, or (mixed) a
// withdrawal waiting for the bank's completion.
type placedHold struct {
	id            string
	payer, holder int32
	at            time.Time
	withdrawal    bool
}

// captureAfter is how long after placing a hold the merchant captures
// it: long enough for the hold to be active, so the client never waits
// for a commit in the loop.
const captureAfter = 200 * time.Millisecond

func newTally() *tally {
	return &tally{answers: map[string]int64{}, refused: map[string]int64{}, lag: newLatencyHistogram()}
}

// picker chooses operations: the mix of deposits and transfers, and the
// wallets involved. Users[0] is the hot wallet.
type picker struct {
	rng          *rand.Rand
	n            int
	hotShare     float64
	depositShare float64
	holdShare    float64
	mixed        bool
}

func newPicker(seed uint64, stream int, n int, hotShare, depositShare, holdShare float64, mixed bool) *picker {
	return &picker{rng: rand.New(rand.NewPCG(seed, uint64(stream))), n: n, hotShare: hotShare,
		depositShare: depositShare, holdShare: holdShare, mixed: mixed}
}

// The mixed scenario's shares of what a client begins: the rest are
// transfers. A hold's capture and a withdrawal's completion are turns of
// their own, 200 ms after.
const (
	mixedDeposits    = 0.05
	mixedHolds       = 0.15
	mixedRequests    = 0.05
	mixedWithdrawals = 0.05
)

// next returns an operation's kind, sender (-1 for a deposit) and
// recipient (never the sender), and its amount in minor units, 1 to 100.
func (p *picker) next() (kind opKind, from, to int32, minor int) {
	minor = 1 + p.rng.IntN(100)
	if p.mixed {
		from, to = p.pair()
		switch r := p.rng.Float64(); {
		case r < mixedDeposits:
			return kindDeposit, -1, to, minor
		case r < mixedDeposits+mixedHolds:
			return kindHold, from, to, minor
		case r < mixedDeposits+mixedHolds+mixedRequests:
			return kindRequestPaid, from, to, minor
		case r < mixedDeposits+mixedHolds+mixedRequests+mixedWithdrawals:
			return kindWithdrawal, from, -1, minor
		}
		return kindTransfer, from, to, minor
	}
	if p.rng.Float64() < p.depositShare {
		return kindDeposit, -1, int32(p.rng.IntN(p.n)), minor
	}
	if p.rng.Float64() < p.holdShare {
		// Any payer but the merchant, for the merchant.
		return kindHold, int32(1 + p.rng.IntN(p.n-1)), 0, minor
	}
	from, to = p.pair()
	if p.rng.Float64() < p.hotShare {
		from = 0
		if to == 0 {
			to = int32(1 + p.rng.IntN(p.n-1))
		}
	}
	return kindTransfer, from, to, minor
}

// pair is two different wallets, evenly.
func (p *picker) pair() (from, to int32) {
	from = int32(p.rng.IntN(p.n))
	to = int32(p.rng.IntN(p.n - 1))
	if to >= from {
		to++
	}
	return from, to
}

// driver runs one phase of load.
type driver struct {
	c          *client
	pop        *population
	spec       phaseSpec
	maxRetries int
	seed       uint64
	keyPrefix  string // makes Idempotency-Keys unique to the run and phase
	start      time.Time
	// sample reads the CPU budget's counters (nil: no budget), stages
	// the accept stages' (nil: none).
	sample func() cpuSample
	stages func() stageSample

	// Live counts for the progress display.
	accepted, busy, errors atomic.Int64
}

// phaseLoad is what a phase produced before its final states were read.
type phaseLoad struct {
	Start time.Time
	Ops   []opRecord
	// Answers, Refused, Retries: see tally.
	Answers map[string]int64
	Refused map[string]int64
	Retries int64
	// Open loop only: how late operations started, how many started more
	// than lateAfter late, and how many were never sent because the
	// generator was too far behind when the phase ended.
	Lag      *hdr.Histogram
	Late     int64
	Unsent   int64
	Offered  int64 // operations the schedule planned
	Attempts int64 // operations begun (accepted or not)
	// CPU is the generator's CPU time over Elapsed, the phase's wall time
	// including the answers still in flight at its end.
	CPU, Elapsed time.Duration
	// Window are the CPU counters at the start and the end of the
	// measured window (after the warm-up, to the phase's end), Stages
	// the accept stages' at the same instants.
	Window [2]cpuSample
	Stages [2]stageSample
}

// run drives the phase and returns what it saw. It stops starting
// operations at the phase's end and lets those in flight finish.
func (d *driver) run(ctx context.Context, u *ui) *phaseLoad {
	cpu := cpuTime()
	d.start = time.Now()
	window := d.sampleWindow(ctx)
	stopProgress := d.progress(u)
	var tallies []*tally
	var unsent, offered int64
	if d.spec.Open() {
		tallies, unsent, offered = d.openLoop(ctx)
	} else {
		tallies = d.closedLoop(ctx)
	}
	stopProgress()
	l := merge(d.start, tallies, unsent, offered)
	l.CPU, l.Elapsed = cpuTime()-cpu, time.Since(d.start)
	w := <-window
	l.Window, l.Stages = w.cpu, w.stages
	return l
}

// windowSamples are the counters read at the measured window's ends.
type windowSamples struct {
	cpu    [2]cpuSample
	stages [2]stageSample
}

// sampleWindow reads the CPU and accept-stage counters at the measured
// window's start and end, and sends them when done (or when ctx ends,
// what it has).
func (d *driver) sampleWindow(ctx context.Context) <-chan windowSamples {
	out := make(chan windowSamples, 1)
	if d.sample == nil && d.stages == nil {
		out <- windowSamples{}
		return out
	}
	go func() {
		var w windowSamples
		defer func() { out <- w }()
		for i, at := range []time.Duration{d.spec.Warmup, d.spec.Duration} {
			t := time.NewTimer(time.Until(d.start.Add(at)))
			select {
			case <-t.C:
				if d.sample != nil {
					w.cpu[i] = d.sample()
				}
				if d.stages != nil {
					w.stages[i] = d.stages()
				}
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	}()
	return out
}

// cpuTime is the CPU time this process has used so far: the generator
// shares the machine with the service, and says how much it took.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func merge(start time.Time, tallies []*tally, unsent, offered int64) *phaseLoad {
	l := &phaseLoad{Start: start, Answers: map[string]int64{}, Refused: map[string]int64{}, Lag: newLatencyHistogram(),
		Unsent: unsent, Offered: offered}
	for _, t := range tallies {
		l.Ops = append(l.Ops, t.ops...)
		for code, n := range t.answers {
			l.Answers[code] += n
		}
		for code, n := range t.refused {
			l.Refused[code] += n
			l.Attempts += n
		}
		l.Retries += t.retries
		l.Lag.Merge(t.lag)
		l.Late += t.late
	}
	l.Attempts += int64(len(l.Ops))
	return l
}

// closedLoop runs spec.Clients clients, each sending its next operation
// as soon as the last one was answered.
func (d *driver) closedLoop(ctx context.Context) []*tally {
	tallies := make([]*tally, d.spec.Clients)
	var wg sync.WaitGroup
	for i := range tallies {
		t := newTally()
		tallies[i] = t
		wg.Go(func() {
			p := d.newPicker(i)
			for seq := 0; ctx.Err() == nil; seq++ {
				due := time.Since(d.start)
				if due >= d.spec.Duration {
					return
				}
				d.perform(ctx, t, p, i, seq, due)
			}
		})
	}
	wg.Wait()
	return tallies
}

// openLoop sends operations on a fixed schedule through spec.Clients
// senders. It returns the tallies, how many scheduled operations were
// never sent and how many were scheduled.
func (d *driver) openLoop(ctx context.Context) ([]*tally, int64, int64) {
	type job struct{ due time.Duration }
	sched := newSchedule(d.spec.Rate, d.spec.Duration)
	jobs := make(chan job, d.spec.Clients)
	tallies := make([]*tally, d.spec.Clients)
	var wg sync.WaitGroup
	for i := range tallies {
		t := newTally()
		tallies[i] = t
		wg.Go(func() {
			p := d.newPicker(i)
			seq := 0
			for j := range jobs {
				lag := time.Since(d.start) - j.due
				recordLatency(t.lag, lag)
				if lag > lateAfter {
					t.late++
				}
				d.perform(ctx, t, p, i, seq, j.due)
				seq++
			}
		})
	}
	// An operation not sent within a second of the phase's end is not sent.
	sent := sched.dispatch(ctx, realClock{d.start}, d.spec.Duration+time.Second, func(_ int, due time.Duration) {
		select {
		case jobs <- job{due}:
		case <-ctx.Done():
		}
	})
	close(jobs)
	wg.Wait()
	return tallies, int64(sched.total - sent), int64(sched.total)
}

func (d *driver) newPicker(i int) *picker {
	return newPicker(d.seed, i, len(d.pop.Users), d.spec.HotShare, d.spec.DepositShare, d.spec.HoldShare, d.spec.Mixed)
}

// perform sends one operation, retrying what may succeed when sent again
// with the same Idempotency-Key, and records it.
func (d *driver) perform(ctx context.Context, t *tally, p *picker, sender, seq int, due time.Duration) {
	req := request{Method: http.MethodPost, IdemKey: d.key(sender, seq)}
	// What was placed captureAfter ago is taken first: a hold's capture
	// by its recipient, a withdrawal's completion by the bank.
	if len(t.placed) > 0 && time.Since(t.placed[0].at) >= captureAfter {
		h := t.placed[0]
		t.placed = t.placed[1:]
		if h.withdrawal {
			done := request{Method: http.MethodPost, Path: "/api/withdrawals/" + h.id + "/complete", Auth: d.pop.Bank,
				IdemKey: req.IdemKey, Body: []byte(`{"reference":"bench"}`)}
			d.send(ctx, t, p, done, kindWithdrawalComplete, h.payer, h.payer, due)
			return
		}
		capture := request{Method: http.MethodPost, Path: "/api/holds/" + h.id + "/capture",
			Auth: d.pop.Users[h.holder].Auth, IdemKey: req.IdemKey}
		d.send(ctx, t, p, capture, kindCapture, h.holder, h.payer, due)
		return
	}
	kind, from, to, minor := p.next()
	if kind == kindWithdrawal {
		req.Path, req.Auth = "/api/withdrawals", d.pop.Users[from].Auth
		req.Body = fmt.Appendf(nil, `{"bank_id":"%s","amount":"%d.%02d","details":"IBAN bench"}`, d.pop.BankID, minor/100, minor%100)
		// Recorded as the owner's both ways: the owner reads its final
		// state (the other party is the bank's settlement account).
		if op, ok := d.send(ctx, t, p, req, kind, from, from, due); ok && op.WithdrawalID != "" {
			t.placed = append(t.placed, placedHold{id: op.WithdrawalID, payer: from, at: time.Now(), withdrawal: true})
		}
		return
	}
	body := make([]byte, 0, 96)
	body = append(body, `{"wallet_id":"`...)
	body = append(body, d.pop.Users[to].WalletID...)
	body = append(body, `","amount":"`...)
	body = fmt.Appendf(body, "%d.%02d", minor/100, minor%100)
	switch kind {
	case kindDeposit:
		req.Path, req.Auth = "/api/external_to_wallet", d.pop.Bank
		body = append(body, `","details":"bench deposit"}`...)
	case kindHold:
		// A card authorisation, then (captureAfter later, from the same
		// client) the merchant's capture: each turn of the loop is one
		// or the other, and none waits for a commit.
		req.Path, req.Auth = "/api/holds", d.pop.Users[from].Auth
		body = append(body, `"}`...)
	case kindRequestPaid:
		// The recipient asks, the payer pays at once: the payment is the
		// operation, the request's creation its first step.
		ask := request{Method: http.MethodPost, Path: "/api/payment_requests", Auth: d.pop.Users[to].Auth,
			Body: fmt.Appendf(nil, `{"wallet_id":"%s","amount":"%d.%02d"}`, d.pop.Users[from].WalletID, minor/100, minor%100)}
		var pr struct {
			ID string `json:"payment_request_id"`
		}
		if _, err := d.c.do(context.WithoutCancel(ctx), ask, &pr); err != nil {
			code := errorCode(err)
			t.answers[code]++
			t.refused[code]++
			d.errors.Add(1)
			return
		}
		pay := request{Method: http.MethodPost, Path: "/api/payment_requests/" + pr.ID + "/approve",
			Auth: d.pop.Users[from].Auth, IdemKey: req.IdemKey}
		d.send(ctx, t, p, pay, kind, from, to, due)
		return
	default:
		req.Path, req.Auth = "/api/wallet_to_wallet", d.pop.Users[from].Auth
		body = append(body, `"}`...)
	}
	req.Body = body
	op, ok := d.send(ctx, t, p, req, kind, from, to, due)
	if ok && kind == kindHold && op.HoldID != "" {
		t.placed = append(t.placed, placedHold{id: op.HoldID, payer: from, holder: to, at: time.Now()})
	}
}

// send sends one request that creates an operation, retrying what may
// succeed when sent again with the same Idempotency-Key, and records the
// operation it made.
func (d *driver) send(ctx context.Context, t *tally, p *picker, req request, kind opKind, from, to int32, due time.Duration) (operation, bool) {
	// A request in flight finishes even when the run is interrupted, so
	// that it is counted as what it was rather than as a transport error.
	reqCtx := context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		var op operation
		_, err := d.c.do(reqCtx, req, &op)
		if err == nil {
			accept := time.Since(d.start) - due
			r := opRecord{ID: op.ID, Kind: kind, From: from, To: to, Due: due, Accept: accept, Attempts: attempt}
			setFinal(&r, op)
			t.ops = append(t.ops, r)
			d.accepted.Add(1)
			return op, true
		}
		code := errorCode(err)
		t.answers[code]++
		if code == "wallet_busy" {
			d.busy.Add(1)
		} else {
			d.errors.Add(1)
		}
		if !retryable(err) || attempt > d.maxRetries || ctx.Err() != nil {
			t.refused[code]++
			return operation{}, false
		}
		t.retries++
		time.Sleep(backoff(p.rng, attempt))
	}
}

// backoff grows from about 5 ms and jitters by half, so that clients
// that were turned away together do not come back together.
func backoff(rng *rand.Rand, attempt int) time.Duration {
	d := min(5*time.Millisecond<<(attempt-1), 200*time.Millisecond)
	return d/2 + time.Duration(rng.Int64N(int64(d)))
}

// key is the Idempotency-Key of a sender's seq-th operation.
func (d *driver) key(sender, seq int) string {
	b := make([]byte, 0, len(d.keyPrefix)+16)
	b = append(b, d.keyPrefix...)
	b = strconv.AppendInt(b, int64(sender), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(seq), 10)
	return string(b)
}

// progress shows the phase's progress until the returned func is called:
// a bar on a terminal, else a line every five seconds.
func (d *driver) progress(u *ui) func() {
	if u.quiet {
		return func() {}
	}
	tenths := int64(d.spec.Duration / (100 * time.Millisecond))
	b := u.bar(tenths, d.spec.Name)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		var lastN int64
		lastT, lastLine := d.start, d.start
		rate := 0.0
		for {
			select {
			case <-done:
				b.finish()
				return
			case now := <-tick.C:
				n := d.accepted.Load()
				if dt := now.Sub(lastT); dt >= time.Second {
					rate = float64(n-lastN) / dt.Seconds()
					lastN, lastT = n, now
				}
				status := fmt.Sprintf("%s %6.0f accepted/s  busy %d  errors %d", d.spec.Name, rate, d.busy.Load(), d.errors.Load())
				if u.bars {
					b.describe(status)
					b.set(min(int64(now.Sub(d.start)/(100*time.Millisecond)), tenths))
				} else if now.Sub(lastLine) >= 5*time.Second {
					u.logf("%s, %.0fs of %.0fs, %d accepted", status, now.Sub(d.start).Seconds(), d.spec.Duration.Seconds(), n)
					lastLine = now
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
