package wallet

import (
	"testing"
	"time"
)

var (
	t0      = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	expires = t0.Add(time.Hour)
)

func activeHold(amount, captured Amount) Hold {
	return Hold{ID: "h", Status: HoldActive, Amount: amount, Captured: captured, ExpiresAt: expires}
}

func TestHoldCapture(t *testing.T) {
	t.Parallel()
	before, after := expires.Add(-time.Second), expires.Add(time.Second)
	tests := []struct {
		name     string
		hold     Hold
		amount   Amount
		final    bool
		accepted time.Time
		// want
		failure                    string
		status                     HoldStatus
		captured, released, remain Amount
		releasedNow                Amount
	}{
		{"all of it", activeHold(1000, 0), 1000, true, before, "", HoldCaptured, 1000, 0, 0, 0},
		{"part, final releases the rest", activeHold(1000, 0), 300, true, before, "", HoldCaptured, 300, 700, 0, 700},
		{"part, not final stays active", activeHold(1000, 0), 300, false, before, "", HoldActive, 300, 0, 700, 0},
		{"the rest, not final, closes it", activeHold(1000, 600), 400, false, before, "", HoldCaptured, 1000, 0, 0, 0},
		{"more than remains", activeHold(1000, 600), 401, false, before, ECaptureExceedsHold, HoldActive, 600, 0, 400, 0},
		{"more than the hold", activeHold(1000, 0), 1001, true, before, ECaptureExceedsHold, HoldActive, 0, 0, 1000, 0},
		{"zero", activeHold(1000, 0), 0, true, before, ECaptureExceedsHold, HoldActive, 0, 0, 1000, 0},
		// Accepted in time, committed late: it counts (the commit time
		// is not what decides).
		{"accepted just before expiry", activeHold(1000, 0), 100, false, expires.Add(-time.Nanosecond), "", HoldActive, 100, 0, 900, 0},
		{"accepted at expiry", activeHold(1000, 0), 100, true, expires, EHoldNotActive, HoldActive, 0, 0, 1000, 0},
		{"accepted after expiry", activeHold(1000, 0), 100, true, after, EHoldNotActive, HoldActive, 0, 0, 1000, 0},
		{"pending hold", Hold{Status: HoldPending, Amount: 1000, ExpiresAt: expires}, 100, true, before, EHoldNotActive, HoldPending, 0, 0, 0, 0},
		{"voided hold", Hold{Status: HoldVoided, Amount: 1000, Released: 1000, ExpiresAt: expires}, 100, true, before, EHoldNotActive, HoldVoided, 0, 1000, 0, 0},
		{"captured hold", Hold{Status: HoldCaptured, Amount: 1000, Captured: 1000, ExpiresAt: expires}, 1, false, before, EHoldNotActive, HoldCaptured, 1000, 0, 0, 0},
		{"failed hold", Hold{Status: HoldFailed, Amount: 1000, ExpiresAt: expires}, 1, false, before, EHoldNotActive, HoldFailed, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		h := tt.hold
		released, failure := h.Capture(tt.amount, tt.final, tt.accepted, after)
		if failure != tt.failure || released != tt.releasedNow {
			t.Errorf("%s: Capture = %d, %q; want %d, %q", tt.name, released, failure, tt.releasedNow, tt.failure)
		}
		if h.Status != tt.status || h.Captured != tt.captured || h.Released != tt.released || h.Remaining() != tt.remain {
			t.Errorf("%s: hold is %s captured %d released %d remaining %d; want %s %d %d %d", tt.name,
				h.Status, h.Captured, h.Released, h.Remaining(), tt.status, tt.captured, tt.released, tt.remain)
		}
		if closed := h.Status == HoldCaptured && tt.hold.Status == HoldActive; closed != (h.ClosedAt != nil) {
			t.Errorf("%s: closed_at %v for status %s", tt.name, h.ClosedAt, h.Status)
		}
		if h.Status != HoldActive && h.Status != HoldPending && h.Status != HoldFailed && h.Captured+h.Released != h.Amount {
			t.Errorf("%s: closed hold with captured %d + released %d != amount %d", tt.name, h.Captured, h.Released, h.Amount)
		}
	}
}

func TestHoldVoidAndExpire(t *testing.T) {
	t.Parallel()
	before, after := expires.Add(-time.Second), expires.Add(time.Second)
	tests := []struct {
		name    string
		hold    Hold
		do      func(h *Hold) (Amount, string)
		failure string
		status  HoldStatus
		release Amount
	}{
		{"void an active hold", activeHold(1000, 250), func(h *Hold) (Amount, string) { return h.Void(before, after) }, "", HoldVoided, 750},
		{"void accepted after expiry", activeHold(1000, 0), func(h *Hold) (Amount, string) { return h.Void(expires, after) }, EHoldNotActive, HoldActive, 0},
		{"void a voided hold", Hold{Status: HoldVoided, Amount: 1, Released: 1, ExpiresAt: expires}, func(h *Hold) (Amount, string) { return h.Void(before, after) }, EHoldNotActive, HoldVoided, 0},
		{"void a captured hold", Hold{Status: HoldCaptured, Amount: 1, Captured: 1, ExpiresAt: expires}, func(h *Hold) (Amount, string) { return h.Void(before, after) }, EHoldNotActive, HoldCaptured, 0},
		{"expire at expires_at", activeHold(1000, 100), func(h *Hold) (Amount, string) { return h.Expire(expires, false) }, "", HoldExpired, 900},
		{"expire early", activeHold(1000, 0), func(h *Hold) (Amount, string) { return h.Expire(before, false) }, EHoldNotExpired, HoldActive, 0},
		{"expire behind a capture accepted in time", activeHold(1000, 0), func(h *Hold) (Amount, string) { return h.Expire(after, true) }, EHoldBusy, HoldActive, 0},
		{"expire a voided hold", Hold{Status: HoldVoided, Amount: 1, Released: 1, ExpiresAt: expires}, func(h *Hold) (Amount, string) { return h.Expire(after, false) }, EHoldNotActive, HoldVoided, 0},
		{"expire a pending hold", Hold{Status: HoldPending, Amount: 1, ExpiresAt: expires}, func(h *Hold) (Amount, string) { return h.Expire(after, false) }, EHoldNotActive, HoldPending, 0},
	}
	for _, tt := range tests {
		h := tt.hold
		released, failure := tt.do(&h)
		if failure != tt.failure || released != tt.release || h.Status != tt.status {
			t.Errorf("%s: = %d, %q, status %s; want %d, %q, %s", tt.name, released, failure, h.Status, tt.release, tt.failure, tt.status)
		}
		if failure == "" && (h.Remaining() != 0 || h.Captured+h.Released != h.Amount || h.ClosedAt == nil) {
			t.Errorf("%s: closed hold: remaining %d, captured %d + released %d vs amount %d, closed_at %v",
				tt.name, h.Remaining(), h.Captured, h.Released, h.Amount, h.ClosedAt)
		}
	}
}

func TestHoldActivate(t *testing.T) {
	t.Parallel()
	h := Hold{Status: HoldPending, Amount: 500, ExpiresAt: expires}
	h.Activate("", t0)
	if h.Status != HoldActive || h.Remaining() != 500 || h.ClosedAt != nil {
		t.Errorf("activated hold: %+v", h)
	}
	f := Hold{Status: HoldPending, Amount: 500, ExpiresAt: expires}
	f.Activate(EInsufficientFunds, t0)
	if f.Status != HoldFailed || f.FailureCode != EInsufficientFunds || f.Remaining() != 0 || f.ClosedAt == nil {
		t.Errorf("failed hold: %+v", f)
	}
}
