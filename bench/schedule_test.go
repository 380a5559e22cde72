package main

import (
	"context"
	"testing"
	"time"
)

func TestScheduleDueAndDueBy(t *testing.T) {
	for _, rate := range []float64{0.5, 7, 1000, 3333.3, 12345.678} {
		s := newSchedule(rate, 3*time.Second)
		if want := int(rate * 3); s.total != want {
			t.Errorf("rate %g: %d operations, want %d", rate, s.total, want)
		}
		for k := range s.total {
			due := s.due(k)
			if k > 0 && due <= s.due(k-1) {
				t.Fatalf("rate %g: operation %d due at %v, not after %v", rate, k, due, s.due(k-1))
			}
			// Exactly k+1 operations are due at its due time, k just before.
			if got := s.dueBy(due); got != k+1 {
				t.Fatalf("rate %g: dueBy(due(%d)) = %d, want %d", rate, k, got, k+1)
			}
			if got := s.dueBy(due - 1); got != k {
				t.Fatalf("rate %g: dueBy(due(%d)-1ns) = %d, want %d", rate, k, got, k)
			}
		}
		if got := s.dueBy(time.Hour); got != s.total {
			t.Errorf("rate %g: dueBy past the end = %d, want %d", rate, got, s.total)
		}
		if got := s.dueBy(-time.Second); got != 0 {
			t.Errorf("rate %g: dueBy before the start = %d", rate, got)
		}
	}
}

// fakeClock advances only when the dispatcher sleeps (by oversleep more
// than asked, like a busy machine) or when a test's emit takes time.
type fakeClock struct {
	now       time.Duration
	oversleep time.Duration
	sleeps    int
}

func (c *fakeClock) Elapsed() time.Duration { return c.now }

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Duration) bool {
	c.sleeps++
	if t > c.now {
		c.now = t + c.oversleep
	}
	return ctx.Err() == nil
}

func TestDispatchEmitsEachOperationOnceInOrderNeverEarly(t *testing.T) {
	for _, oversleep := range []time.Duration{0, 3 * time.Millisecond, 250 * time.Millisecond} {
		s := newSchedule(1000, time.Second)
		clk := &fakeClock{oversleep: oversleep}
		next := 0
		sent := s.dispatch(context.Background(), clk, 2*time.Second, func(k int, due time.Duration) {
			if k != next {
				t.Fatalf("oversleep %v: emitted %d, want %d", oversleep, k, next)
			}
			if due != s.due(k) || clk.now < due {
				t.Fatalf("oversleep %v: operation %d (due %v) emitted at %v", oversleep, k, due, clk.now)
			}
			next++
		})
		if sent != s.total || next != s.total {
			t.Errorf("oversleep %v: sent %d (emitted %d), want %d", oversleep, sent, next, s.total)
		}
		// Late wake-ups send what fell due together, in fewer sleeps.
		if oversleep > 0 && clk.sleeps >= s.total {
			t.Errorf("oversleep %v: %d sleeps for %d operations", oversleep, clk.sleeps, s.total)
		}
	}
}

func TestDispatchGivesUpAtTheCutoffWhenBehind(t *testing.T) {
	s := newSchedule(1000, time.Second)
	clk := &fakeClock{}
	emitted := 0
	// Every emit blocks for 2 ms: the senders can take only half the rate.
	sent := s.dispatch(context.Background(), clk, 1100*time.Millisecond, func(int, time.Duration) {
		emitted++
		clk.now += 2 * time.Millisecond
	})
	if sent != emitted {
		t.Errorf("returned %d, emitted %d", sent, emitted)
	}
	// About 1.1 s / 2 ms were sent; the rest counts as never sent.
	if sent < 500 || sent > 560 {
		t.Errorf("sent %d of %d before the cutoff, want about 550", sent, s.total)
	}
}

func TestDispatchStopsWhenCancelled(t *testing.T) {
	s := newSchedule(100, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	sent := s.dispatch(ctx, &fakeClock{}, time.Minute, func(k int, _ time.Duration) {
		if k == 9 {
			cancel()
		}
	})
	if sent != 10 {
		t.Errorf("sent %d after cancelling at the tenth, want 10", sent)
	}
}

func TestRealClockSleepUntil(t *testing.T) {
	clk := realClock{start: time.Now()}
	if !clk.SleepUntil(context.Background(), time.Millisecond) || clk.Elapsed() < time.Millisecond {
		t.Error("woke before its time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if clk.SleepUntil(ctx, time.Hour) {
		t.Error("a cancelled sleep reported success")
	}
}
