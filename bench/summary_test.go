package main

import (
	"math"
	"testing"
	"time"
)

// phaseOf makes a phase of n operations, one every 10 ms from the start,
// operation i accepted after i+1 ms and final 2(i+1) ms after it was
// created.
func phaseOf(n int, start time.Time) *phaseLoad {
	l := &phaseLoad{Start: start, Answers: map[string]int64{}, Refused: map[string]int64{}, Lag: newLatencyHistogram()}
	for i := range n {
		due := time.Duration(i) * 10 * time.Millisecond
		accept := time.Duration(i+1) * time.Millisecond
		created := start.Add(due + accept)
		l.Ops = append(l.Ops, opRecord{
			ID: "op", Kind: kindTransfer, From: 0, To: 1, Due: due, Accept: accept,
			Status: "completed", CreatedAt: created, CompletedAt: created.Add(2 * accept),
		})
	}
	l.Attempts = int64(n)
	return l
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*want }

func TestSummarizePercentiles(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := phaseSpec{Name: "p", Clients: 1, Duration: 10 * time.Second}
	s := summarize(spec, phaseOf(1000, start))

	if s.Accept.Count != 1000 || s.AcceptToFinal.Count != 1000 {
		t.Fatalf("counts %d, %d, want 1000 each", s.Accept.Count, s.AcceptToFinal.Count)
	}
	// Accept latencies are 1..1000 ms, so percentile q is about q*10 ms;
	// the histograms keep three significant digits.
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"accept p50", s.Accept.P50, 500},
		{"accept p90", s.Accept.P90, 900},
		{"accept p99", s.Accept.P99, 990},
		{"accept p99.9", s.Accept.P999, 999},
		{"accept max", s.Accept.Max, 1000},
		{"accept mean", s.Accept.Mean, 500.5},
		{"to final p50", s.AcceptToFinal.P50, 1000},
		{"to final p99", s.AcceptToFinal.P99, 1980},
	} {
		if !near(tc.got, tc.want, 0.002) {
			t.Errorf("%s = %.3f ms, want %.0f", tc.name, tc.got, tc.want)
		}
	}
}

func TestSummarizeWindowAndCounts(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := phaseSpec{Name: "p", Clients: 1, Duration: 10 * time.Second, Warmup: 2 * time.Second}
	l := phaseOf(1000, start) // due 0..9.99 s
	l.Ops[10].Status, l.Ops[10].FailureCode = "failed", "insufficient_funds"
	l.Ops[11].Status, l.Ops[11].CompletedAt = "pending", time.Time{}
	l.Ops[999].Kind = kindDeposit
	l.Answers = map[string]int64{"wallet_busy": 7, "transport_error": 2, "insufficient_funds": 1}
	l.Refused = map[string]int64{"insufficient_funds": 1}
	l.Retries = 9
	s := summarize(spec, l)

	if s.Accepted != 1000 || s.Completed != 998 || s.NotFinal != 1 || s.Failed["insufficient_funds"] != 1 {
		t.Errorf("accepted %d completed %d not final %d failed %v", s.Accepted, s.Completed, s.NotFinal, s.Failed)
	}
	if s.WalletBusy != 7 || s.Errors["wallet_busy"] != 0 || s.Errors["transport_error"] != 2 || s.Retries != 9 {
		t.Errorf("wallet_busy %d, errors %v, retries %d", s.WalletBusy, s.Errors, s.Retries)
	}
	// The warm-up leaves out operations due in the first two seconds:
	// 800 remain, over an 8-second window.
	if s.Accept.Count != 800 {
		t.Errorf("accept latencies counted %d, want 800", s.Accept.Count)
	}
	// Accepted at 11i+1 ms after the start: in [2 s, 10 s) for i in
	// 182..908.
	if want := 727.0 / 8; !near(s.AcceptedPerSec, want, 1e-9) {
		t.Errorf("accepted/s %.2f, want %.2f", s.AcceptedPerSec, want)
	}
	// Final at 13i+3 ms after the start: in [2 s, 10 s) for i in
	// 154..768 (the deposit, 999, is outside).
	if want := 615.0 / 8; !near(s.CompletedPerSec, want, 1e-9) || s.CompletedTransfersPerS != s.CompletedPerSec {
		t.Errorf("completed/s %.2f (transfers %.2f), want %.2f", s.CompletedPerSec, s.CompletedTransfersPerS, want)
	}
	// The last is final 12.990 s after the start.
	if !near(s.DrainS, 2.990, 1e-9) {
		t.Errorf("drain %.3f s, want 2.990", s.DrainS)
	}
}

func TestSummarizeSeries(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := phaseSpec{Name: "p", Clients: 1, Duration: 10 * time.Second}
	l := phaseOf(1000, start)
	s := summarize(spec, l)

	var accepted, completed int64
	for i, sec := range s.Series {
		if sec.T != i {
			t.Fatalf("second %d has T %d", i, sec.T)
		}
		accepted += sec.Accepted
		completed += sec.Completed
	}
	if accepted != 1000 || completed != 1000 {
		t.Errorf("series sums: %d accepted, %d completed, want 1000 each", accepted, completed)
	}
	// The last final is at 12.990 s: thirteen one-second buckets.
	if len(s.Series) != 13 {
		t.Errorf("%d seconds, want 13", len(s.Series))
	}
	// Second 0 holds operations 0..90 (accepted at 11i+1 ms), the
	// slowest accepted after 91 ms.
	if got := s.Series[0].AcceptP99Ms; !near(got, 90, 0.02) {
		t.Errorf("second 0 p99 accept %.2f ms, want about 90", got)
	}
}

func TestSummarizeEmptyPhase(t *testing.T) {
	spec := phaseSpec{Name: "p", Clients: 1, Rate: 10, Duration: time.Second}
	l := &phaseLoad{Start: time.Now(), Answers: map[string]int64{}, Refused: map[string]int64{}, Lag: newLatencyHistogram()}
	s := summarize(spec, l)
	if s.Accept.Count != 0 || s.AcceptedPerSec != 0 || len(s.Series) != 0 || s.Series == nil || s.Generator == nil {
		t.Errorf("empty phase summarised as %+v", s)
	}
}

func TestMergeTallies(t *testing.T) {
	a, b := newTally(), newTally()
	a.ops = []opRecord{{ID: "1"}, {ID: "2"}}
	b.ops = []opRecord{{ID: "3"}}
	a.answers["wallet_busy"], b.answers["wallet_busy"] = 2, 3
	a.refused["insufficient_funds"] = 1
	a.retries, b.retries = 2, 3
	recordLatency(a.lag, 20*time.Millisecond)
	recordLatency(b.lag, time.Millisecond)
	b.late = 1
	l := merge(time.Now(), []*tally{a, b}, 4, 10)
	if len(l.Ops) != 3 || l.Answers["wallet_busy"] != 5 || l.Retries != 5 || l.Attempts != 4 || l.Late != 1 || l.Unsent != 4 || l.Offered != 10 {
		t.Errorf("merged %+v", l)
	}
	if l.Lag.TotalCount() != 2 || l.Lag.Max() < 19900 {
		t.Errorf("lag histogram: %d values, max %d µs", l.Lag.TotalCount(), l.Lag.Max())
	}
}
