package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/wallet"
)

// subjectEvents is a user's events about objects of kind (hold,
// payment_request, withdrawal), oldest first.
func (f *fixture) subjectEvents(t *testing.T, u wallet.User, kind string) []wallet.Notification {
	t.Helper()
	ns, err := f.store.Notifications(context.Background(), u.ID, "", false, 100) // newest first
	if err != nil {
		t.Fatal(err)
	}
	var out []wallet.Notification
	for _, n := range slices.Backward(ns) {
		if strings.HasPrefix(n.Type, kind+".") {
			out = append(out, n)
		}
	}
	return out
}

// types is the event types of ns, in order.
func types(ns []wallet.Notification) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Type
	}
	return strings.Join(s, " ")
}

// TestSubjectEvents: each change of a hold, payment request or
// withdrawal that the contract names writes one event per party, in the
// transaction of the change, carrying the object as it was then (a later
// change does not rewrite an earlier event); changes the contract does
// not name (a partial capture that leaves the hold active, a request
// opened again by a failed transfer, a withdrawal that never reserved)
// write none of their own.
func TestSubjectEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	t.Run("hold placed, captured in part, then in full", func(t *testing.T) {
		t.Parallel()
		p := f.newHold(t, 10000, 6000)
		f.apply(t, p.placeID)
		f.apply(t, f.store1(t, p.capture(1000, false)).ID)
		f.apply(t, f.store1(t, p.capture(2000, true)).ID)
		for _, u := range []wallet.User{p.payer, p.recipient} {
			evs := f.subjectEvents(t, u, wallet.SubjectHold)
			if types(evs) != "hold.active hold.captured" {
				t.Fatalf("events: %q, want hold.active hold.captured", types(evs))
			}
			if h := evs[0].Hold; h == nil || h.ID != p.holdID || h.Status != wallet.HoldActive || h.Captured != 0 ||
				h.Amount != 6000 || h.ClosedAt != nil || h.ExpiresAt.IsZero() {
				t.Errorf("hold.active carries %+v", evs[0].Hold)
			}
			if h := evs[1].Hold; h == nil || h.Status != wallet.HoldCaptured || h.Captured != 3000 || h.Released != 3000 || h.ClosedAt == nil {
				t.Errorf("hold.captured carries %+v", evs[1].Hold)
			}
		}
	})

	t.Run("hold voided", func(t *testing.T) {
		t.Parallel()
		p := f.newHold(t, 10000, 6000)
		f.apply(t, p.placeID)
		f.apply(t, f.store1(t, p.close(wallet.OpHoldVoid, 6000)).ID)
		for _, u := range []wallet.User{p.payer, p.recipient} {
			if evs := f.subjectEvents(t, u, wallet.SubjectHold); types(evs) != "hold.active hold.voided" ||
				evs[1].Hold.Status != wallet.HoldVoided || evs[1].Hold.Released != 6000 {
				t.Errorf("events: %q %+v", types(evs), evs)
			}
		}
	})

	t.Run("hold that fails to reserve", func(t *testing.T) {
		t.Parallel()
		p := f.newHold(t, 100, 6000)
		if op := f.apply(t, p.placeID); op.Status != wallet.StatusFailed {
			t.Fatalf("hold: %s", op.Status)
		}
		for _, u := range []wallet.User{p.payer, p.recipient} {
			if evs := f.subjectEvents(t, u, wallet.SubjectHold); len(evs) != 0 {
				t.Errorf("events of a failed hold: %q", types(evs))
			}
		}
	})

	t.Run("request created, refused by a failed transfer, then paid", func(t *testing.T) {
		t.Parallel()
		p := f.newRequest(t, 1000, 2500)
		f.apply(t, f.store1(t, p.approve("")).ID) // too little: open again, no event
		for _, u := range []wallet.User{p.payer, p.requester} {
			if evs := f.subjectEvents(t, u, wallet.SubjectPaymentRequest); types(evs) != "payment_request.created" ||
				evs[0].PaymentRequest.Status != wallet.RequestOpen || evs[0].PaymentRequest.Details != "dinner" {
				t.Fatalf("events: %q", types(evs))
			}
		}
		pgtest.Deposit(t, f.store, f.bank, f.settlement, p.from, 5000)
		op := f.apply(t, f.store1(t, p.approve("")).ID)
		for _, u := range []wallet.User{p.payer, p.requester} {
			evs := f.subjectEvents(t, u, wallet.SubjectPaymentRequest)
			if types(evs) != "payment_request.created payment_request.paid" {
				t.Fatalf("events: %q", types(evs))
			}
			if r := evs[1].PaymentRequest; r.Status != wallet.RequestPaid || r.OperationID != op.ID || r.ClosedAt == nil ||
				r.Amount != 2500 || r.RequestedBy != p.requester.ID {
				t.Errorf("payment_request.paid carries %+v", r)
			}
		}
	})

	for _, c := range []struct {
		name  string
		close func(t *testing.T, p requestParty)
		want  wallet.PaymentRequestStatus
	}{
		{"declined", func(t *testing.T, p requestParty) {
			if _, err := f.store.ClosePaymentRequest(ctx, p.req.ID, wallet.RequestDeclined, "no"); err != nil {
				t.Fatal(err)
			}
		}, wallet.RequestDeclined},
		{"cancelled", func(t *testing.T, p requestParty) {
			if _, err := f.store.ClosePaymentRequest(ctx, p.req.ID, wallet.RequestCancelled, ""); err != nil {
				t.Fatal(err)
			}
		}, wallet.RequestCancelled},
		{"expired", func(t *testing.T, p requestParty) {
			f.exec(t, `UPDATE payment_requests SET expires_at = now() - interval '1 second' WHERE id = $1`, p.req.ID)
			if rs, err := f.store.ExpirePaymentRequests(ctx, []string{p.req.ID}, 10); err != nil || len(rs) != 1 {
				t.Fatal(rs, err)
			}
		}, wallet.RequestExpired},
	} {
		t.Run("request "+c.name, func(t *testing.T) {
			p := f.newRequest(t, 0, 2500)
			c.close(t, p)
			for _, u := range []wallet.User{p.payer, p.requester} {
				evs := f.subjectEvents(t, u, wallet.SubjectPaymentRequest)
				if types(evs) != "payment_request.created payment_request."+string(c.want) ||
					evs[1].PaymentRequest.Status != c.want || evs[0].PaymentRequest.Status != wallet.RequestOpen {
					t.Errorf("events: %q", types(evs))
				}
			}
		})
	}

	t.Run("withdrawal pending, processing, completed", func(t *testing.T) {
		p := f.newWithdrawal(t, 10000, 4000)
		f.apply(t, p.opID)
		if _, err := f.store.MarkWithdrawalProcessing(ctx, p.id); err != nil {
			t.Fatal(err)
		}
		f.apply(t, f.store1(t, endWithdrawal(p, wallet.OpWithdrawalComplete, "", "ref-7", 4000)).ID)
		for _, u := range []wallet.User{p.owner, p.bank} {
			evs := f.subjectEvents(t, u, wallet.SubjectWithdrawal)
			var mine []wallet.Notification
			for _, e := range evs {
				if e.Withdrawal.ID == p.id {
					mine = append(mine, e)
				}
			}
			if types(mine) != "withdrawal.pending withdrawal.processing withdrawal.completed" {
				t.Fatalf("events: %q", types(mine))
			}
			if w := mine[0].Withdrawal; w.Status != wallet.WithdrawalPending || w.PendingSince == nil || w.BankID != p.bank.ID {
				t.Errorf("withdrawal.pending carries %+v", w)
			}
			if w := mine[2].Withdrawal; w.Status != wallet.WithdrawalCompleted || w.Reference != "ref-7" || w.ClosedAt == nil {
				t.Errorf("withdrawal.completed carries %+v", w)
			}
		}
	})

	t.Run("withdrawal that fails to reserve", func(t *testing.T) {
		p := f.newWithdrawal(t, 100, 4000)
		if op := f.apply(t, p.opID); op.Status != wallet.StatusFailed {
			t.Fatalf("withdrawal: %s", op.Status)
		}
		for _, u := range []wallet.User{p.owner, p.bank} {
			for _, e := range f.subjectEvents(t, u, wallet.SubjectWithdrawal) {
				if e.Withdrawal.ID == p.id {
					t.Errorf("an event of a withdrawal that never reserved: %s", e.Type)
				}
			}
		}
	})
}
