package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestPickerMix(t *testing.T) {
	for _, tc := range []struct{ hot, deposit float64 }{{0, 0}, {1, 0}, {0.5, 0.2}, {0, 1}} {
		p := newPicker(1, 0, 10, tc.hot, tc.deposit, 0, false)
		const n = 20000
		var deposits, fromHot, transfers int
		for range n {
			kind, from, to, minor := p.next()
			if minor < 1 || minor > 100 || to < 0 || to >= 10 {
				t.Fatalf("picked amount %d to %d", minor, to)
			}
			if kind == kindDeposit {
				deposits++
				if from != -1 {
					t.Fatalf("deposit from %d", from)
				}
				continue
			}
			transfers++
			if from == to || from < 0 || from >= 10 {
				t.Fatalf("transfer %d -> %d", from, to)
			}
			if from == 0 {
				fromHot++
			}
		}
		// Uniform senders pick the hot wallet a tenth of the time too.
		wantHot := tc.hot + (1-tc.hot)/10
		if got := float64(deposits) / n; got < tc.deposit-0.02 || got > tc.deposit+0.02 {
			t.Errorf("%+v: deposit share %.3f", tc, got)
		}
		if transfers > 0 {
			if got := float64(fromHot) / float64(transfers); got < wantHot-0.02 || got > wantHot+0.02 {
				t.Errorf("%+v: hot share %.3f, want %.3f", tc, got, wantHot)
			}
		}
	}
}

// With a hold share, holds go from any payer but the merchant (user 0)
// to the merchant, in that share.
func TestPickerHolds(t *testing.T) {
	p := newPicker(1, 0, 10, 0, 0, 0.4, false)
	const n = 20000
	holds := 0
	for range n {
		kind, from, to, _ := p.next()
		if kind != kindHold {
			continue
		}
		holds++
		if to != 0 || from < 1 || from >= 10 {
			t.Fatalf("hold %d -> %d, want a payer to the merchant 0", from, to)
		}
	}
	if got := float64(holds) / n; got < 0.38 || got > 0.42 {
		t.Errorf("hold share %.3f, want 0.4", got)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&apiError{Status: 409, Code: "wallet_busy"}, true},
		{&apiError{Status: 409, Code: "request_in_progress"}, true},
		{&apiError{Status: 503, Code: "unavailable"}, true},
		{&apiError{Status: 502, Code: "http_502"}, true},
		{&apiError{Status: 422, Code: "insufficient_funds"}, false},
		{&apiError{Status: 409, Code: "email_taken"}, false},
		{fmt.Errorf("post: %w", errors.New("connection reset")), true},
		{context.Canceled, false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v", tc.err, got)
		}
	}
}

func TestDecodeAPIError(t *testing.T) {
	err := decodeAPIError(409, []byte(`{"error":{"code":"wallet_busy","message":"busy"}}`))
	if errorCode(err) != "wallet_busy" {
		t.Errorf("code %q", errorCode(err))
	}
	if got := errorCode(decodeAPIError(502, []byte("<html>bad gateway</html>"))); got != "http_502" {
		t.Errorf("non-JSON error counted as %q", got)
	}
	if got := errorCode(errors.New("dial tcp: refused")); got != codeTransport {
		t.Errorf("transport error counted as %q", got)
	}
}

func TestBackoffGrowsAndIsBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for attempt := 1; attempt < 20; attempt++ {
		base := min(5*time.Millisecond<<(attempt-1), 200*time.Millisecond)
		for range 100 {
			if d := backoff(rng, attempt); d < base/2 || d >= base*3/2 {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v)", attempt, d, base/2, base*3/2)
			}
		}
	}
}

func TestIdempotencyKeysAreUnique(t *testing.T) {
	d := &driver{keyPrefix: "bench-1-0-"}
	seen := map[string]bool{}
	for sender := range 12 {
		for seq := range 12 {
			k := d.key(sender, seq)
			if seen[k] {
				t.Fatalf("key %q twice", k)
			}
			seen[k] = true
		}
	}
}

func TestReadPlan(t *testing.T) {
	// Wallet 0 sends 1,000 transfers, to wallets 1..4 in turn, and
	// receives 3; wallet 1 also receives 2 deposits.
	var ops []opRecord
	for i := range 1000 {
		ops = append(ops, opRecord{From: 0, To: int32(1 + i%4)})
	}
	ops = append(ops, opRecord{From: 2, To: 0}, opRecord{From: 3, To: 0}, opRecord{From: 4, To: 0})
	ops = append(ops, opRecord{From: -1, To: 1}, opRecord{From: -1, To: 1})
	list, get := readPlan(ops, 5)
	// Wallet 0's listing is 1,003 long (11 pages) for 3 operations: read
	// those by id. The others' listings are short: list them.
	if len(get) != 3 || get[0] != 1000 || get[2] != 1002 {
		t.Errorf("read by id: %v", get)
	}
	want := map[int32]int{1: 252, 2: 250, 3: 250, 4: 250}
	if len(list) != len(want) {
		t.Fatalf("listed %v", list)
	}
	for w, n := range want {
		if list[w] != n {
			t.Errorf("wallet %d: find %d in its listing, want %d", w, list[w], n)
		}
	}
}

// The mixed scenario's picks come in its shares, each between two
// different wallets (a withdrawal to no wallet, a deposit from none).
func TestPickerMixed(t *testing.T) {
	p := newPicker(1, 0, 10, 0, 0, 0, true)
	const n = 40000
	count := map[opKind]int{}
	for range n {
		kind, from, to, minor := p.next()
		count[kind]++
		switch {
		case minor < 1 || minor > 100:
			t.Fatalf("amount %d", minor)
		case kind == kindDeposit && (from != -1 || to < 0 || to >= 10):
			t.Fatalf("deposit %d -> %d", from, to)
		case kind == kindWithdrawal && (from < 0 || from >= 10 || to != -1):
			t.Fatalf("withdrawal %d -> %d", from, to)
		case kind != kindDeposit && kind != kindWithdrawal && (from == to || from < 0 || to < 0 || from >= 10 || to >= 10):
			t.Fatalf("%s %d -> %d", kind, from, to)
		}
	}
	for kind, want := range map[opKind]float64{kindDeposit: mixedDeposits, kindHold: mixedHolds, kindRequestPaid: mixedRequests,
		kindWithdrawal: mixedWithdrawals, kindTransfer: 1 - mixedDeposits - mixedHolds - mixedRequests - mixedWithdrawals} {
		if got := float64(count[kind]) / n; got < want-0.01 || got > want+0.01 {
			t.Errorf("%s: share %.3f, want %.2f", kind, got, want)
		}
	}
}
