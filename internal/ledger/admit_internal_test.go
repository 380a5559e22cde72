package ledger

import (
	"testing"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// The accept's early decisions on holds and withdrawals: what it refuses
// at once, and how each admitted request counts for the ones after it in
// the same group.

func holdState(status wallet.HoldStatus, captured, pendingCaptures wallet.Amount, live, closer, beforeExpiry bool) wallet.HoldState {
	return wallet.HoldState{
		Hold: wallet.Hold{ID: "h", Status: status, Amount: 10000, Captured: captured, FromWalletID: "payer",
			ToWalletID: "recipient", ExpiresAt: time.Now().Add(time.Hour)},
		Live: live, PendingCaptures: pendingCaptures, PendingCloser: closer, PendingBeforeExpiry: beforeExpiry,
	}
}

func TestAdmitHold(t *testing.T) {
	t.Parallel()
	active := wallet.HoldActive
	tests := []struct {
		name   string
		st     wallet.HoldState
		op     wallet.Operation
		code   string
		amount wallet.Amount // the operation's amount after admit
		// the state for the next request of the group
		pendingCaptures wallet.Amount
		closer          bool
	}{
		{"capture part", holdState(active, 0, 0, true, false, false), capture(3000, false), "", 3000, 3000, false},
		{"capture part, final", holdState(active, 0, 0, true, false, false), capture(3000, true), "", 3000, 3000, true},
		{"capture all by default", holdState(active, 2000, 1000, true, false, false), capture(0, false), "", 7000, 8000, true},
		{"capture what remains exactly", holdState(active, 0, 4000, true, false, false), capture(6000, false), "", 6000, 10000, true},
		{"capture past what pending captures leave", holdState(active, 0, 4000, true, false, false), capture(6001, false), wallet.ECaptureExceedsHold, 6001, 4000, false},
		{"capture a hold being closed", holdState(active, 0, 0, true, true, false), capture(1, false), wallet.EHoldNotActive, 1, 0, true},
		{"capture all that pending captures already take", holdState(active, 0, 10000, true, false, false), capture(0, false), wallet.EHoldNotActive, 0, 10000, false},
		{"capture past expiry", holdState(active, 0, 0, false, false, false), capture(1, false), wallet.EHoldNotActive, 1, 0, false},
		{"capture a pending hold", holdState(wallet.HoldPending, 0, 0, true, false, false), capture(1, false), wallet.EHoldNotActive, 1, 0, false},
		{"capture a voided hold", holdState(wallet.HoldVoided, 0, 0, true, false, false), capture(1, false), wallet.EHoldNotActive, 1, 0, false},
		{"void releases what pending captures leave", holdState(active, 1000, 2000, true, false, false), void(), "", 7000, 2000, true},
		{"void a hold being closed", holdState(active, 0, 0, true, true, false), void(), wallet.EHoldNotActive, 0, 0, true},
		{"void past expiry", holdState(active, 0, 0, false, false, false), void(), wallet.EHoldNotActive, 0, 0, false},
		{"expire", holdState(active, 2500, 0, false, false, false), expire(), "", 7500, 0, true},
		{"expire before its time", holdState(active, 0, 0, true, false, false), expire(), wallet.EHoldNotExpired, 0, 0, false},
		{"expire behind a capture accepted in time", holdState(active, 0, 1000, false, false, true), expire(), wallet.EHoldBusy, 0, 1000, false},
		{"expire a captured hold", holdState(wallet.HoldCaptured, 10000, 0, false, false, false), expire(), wallet.EHoldNotActive, 0, 0, false},
	}
	for _, tt := range tests {
		st, op := tt.st, tt.op
		code := admitHold(&st, &op)
		if code != tt.code {
			t.Errorf("%s: admitHold = %q, want %q", tt.name, code, tt.code)
			continue
		}
		if op.Amount != tt.amount {
			t.Errorf("%s: the operation's amount is %d, want %d", tt.name, op.Amount, tt.amount)
		}
		if st.PendingCaptures != tt.pendingCaptures || st.PendingCloser != tt.closer {
			t.Errorf("%s: state after: pending captures %d, closer %v; want %d, %v", tt.name, st.PendingCaptures, st.PendingCloser,
				tt.pendingCaptures, tt.closer)
		}
	}
}

func capture(a wallet.Amount, final bool) wallet.Operation {
	return wallet.Operation{Type: wallet.OpHoldCapture, Amount: a, CaptureFinal: final}
}
func void() wallet.Operation   { return wallet.Operation{Type: wallet.OpHoldVoid} }
func expire() wallet.Operation { return wallet.Operation{Type: wallet.OpHoldExpire} }

// Two captures in one group: the second sees what the first takes.
func TestAdmitHoldInAGroup(t *testing.T) {
	t.Parallel()
	st := holdState(wallet.HoldActive, 0, 0, true, false, false)
	first, second, third := capture(6000, false), capture(4001, false), capture(4000, false)
	if code := admitHold(&st, &first); code != "" {
		t.Fatalf("first capture: %q", code)
	}
	if code := admitHold(&st, &second); code != wallet.ECaptureExceedsHold {
		t.Fatalf("second capture past the rest: %q, want %q", code, wallet.ECaptureExceedsHold)
	}
	if code := admitHold(&st, &third); code != "" {
		t.Fatalf("third capture of the rest: %q", code)
	}
	v := void()
	if code := admitHold(&st, &v); code != wallet.EHoldNotActive {
		t.Fatalf("a void after captures of everything: %q, want %q", code, wallet.EHoldNotActive)
	}
}

func TestRecipientOf(t *testing.T) {
	t.Parallel()
	h := wallet.Hold{ID: "h", FromWalletID: "payer", ToWalletID: "recipient"}
	for _, tt := range []struct {
		caller string
		typ    wallet.OpType
		code   string
	}{
		{"recipient", wallet.OpHoldCapture, ""},
		{"recipient", wallet.OpHoldVoid, ""},
		{"payer", wallet.OpHoldCapture, wallet.EForbidden},
		{"payer", wallet.OpHoldVoid, wallet.EForbidden},
		{"someone else", wallet.OpHoldCapture, wallet.EHoldNotFound},
		{"someone else", wallet.OpHoldVoid, wallet.EHoldNotFound},
	} {
		op := wallet.Operation{Type: tt.typ, ToWalletID: tt.caller}
		err := recipientOf(h, &op)
		if code := wallet.ErrorCode(err); code != tt.code {
			t.Errorf("%s %s: %v, want %q", tt.caller, tt.typ, err, tt.code)
		}
		if err == nil && (op.FromWalletID != "payer" || op.ToWalletID != "recipient") {
			t.Errorf("%s %s: the operation names %s -> %s, want the hold's parties", tt.caller, tt.typ, op.FromWalletID, op.ToWalletID)
		}
	}
}

func TestAdmitWithdrawal(t *testing.T) {
	t.Parallel()
	ws := func(status wallet.WithdrawalStatus, timedOut, closer bool) wallet.WithdrawalState {
		return wallet.WithdrawalState{Withdrawal: wallet.Withdrawal{ID: "w", Status: status, Amount: 4000}, TimedOut: timedOut, PendingCloser: closer}
	}
	complete := wallet.Operation{Type: wallet.OpWithdrawalComplete}
	end := func(as wallet.WithdrawalStatus) wallet.Operation {
		return wallet.Operation{Type: wallet.OpWithdrawalFail, EndAs: as}
	}
	pending, processing := wallet.WithdrawalPending, wallet.WithdrawalProcessing
	tests := []struct {
		name string
		st   wallet.WithdrawalState
		op   wallet.Operation
		code string
	}{
		{"complete pending", ws(pending, false, false), complete, ""},
		{"complete processing", ws(processing, false, false), complete, ""},
		{"complete requested", ws(wallet.WithdrawalRequested, false, false), complete, wallet.EWithdrawalClosed},
		{"complete completed", ws(wallet.WithdrawalCompleted, false, false), complete, wallet.EWithdrawalClosed},
		{"complete one being ended", ws(pending, false, true), complete, wallet.EWithdrawalClosed},
		{"fail processing", ws(processing, false, false), end(wallet.WithdrawalFailed), ""},
		{"fail cancelled", ws(wallet.WithdrawalCancelled, false, false), end(wallet.WithdrawalFailed), wallet.EWithdrawalClosed},
		{"cancel pending", ws(pending, false, false), end(wallet.WithdrawalCancelled), ""},
		{"cancel processing", ws(processing, false, false), end(wallet.WithdrawalCancelled), wallet.EWithdrawalNotCancellable},
		{"cancel one being ended", ws(pending, false, true), end(wallet.WithdrawalCancelled), wallet.EWithdrawalNotCancellable},
		{"expire timed out", ws(pending, true, false), end(wallet.WithdrawalExpired), ""},
		{"expire not yet due", ws(pending, false, false), end(wallet.WithdrawalExpired), wallet.EWithdrawalNotPending},
		{"expire processing", ws(processing, true, false), end(wallet.WithdrawalExpired), wallet.EWithdrawalNotPending},
		{"end as nothing known", ws(pending, false, false), end(wallet.WithdrawalCompleted), wallet.EInvalidRequest},
	}
	for _, tt := range tests {
		st, op := tt.st, tt.op
		code := admitWithdrawal(&st, &op)
		if code != tt.code {
			t.Errorf("%s: admitWithdrawal = %q, want %q", tt.name, code, tt.code)
			continue
		}
		if code == "" && (op.Amount != 4000 || !st.PendingCloser) {
			t.Errorf("%s: admitted with amount %d, closer %v; want the withdrawal's 4000 and a pending end", tt.name, op.Amount, st.PendingCloser)
		}
	}
}
