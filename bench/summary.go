package main

import (
	"maps"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to an hour, to three
// significant digits (0.1%).
const maxLatencyMicros = int64(time.Hour / time.Microsecond)

func newLatencyHistogram() *hdr.Histogram { return hdr.New(1, maxLatencyMicros, 3) }

// newSecondHistogram is the smaller histogram of one second of a series:
// two significant digits are plenty for a chart.
func newSecondHistogram() *hdr.Histogram { return hdr.New(1, maxLatencyMicros, 2) }

// recordLatency adds d to h, clamped into h's range.
func recordLatency(h *hdr.Histogram, d time.Duration) {
	_ = h.RecordValue(min(max(d.Microseconds(), 1), maxLatencyMicros))
}

// Latency summarises a latency distribution, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

func latencyOf(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// Second is one second of a phase, counted from the phase's start:
// operations accepted in it (by when the answer came), operations that
// became final in it (by the service's completed_at), and the p99 accept
// latency of the operations accepted in it.
type Second struct {
	T           int     `json:"t"`
	Accepted    int64   `json:"accepted"`
	Completed   int64   `json:"completed"`
	Failed      int64   `json:"failed"`
	AcceptP99Ms float64 `json:"accept_p99_ms"`
}

// GeneratorLag says whether an open-loop generator kept to its schedule.
type GeneratorLag struct {
	// Offered is how many operations the schedule planned.
	Offered int64 `json:"offered"`
	// Late started more than 10 ms after they were due; Unsent were never
	// sent because the generator was over a second behind at the end.
	Late   int64   `json:"late"`
	Unsent int64   `json:"unsent"`
	P99Ms  float64 `json:"start_lag_p99_ms"`
	MaxMs  float64 `json:"start_lag_max_ms"`
}

// KeptUp reports whether every operation was sent on time.
func (g *GeneratorLag) KeptUp() bool { return g.Late == 0 && g.Unsent == 0 }

// Summary is every figure of one phase. The headline figures (per second
// and latency) cover the measured window, from the warm-up's end to the
// phase's end; the counts cover the whole phase.
type Summary struct {
	Phase     phaseSpec `json:"phase"`
	Loop      string    `json:"loop"`
	Start     time.Time `json:"start"`
	DurationS float64   `json:"duration_s"`
	WarmupS   float64   `json:"warmup_s"`

	Attempted int64 `json:"attempted"`
	Accepted  int64 `json:"accepted"`
	Completed int64 `json:"completed"`
	// Failed counts operations that ended failed, by failure_code.
	Failed map[string]int64 `json:"failed"`
	// NotFinal were still pending when the generator stopped waiting.
	NotFinal int64 `json:"not_final"`
	// DrainS is how long after the phase's end the last operation
	// became final.
	DrainS float64 `json:"drain_s"`

	AcceptedPerSec          float64 `json:"accepted_per_s"`
	CompletedPerSec         float64 `json:"completed_per_s"`
	CompletedTransfersPerS  float64 `json:"completed_transfers_per_s"`
	CompletedDepositsPerSec float64 `json:"completed_deposits_per_s"`
	CompletedHoldsPerSec    float64 `json:"completed_holds_per_s,omitempty"`
	CompletedCapturesPerSec float64 `json:"completed_captures_per_s,omitempty"`
	// Mixed only: payment requests paid, withdrawals reserved, and
	// completed by the bank.
	CompletedRequestsPaidPerSec   float64 `json:"completed_requests_paid_per_s,omitempty"`
	CompletedWithdrawalsPerSec    float64 `json:"completed_withdrawals_per_s,omitempty"`
	CompletedWithdrawalDonePerSec float64 `json:"completed_withdrawal_completes_per_s,omitempty"`

	Accept        Latency `json:"accept"`
	AcceptToFinal Latency `json:"accept_to_final"`

	// WalletBusy counts 409 wallet_busy answers; Errors every other
	// refusal by code (transport errors as transport_error), each answer
	// once whether it was retried or not. Refused counts the operations
	// given up after the last of them, by code.
	WalletBusy int64            `json:"wallet_busy"`
	Errors     map[string]int64 `json:"errors"`
	Retries    int64            `json:"retries"`
	Refused    map[string]int64 `json:"refused"`

	Generator *GeneratorLag `json:"generator,omitempty"`
	// GeneratorCPU is how many cores the generator itself kept busy on
	// average during the phase.
	GeneratorCPU float64 `json:"generator_cpu_cores"`
	// CPU is the measured window's CPU budget by part (a started service
	// only).
	CPU *CPUBudget `json:"cpu,omitempty"`
	// AcceptStagesMs is the mean time an accepted request spent in each
	// stage of the API's accept path over the measured window (stages.go).
	AcceptStagesMs map[string]float64 `json:"accept_stages_ms,omitempty"`
	// AcceptGroup is the mean number of requests per accepted group.
	AcceptGroup float64  `json:"accept_group,omitempty"`
	Series      []Second `json:"series"`
}

// summarize computes a phase's figures from what the generator saw and
// the final states read afterwards.
func summarize(spec phaseSpec, l *phaseLoad) Summary {
	s := Summary{
		Phase: spec, Loop: "closed", Start: l.Start,
		DurationS: spec.Duration.Seconds(), WarmupS: spec.Warmup.Seconds(),
		Attempted: l.Attempts, Accepted: int64(len(l.Ops)),
		Failed: map[string]int64{}, Errors: maps.Clone(l.Answers), Refused: maps.Clone(l.Refused), Retries: l.Retries,
	}
	if l.Elapsed > 0 {
		s.GeneratorCPU = l.CPU.Seconds() / l.Elapsed.Seconds()
	}
	s.WalletBusy = s.Errors["wallet_busy"]
	delete(s.Errors, "wallet_busy")
	if spec.Open() {
		s.Loop = "open"
		s.Generator = &GeneratorLag{Offered: l.Offered, Late: l.Late, Unsent: l.Unsent,
			P99Ms: float64(l.Lag.ValueAtQuantile(99)) / 1000, MaxMs: float64(l.Lag.Max()) / 1000}
	}

	inWindow := func(t time.Duration) bool { return t >= spec.Warmup && t < spec.Duration }
	window := (spec.Duration - spec.Warmup).Seconds()
	accept, toFinal := newLatencyHistogram(), newLatencyHistogram()
	var series seriesBuilder
	var accepted, completed, transfers, deposits, holds, captures, paid, withdrawals, withdrawn int64
	var lastFinal time.Duration
	for i := range l.Ops {
		op := &l.Ops[i]
		at := op.Due + op.Accept
		series.accepted(at, op.Accept)
		if inWindow(at) {
			accepted++
		}
		if inWindow(op.Due) {
			recordLatency(accept, op.Accept)
		}
		if !op.final() {
			s.NotFinal++
			continue
		}
		done := op.CompletedAt.Sub(l.Start)
		lastFinal = max(lastFinal, done)
		if inWindow(op.Due) {
			recordLatency(toFinal, op.CompletedAt.Sub(op.CreatedAt))
		}
		if op.Status == "failed" {
			s.Failed[op.FailureCode]++
			series.failed(done)
			continue
		}
		s.Completed++
		series.completed(done)
		if inWindow(done) {
			completed++
			switch op.Kind {
			case kindDeposit:
				deposits++
			case kindHold:
				holds++
			case kindCapture:
				captures++
			case kindRequestPaid:
				paid++
			case kindWithdrawal:
				withdrawals++
			case kindWithdrawalComplete:
				withdrawn++
			default:
				transfers++
			}
		}
	}
	s.AcceptedPerSec = float64(accepted) / window
	s.CompletedPerSec = float64(completed) / window
	s.CompletedTransfersPerS = float64(transfers) / window
	s.CompletedDepositsPerSec = float64(deposits) / window
	s.CompletedHoldsPerSec = float64(holds) / window
	s.CompletedCapturesPerSec = float64(captures) / window
	s.CompletedRequestsPaidPerSec = float64(paid) / window
	s.CompletedWithdrawalsPerSec = float64(withdrawals) / window
	s.CompletedWithdrawalDonePerSec = float64(withdrawn) / window
	s.DrainS = max(lastFinal-spec.Duration, 0).Seconds()
	s.Accept, s.AcceptToFinal = latencyOf(accept), latencyOf(toFinal)
	s.CPU = budget(l.Window[0], l.Window[1], completed, spec.Duration-spec.Warmup)
	s.AcceptStagesMs = stageMeans(l.Stages[0], l.Stages[1])
	s.AcceptGroup = groupMean(l.Stages[0], l.Stages[1])
	s.Series = series.build()
	return s
}

// seriesBuilder counts events into one-second buckets from the phase's
// start; events before the start (clock skew) go into the first.
type seriesBuilder struct {
	secs []Second
	p99  []*hdr.Histogram
}

func (b *seriesBuilder) at(t time.Duration) int {
	i := max(int(t/time.Second), 0)
	for len(b.secs) <= i {
		b.secs = append(b.secs, Second{T: len(b.secs)})
		b.p99 = append(b.p99, nil)
	}
	return i
}

func (b *seriesBuilder) accepted(t, latency time.Duration) {
	i := b.at(t)
	b.secs[i].Accepted++
	if b.p99[i] == nil {
		b.p99[i] = newSecondHistogram()
	}
	recordLatency(b.p99[i], latency)
}

func (b *seriesBuilder) completed(t time.Duration) { b.secs[b.at(t)].Completed++ }
func (b *seriesBuilder) failed(t time.Duration)    { b.secs[b.at(t)].Failed++ }

func (b *seriesBuilder) build() []Second {
	for i, h := range b.p99 {
		if h != nil {
			b.secs[i].AcceptP99Ms = float64(h.ValueAtQuantile(99)) / 1000
		}
	}
	if b.secs == nil {
		return []Second{}
	}
	return b.secs
}
