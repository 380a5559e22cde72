package wallet

import (
	"testing"
	"time"
)

func TestWithdrawalTransitions(t *testing.T) {
	t.Parallel()
	since := t0
	timeout := DefaultWithdrawalTimeout
	at := func(s WithdrawalStatus) Withdrawal {
		w := Withdrawal{ID: "w", Status: s, Amount: 500}
		if s != WithdrawalRequested {
			w.PendingSince = &since
		}
		return w
	}
	type step struct {
		name    string
		from    WithdrawalStatus
		do      func(w *Withdrawal) string
		failure string
		to      WithdrawalStatus
	}
	complete := func(w *Withdrawal) string { return w.Complete("ref-1", t0) }
	fail := func(w *Withdrawal) string { return w.End(WithdrawalFailed, "bank said no", t0, timeout) }
	cancel := func(w *Withdrawal) string { return w.End(WithdrawalCancelled, "", t0, timeout) }
	expireAt := func(now time.Time) func(w *Withdrawal) string {
		return func(w *Withdrawal) string { return w.End(WithdrawalExpired, "", now, timeout) }
	}
	processing := func(w *Withdrawal) string { return w.MarkProcessing() }
	var tests []step
	for _, s := range []WithdrawalStatus{WithdrawalPending, WithdrawalProcessing} {
		tests = append(tests,
			step{"complete " + string(s), s, complete, "", WithdrawalCompleted},
			step{"fail " + string(s), s, fail, "", WithdrawalFailed})
	}
	for _, s := range []WithdrawalStatus{WithdrawalRequested, WithdrawalCompleted, WithdrawalFailed, WithdrawalCancelled, WithdrawalExpired} {
		tests = append(tests,
			step{"complete " + string(s), s, complete, EWithdrawalClosed, s},
			step{"fail " + string(s), s, fail, EWithdrawalClosed, s},
			step{"cancel " + string(s), s, cancel, EWithdrawalNotCancellable, s},
			step{"processing " + string(s), s, processing, EWithdrawalNotPending, s})
	}
	tests = append(tests,
		step{"cancel pending", WithdrawalPending, cancel, "", WithdrawalCancelled},
		step{"cancel processing", WithdrawalProcessing, cancel, EWithdrawalNotCancellable, WithdrawalProcessing},
		step{"processing pending", WithdrawalPending, processing, "", WithdrawalProcessing},
		step{"processing processing", WithdrawalProcessing, processing, EWithdrawalNotPending, WithdrawalProcessing},
		step{"expire pending at its time", WithdrawalPending, expireAt(since.Add(timeout)), "", WithdrawalExpired},
		step{"expire pending early", WithdrawalPending, expireAt(since.Add(timeout - time.Second)), EWithdrawalNotPending, WithdrawalPending},
		step{"expire processing", WithdrawalProcessing, expireAt(since.Add(2 * timeout)), EWithdrawalNotPending, WithdrawalProcessing},
		step{"expire completed", WithdrawalCompleted, expireAt(since.Add(2 * timeout)), EWithdrawalNotPending, WithdrawalCompleted},
		step{"end as something else", WithdrawalPending, func(w *Withdrawal) string { return w.End(WithdrawalCompleted, "", t0, timeout) }, EInvalidRequest, WithdrawalPending},
	)
	for _, tt := range tests {
		w := at(tt.from)
		failure := tt.do(&w)
		if failure != tt.failure || w.Status != tt.to {
			t.Errorf("%s: %q, now %s; want %q, %s", tt.name, failure, w.Status, tt.failure, tt.to)
		}
		if failure == "" && !w.Open() && w.ClosedAt == nil {
			t.Errorf("%s: ended as %s without closed_at", tt.name, w.Status)
		}
	}
}

func TestWithdrawalReserve(t *testing.T) {
	t.Parallel()
	w := Withdrawal{Status: WithdrawalRequested, Amount: 500}
	w.Reserve("", t0)
	if w.Status != WithdrawalPending || w.PendingSince == nil || !w.Open() {
		t.Errorf("reserved: %+v", w)
	}
	f := Withdrawal{Status: WithdrawalRequested, Amount: 500}
	f.Reserve(EInsufficientFunds, t0)
	if f.Status != WithdrawalFailed || f.FailureReason != EInsufficientFunds || f.Open() || f.ClosedAt == nil {
		t.Errorf("failed: %+v", f)
	}
}
