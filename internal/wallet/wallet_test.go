package wallet_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

func TestOperationEntriesBalanced(t *testing.T) {
	t.Parallel()
	amounts := []wallet.Amount{1, 2, 11560, testMax, math.MaxInt64 / 2, math.MaxInt64 - 1, math.MaxInt64}
	for _, typ := range []wallet.OpType{wallet.OpDeposit, wallet.OpTransfer} {
		for _, amount := range amounts {
			op := wallet.Operation{ID: "op-1", Type: typ, Amount: amount, FromWalletID: "from", ToWalletID: "to"}
			entries := op.Entries()
			if !wallet.Balanced(entries) {
				t.Errorf("%s of %d: entries %+v are not balanced", typ, amount, entries)
			}
			if len(entries) != 2 {
				t.Fatalf("%s of %d: %d entries, want 2", typ, amount, len(entries))
			}
			want := map[string]wallet.Amount{"from": -amount, "to": amount}
			for _, e := range entries {
				if e.OperationID != op.ID {
					t.Errorf("%s of %d: entry %+v has operation id %q, want %q", typ, amount, e, e.OperationID, op.ID)
				}
				w, ok := want[e.WalletID]
				if !ok || e.Amount != w {
					t.Errorf("%s of %d: unexpected entry %+v", typ, amount, e)
				}
				delete(want, e.WalletID)
			}
		}
	}
}

func TestBalanced(t *testing.T) {
	t.Parallel()
	e := func(amounts ...wallet.Amount) []wallet.Entry {
		out := make([]wallet.Entry, len(amounts))
		for i, a := range amounts {
			out[i] = wallet.Entry{OperationID: "op", WalletID: fmt.Sprint("w", i), Amount: a}
		}
		return out
	}
	tests := []struct {
		name    string
		entries []wallet.Entry
		want    bool
	}{
		{"debit and credit", e(-100, 100), true},
		{"three legs", e(-100, 60, 40), true},
		{"max int64 legs", e(math.MaxInt64, -math.MaxInt64), true},
		{"min int64 plus max plus one", e(math.MinInt64, math.MaxInt64, 1), true},
		{"credit only", e(100), false},
		{"debit only", e(-1), false},
		{"off by one", e(-100, 99), false},
		{"two credits", e(100, 100), false},
		// Each of these sums to zero in wrapping int64 arithmetic, so a
		// naive sum would call them balanced.
		{"two min int64 wrap to zero", e(math.MinInt64, math.MinInt64), false},
		{"max max two wrap to zero", e(math.MaxInt64, math.MaxInt64, 2), false},
		{"overflow then back", e(math.MaxInt64, 1, -1, -math.MaxInt64), false},
		{"negative overflow then back", e(math.MinInt64, -1, 1, math.MaxInt64, 1), false},
	}
	for _, tt := range tests {
		if got := wallet.Balanced(tt.entries); got != tt.want {
			t.Errorf("%s: Balanced(%v) = %v, want %v", tt.name, tt.entries, got, tt.want)
		}
	}
	// An operation whose amount cannot be negated does not balance.
	bad := wallet.Operation{ID: "op", Type: wallet.OpTransfer, Amount: math.MinInt64, FromWalletID: "a", ToWalletID: "b"}
	if wallet.Balanced(bad.Entries()) {
		t.Errorf("entries of an operation of math.MinInt64 are balanced: %+v", bad.Entries())
	}
}

func TestAddChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b wallet.Amount
		want wallet.Amount
		ok   bool
	}{
		{1, 2, 3, true},
		{-1, 1, 0, true},
		{math.MaxInt64, 0, math.MaxInt64, true},
		{math.MaxInt64 - 1, 1, math.MaxInt64, true},
		{math.MaxInt64, 1, 0, false},
		{math.MinInt64, -1, 0, false},
		{math.MinInt64, math.MaxInt64, -1, true},
		{math.MinInt64 + 1, -1, math.MinInt64, true},
	}
	for _, tt := range tests {
		got, ok := wallet.AddChecked(tt.a, tt.b)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("AddChecked(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.want, tt.ok)
		}
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	domain := wallet.Errorf(wallet.EInsufficientFunds, "insufficient funds: %s available", "0.00")
	tests := []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"nil", nil, "", "internal error"},
		{"domain", domain, wallet.EInsufficientFunds, "insufficient funds: 0.00 available"},
		{"wrapped", fmt.Errorf("apply: %w", domain), wallet.EInsufficientFunds, "insufficient funds: 0.00 available"},
		{"joined", errors.Join(errors.New("other"), domain), wallet.EInsufficientFunds, "insufficient funds: 0.00 available"},
		{"plain", errors.New("connection refused to 10.0.0.1"), wallet.EInternal, "internal error"},
	}
	for _, tt := range tests {
		if got := wallet.ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: ErrorCode = %q, want %q", tt.name, got, tt.code)
		}
		if got := wallet.ErrorMessage(tt.err); got != tt.msg {
			t.Errorf("%s: ErrorMessage = %q, want %q", tt.name, got, tt.msg)
		}
	}
}
