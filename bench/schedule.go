package main

import (
	"context"
	"math"
	"time"
)

// schedule is an open loop's arrival plan: operation k is due at k/rate
// after the start, whatever happened to the ones before it. A slow answer
// therefore delays no later arrival, and latency is measured from when an
// operation was due, not from when the generator got round to sending it
// (no coordinated omission).
type schedule struct {
	rate  float64 // operations per second
	total int     // operations in the whole phase
}

func newSchedule(rate float64, d time.Duration) schedule {
	return schedule{rate: rate, total: int(math.Floor(rate * d.Seconds()))}
}

// due is when operation k is due, after the start. Computed afresh for
// each k, so rounding never accumulates over a long phase.
func (s schedule) due(k int) time.Duration {
	return time.Duration(float64(k) * float64(time.Second) / s.rate)
}

// dueBy is how many operations are due at or before elapsed: operations
// 0..dueBy-1.
func (s schedule) dueBy(elapsed time.Duration) int {
	if elapsed < 0 {
		return 0
	}
	n := int(math.Floor(elapsed.Seconds()*s.rate)) + 1
	// The float estimate can be one off either way; due decides.
	for n < s.total && s.due(n) <= elapsed {
		n++
	}
	for n > 0 && s.due(n-1) > elapsed {
		n--
	}
	return min(n, s.total)
}

// clock is the time a dispatcher sees: a real one, or a fake in tests.
type clock interface {
	// Elapsed is the time since the phase started.
	Elapsed() time.Duration
	// SleepUntil returns once Elapsed has reached t, or false if ctx ended
	// first.
	SleepUntil(ctx context.Context, t time.Duration) bool
}

// realClock is a clock started at start.
type realClock struct{ start time.Time }

func (c realClock) Elapsed() time.Duration { return time.Since(c.start) }

func (c realClock) SleepUntil(ctx context.Context, t time.Duration) bool {
	d := time.Until(c.start.Add(t))
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dispatch emits every operation of the schedule when it falls due: all
// that are due at once in one go (after a late wake-up or a blocked
// emit), then it sleeps until the next. emit blocks while every sender is
// busy, which is the generator falling behind; dispatch gives up at
// cutoff, or when ctx ends, and returns how many operations it emitted.
func (s schedule) dispatch(ctx context.Context, clk clock, cutoff time.Duration, emit func(k int, due time.Duration)) int {
	k := 0
	for k < s.total {
		for n := s.dueBy(clk.Elapsed()); k < n; k++ {
			if clk.Elapsed() > cutoff || ctx.Err() != nil {
				return k
			}
			emit(k, s.due(k))
		}
		if k < s.total && !clk.SleepUntil(ctx, s.due(k)) {
			break
		}
	}
	return k
}
