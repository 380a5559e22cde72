package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/wallet"
)

// The state machines of holds, withdrawals and payment requests at the
// store, where they are decided: every transition and every refusal,
// then the races between them. The acceptor's early refusals are tested
// in the ledger; here every operation is stored as given and the commit
// must decide right.

const hour = time.Hour

// store1 stores one operation and fails unless it was stored.
func (f *fixture) store1(t testing.TB, no wallet.NewOperation) wallet.Operation {
	t.Helper()
	res, err := f.store.CreateOperations(context.Background(), []wallet.NewOperation{no})
	if err != nil {
		t.Fatalf("CreateOperations(%s): %v", no.Op.Type, err)
	}
	if res[0].KeyUsed || res[0].Refused != "" {
		t.Fatalf("CreateOperations(%s) did not store it: %+v", no.Op.Type, res[0])
	}
	return res[0].Op
}

// apply applies one operation and returns it final.
func (f *fixture) apply(t testing.TB, id string) wallet.Operation {
	t.Helper()
	res, err := f.store.ApplyOperations(context.Background(), []string{id})
	if err != nil {
		t.Fatalf("ApplyOperations(%s): %v", id, err)
	}
	return res[0].Op
}

func (f *fixture) holdOf(t testing.TB, id string) wallet.Hold {
	t.Helper()
	h, err := f.store.Hold(context.Background(), id)
	if err != nil {
		t.Fatalf("Hold(%s): %v", id, err)
	}
	return h
}

func (f *fixture) walletOf(t testing.TB, id string) wallet.Wallet {
	t.Helper()
	w, err := f.store.WalletByID(context.Background(), id)
	if err != nil {
		t.Fatalf("WalletByID(%s): %v", id, err)
	}
	return w
}

// exec runs SQL on the test's database (to move a deadline into the past).
func (f *fixture) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// holdParty is a payer and a recipient with a hold between them.
type holdParty struct {
	payer           wallet.User
	from, to        wallet.Wallet
	recipient       wallet.User
	holdID, placeID string
}

func (f *fixture) newHold(t testing.TB, funds, amount wallet.Amount) holdParty {
	t.Helper()
	var p holdParty
	p.payer, p.from = pgtest.CreateUser(t, f.store, wallet.RoleUser)
	if funds > 0 {
		pgtest.Deposit(t, f.store, f.bank, f.settlement, p.from, funds)
	}
	p.recipient, p.to = pgtest.CreateUser(t, f.store, wallet.RoleUser)
	op := f.store1(t, wallet.NewOperation{
		Op: wallet.Operation{Type: wallet.OpHold, Amount: amount, Currency: rub.Code, FromWalletID: p.from.ID,
			ToWalletID: p.to.ID, Details: "hold", CreatedBy: p.payer.ID},
		Hold: &wallet.NewHold{ExpiresIn: hour},
	})
	p.holdID, p.placeID = op.HoldID, op.ID
	return p
}

func (p holdParty) capture(amount wallet.Amount, final bool) wallet.NewOperation {
	return wallet.NewOperation{Op: wallet.Operation{Type: wallet.OpHoldCapture, Amount: amount, Currency: rub.Code,
		FromWalletID: p.from.ID, ToWalletID: p.to.ID, HoldID: p.holdID, CaptureFinal: final, CreatedBy: p.recipient.ID}}
}

func (p holdParty) close(typ wallet.OpType, amount wallet.Amount) wallet.NewOperation {
	return wallet.NewOperation{Op: wallet.Operation{Type: typ, Amount: amount, Currency: rub.Code,
		FromWalletID: p.from.ID, ToWalletID: p.to.ID, HoldID: p.holdID, CreatedBy: p.recipient.ID}}
}

// expireNow moves the hold's expiry into the past, as time would: to a
// second ago, or (after, when set) to just after those operations were
// accepted, so they stay accepted in time.
func (f *fixture) expireNow(t testing.TB, holdID string, after ...wallet.Operation) {
	t.Helper()
	if len(after) == 0 {
		f.exec(t, `UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = $1`, holdID)
		return
	}
	ids := make([]string, len(after))
	for i, op := range after {
		ids[i] = op.ID
	}
	f.exec(t, `UPDATE holds SET expires_at = (SELECT max(created_at) FROM operations WHERE id = ANY($2)) + interval '1 microsecond'
		WHERE id = $1`, holdID, ids)
}

// holdWant is a hold's expected state with its payer's and recipient's
// wallets.
type holdWant struct {
	status                       wallet.HoldStatus
	captured, released           wallet.Amount
	payerBalance, payerHeld, got wallet.Amount
}

func (f *fixture) checkHold(t *testing.T, p holdParty, w holdWant) {
	t.Helper()
	h := f.holdOf(t, p.holdID)
	if h.Status != w.status || h.Captured != w.captured || h.Released != w.released {
		t.Errorf("hold is %s captured %d released %d; want %s %d %d", h.Status, h.Captured, h.Released, w.status, w.captured, w.released)
	}
	from, to := f.walletOf(t, p.from.ID), f.walletOf(t, p.to.ID)
	if from.Balance != w.payerBalance || from.Held != w.payerHeld || from.Available != w.payerBalance-w.payerHeld {
		t.Errorf("payer has balance %d held %d available %d; want %d %d %d", from.Balance, from.Held, from.Available,
			w.payerBalance, w.payerHeld, w.payerBalance-w.payerHeld)
	}
	if to.Balance != w.got || to.Held != 0 {
		t.Errorf("recipient has balance %d held %d; want %d 0", to.Balance, to.Held, w.got)
	}
}

func TestHoldTransitions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	type step struct {
		op func(p holdParty) wallet.NewOperation
		// before runs before the step's operation is stored; between,
		// after it is stored (op) and before it is applied.
		before  func(t *testing.T, p holdParty)
		between func(t *testing.T, p holdParty, op wallet.Operation)
		status  wallet.Status
		failure string
		// released is what a void or expiry says it released.
		released wallet.Amount
	}
	capture := func(a wallet.Amount, final bool) func(holdParty) wallet.NewOperation {
		return func(p holdParty) wallet.NewOperation { return p.capture(a, final) }
	}
	closing := func(typ wallet.OpType, a wallet.Amount) func(holdParty) wallet.NewOperation {
		return func(p holdParty) wallet.NewOperation { return p.close(typ, a) }
	}
	expired := func(t *testing.T, p holdParty) { f.expireNow(t, p.holdID) }
	expiredAfter := func(t *testing.T, p holdParty, op wallet.Operation) { f.expireNow(t, p.holdID, op) }
	ok := wallet.StatusCompleted
	failed := wallet.StatusFailed
	tests := []struct {
		name  string
		funds wallet.Amount // the payer's; the hold is 100.00
		steps []step
		want  holdWant
	}{
		{"capture all of it", 15000, []step{{op: capture(10000, true), status: ok}},
			holdWant{wallet.HoldCaptured, 10000, 0, 5000, 0, 10000}},
		{"capture part, final releases the rest", 15000, []step{{op: capture(3000, true), status: ok}},
			holdWant{wallet.HoldCaptured, 3000, 7000, 12000, 0, 3000}},
		{"capture in parts", 15000, []step{{op: capture(3000, false), status: ok}, {op: capture(2000, false), status: ok}},
			holdWant{wallet.HoldActive, 5000, 0, 10000, 5000, 5000}},
		{"capturing the rest in parts closes it", 15000, []step{{op: capture(3000, false), status: ok}, {op: capture(7000, false), status: ok}},
			holdWant{wallet.HoldCaptured, 10000, 0, 5000, 0, 10000}},
		{"capture more than remains", 15000, []step{{op: capture(3000, false), status: ok}, {op: capture(7001, false), status: failed, failure: wallet.ECaptureExceedsHold}},
			holdWant{wallet.HoldActive, 3000, 0, 12000, 7000, 3000}},
		{"void", 15000, []step{{op: closing(wallet.OpHoldVoid, 10000), status: ok, released: 10000}},
			holdWant{wallet.HoldVoided, 0, 10000, 15000, 0, 0}},
		{"void after a partial capture releases what is left", 15000, []step{{op: capture(2500, false), status: ok}, {op: closing(wallet.OpHoldVoid, 10000), status: ok, released: 7500}},
			holdWant{wallet.HoldVoided, 2500, 7500, 12500, 0, 2500}},
		{"capture after a void", 15000, []step{{op: closing(wallet.OpHoldVoid, 10000), status: ok, released: 10000}, {op: capture(100, true), status: failed, failure: wallet.EHoldNotActive}},
			holdWant{wallet.HoldVoided, 0, 10000, 15000, 0, 0}},
		{"void twice", 15000, []step{{op: closing(wallet.OpHoldVoid, 10000), status: ok, released: 10000}, {op: closing(wallet.OpHoldVoid, 10000), status: failed, failure: wallet.EHoldNotActive}},
			holdWant{wallet.HoldVoided, 0, 10000, 15000, 0, 0}},
		{"capture accepted before expiry, committed after it", 15000, []step{{op: capture(4000, true), between: expiredAfter, status: ok}},
			holdWant{wallet.HoldCaptured, 4000, 6000, 11000, 0, 4000}},
		{"capture accepted after expiry", 15000, []step{{op: capture(4000, true), before: expired, status: failed, failure: wallet.EHoldNotActive}},
			holdWant{wallet.HoldActive, 0, 0, 15000, 10000, 0}},
		{"void accepted after expiry", 15000, []step{{op: closing(wallet.OpHoldVoid, 10000), before: expired, status: failed, failure: wallet.EHoldNotActive}},
			holdWant{wallet.HoldActive, 0, 0, 15000, 10000, 0}},
		{"expire", 15000, []step{{op: capture(1000, false), status: ok}, {op: closing(wallet.OpHoldExpire, 9000), before: expired, status: ok, released: 9000}},
			holdWant{wallet.HoldExpired, 1000, 9000, 14000, 0, 1000}},
		{"expire before its time", 15000, []step{{op: closing(wallet.OpHoldExpire, 10000), status: failed, failure: wallet.EHoldNotExpired}},
			holdWant{wallet.HoldActive, 0, 0, 15000, 10000, 0}},
		{"expire a voided hold", 15000, []step{{op: closing(wallet.OpHoldVoid, 10000), status: ok, released: 10000}, {op: closing(wallet.OpHoldExpire, 10000), before: expired, status: failed, failure: wallet.EHoldNotActive}},
			holdWant{wallet.HoldVoided, 0, 10000, 15000, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := f.newHold(t, tt.funds, 10000)
			if op := f.apply(t, p.placeID); op.Status != wallet.StatusCompleted {
				t.Fatalf("hold operation ended %s (%s)", op.Status, op.FailureCode)
			}
			for i, st := range tt.steps {
				if st.before != nil {
					st.before(t, p)
				}
				op := f.store1(t, st.op(p))
				if st.between != nil {
					st.between(t, p, op)
				}
				got := f.apply(t, op.ID)
				if got.Status != st.status || got.FailureCode != st.failure {
					t.Fatalf("step %d (%s): %s %q, want %s %q", i, got.Type, got.Status, got.FailureCode, st.status, st.failure)
				}
				if st.released > 0 && got.Amount != st.released {
					t.Errorf("step %d (%s) says it released %d, want %d", i, got.Type, got.Amount, st.released)
				}
			}
			f.checkHold(t, p, tt.want)
		})
	}

	t.Run("hold without the funds", func(t *testing.T) {
		t.Parallel()
		p := f.newHold(t, 5000, 10000)
		if op := f.apply(t, p.placeID); op.Status != wallet.StatusFailed || op.FailureCode != wallet.EInsufficientFunds {
			t.Fatalf("hold of 100.00 on 50.00: %s %q", op.Status, op.FailureCode)
		}
		h := f.holdOf(t, p.holdID)
		if h.Status != wallet.HoldFailed || h.FailureCode != wallet.EInsufficientFunds || h.ClosedAt == nil {
			t.Errorf("hold after its operation failed: %+v", h)
		}
		f.checkHold(t, p, holdWant{wallet.HoldFailed, 0, 0, 5000, 0, 0})
	})

	t.Run("available counts a pending hold, held an active one", func(t *testing.T) {
		t.Parallel()
		p := f.newHold(t, 15000, 10000)
		if w := f.walletOf(t, p.from.ID); w.Held != 0 || w.Available != 5000 {
			t.Errorf("with the hold pending: held %d available %d; want 0 and 50.00", w.Held, w.Available)
		}
		f.apply(t, p.placeID)
		if w := f.walletOf(t, p.from.ID); w.Held != 10000 || w.Available != 5000 {
			t.Errorf("with the hold active: held %d available %d; want 100.00 and 50.00", w.Held, w.Available)
		}
		// A transfer cannot spend what is held.
		tr := f.transfer(t, p.payer, p.from, p.to, 5001)
		if got := f.apply(t, tr.ID); got.FailureCode != wallet.EInsufficientFunds {
			t.Errorf("a transfer of 50.01 with 50.00 not held: %s %q", got.Status, got.FailureCode)
		}
	})

	t.Run("an expiry waits for a capture accepted in time", func(t *testing.T) {
		t.Parallel()
		p := f.newHold(t, 15000, 10000)
		f.apply(t, p.placeID)
		capture := f.store1(t, p.capture(3000, false))
		f.expireNow(t, p.holdID, capture)
		expire := f.store1(t, p.close(wallet.OpHoldExpire, 10000))
		if got := f.apply(t, expire.ID); got.FailureCode != wallet.EHoldBusy {
			t.Fatalf("expiry with a capture accepted in time pending: %s %q, want failed %s", got.Status, got.FailureCode, wallet.EHoldBusy)
		}
		if got := f.apply(t, capture.ID); got.Status != wallet.StatusCompleted {
			t.Fatalf("the capture accepted in time: %s %q", got.Status, got.FailureCode)
		}
		again := f.store1(t, p.close(wallet.OpHoldExpire, 7000))
		if got := f.apply(t, again.ID); got.Status != wallet.StatusCompleted || got.Amount != 7000 {
			t.Fatalf("expiry after the capture: %s %q released %d", got.Status, got.FailureCode, got.Amount)
		}
		f.checkHold(t, p, holdWant{wallet.HoldExpired, 3000, 7000, 12000, 0, 3000})
	})

	t.Run("a batch decides in creation order", func(t *testing.T) {
		t.Parallel()
		p := f.newHold(t, 15000, 10000)
		f.apply(t, p.placeID)
		c1 := f.store1(t, p.capture(6000, false))
		c2 := f.store1(t, p.capture(6000, false)) // more than is left after c1
		void := f.store1(t, p.close(wallet.OpHoldVoid, 4000))
		res, err := f.store.ApplyOperations(context.Background(), []string{void.ID, c2.ID, c1.ID})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]wallet.Operation{}
		for _, r := range res {
			got[r.Op.ID] = r.Op
		}
		if got[c1.ID].Status != wallet.StatusCompleted || got[c2.ID].FailureCode != wallet.ECaptureExceedsHold ||
			got[void.ID].Status != wallet.StatusCompleted || got[void.ID].Amount != 4000 {
			t.Errorf("c1 %s, c2 %s %q, void %s released %d", got[c1.ID].Status, got[c2.ID].Status, got[c2.ID].FailureCode,
				got[void.ID].Status, got[void.ID].Amount)
		}
		f.checkHold(t, p, holdWant{wallet.HoldVoided, 6000, 4000, 9000, 0, 6000})
	})
}

// withdrawalParty is a wallet owner with a withdrawal through a
// fixture's bank.
type withdrawalParty struct {
	owner      wallet.User
	from       wallet.Wallet
	bank       wallet.User
	settlement wallet.Wallet
	id, opID   string
}

func (f *fixture) newWithdrawal(t testing.TB, funds, amount wallet.Amount) withdrawalParty {
	t.Helper()
	p := withdrawalParty{bank: f.bank, settlement: f.settlement}
	p.owner, p.from = pgtest.CreateUser(t, f.store, wallet.RoleUser)
	if funds > 0 {
		pgtest.Deposit(t, f.store, f.bank, f.settlement, p.from, funds)
	}
	op := f.store1(t, wallet.NewOperation{
		Op: wallet.Operation{Type: wallet.OpWithdrawal, Amount: amount, Currency: rub.Code, FromWalletID: p.from.ID,
			ToWalletID: f.settlement.ID, Details: "IBAN DE00 0000", CreatedBy: p.owner.ID},
		Withdrawal: &wallet.Withdrawal{BankID: f.bank.ID},
	})
	p.id, p.opID = op.WithdrawalID, op.ID
	return p
}

func endWithdrawal(p withdrawalParty, typ wallet.OpType, as wallet.WithdrawalStatus, note string, amount wallet.Amount) wallet.NewOperation {
	return wallet.NewOperation{Op: wallet.Operation{Type: typ, Amount: amount, Currency: rub.Code, FromWalletID: p.from.ID,
		ToWalletID: p.settlement.ID, WithdrawalID: p.id, EndAs: as, Details: note, CreatedBy: p.bank.ID}}
}

func TestWithdrawalTransitions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	complete := func(p withdrawalParty) wallet.NewOperation {
		return endWithdrawal(p, wallet.OpWithdrawalComplete, "", "ref-7", 4000)
	}
	fail := func(p withdrawalParty) wallet.NewOperation {
		return endWithdrawal(p, wallet.OpWithdrawalFail, wallet.WithdrawalFailed, "account closed", 4000)
	}
	cancel := func(p withdrawalParty) wallet.NewOperation {
		return endWithdrawal(p, wallet.OpWithdrawalFail, wallet.WithdrawalCancelled, "", 4000)
	}
	expire := func(p withdrawalParty) wallet.NewOperation {
		return endWithdrawal(p, wallet.OpWithdrawalFail, wallet.WithdrawalExpired, "", 4000)
	}
	processing := func(t *testing.T, p withdrawalParty) {
		if _, err := f.store.MarkWithdrawalProcessing(context.Background(), p.id); err != nil {
			t.Fatalf("MarkWithdrawalProcessing: %v", err)
		}
	}
	timedOut := func(t *testing.T, p withdrawalParty) {
		f.exec(t, `UPDATE withdrawals SET pending_since = now() - interval '73 hours' WHERE id = $1`, p.id)
	}
	type step struct {
		before  func(t *testing.T, p withdrawalParty)
		op      func(p withdrawalParty) wallet.NewOperation
		failure string // "" completes
	}
	tests := []struct {
		name    string
		steps   []step
		status  wallet.WithdrawalStatus
		balance wallet.Amount // the owner's, from 100.00 and a 40.00 withdrawal
		held    wallet.Amount
		paidOut wallet.Amount // into the settlement account
	}{
		{"pending", nil, wallet.WithdrawalPending, 10000, 4000, 0},
		{"complete a pending one", []step{{op: complete}}, wallet.WithdrawalCompleted, 6000, 0, 4000},
		{"complete a processing one", []step{{before: processing, op: complete}}, wallet.WithdrawalCompleted, 6000, 0, 4000},
		{"fail", []step{{op: fail}}, wallet.WithdrawalFailed, 10000, 0, 0},
		{"fail a processing one", []step{{before: processing, op: fail}}, wallet.WithdrawalFailed, 10000, 0, 0},
		{"cancel a pending one", []step{{op: cancel}}, wallet.WithdrawalCancelled, 10000, 0, 0},
		{"cancel a processing one", []step{{before: processing, op: cancel, failure: wallet.EWithdrawalNotCancellable}}, wallet.WithdrawalProcessing, 10000, 4000, 0},
		{"complete twice", []step{{op: complete}, {op: complete, failure: wallet.EWithdrawalClosed}}, wallet.WithdrawalCompleted, 6000, 0, 4000},
		{"fail a completed one", []step{{op: complete}, {op: fail, failure: wallet.EWithdrawalClosed}}, wallet.WithdrawalCompleted, 6000, 0, 4000},
		{"complete a cancelled one", []step{{op: cancel}, {op: complete, failure: wallet.EWithdrawalClosed}}, wallet.WithdrawalCancelled, 10000, 0, 0},
		{"expire before its time", []step{{op: expire, failure: wallet.EWithdrawalNotPending}}, wallet.WithdrawalPending, 10000, 4000, 0},
		{"expire after its time", []step{{before: timedOut, op: expire}}, wallet.WithdrawalExpired, 10000, 0, 0},
		{"expire a processing one", []step{{before: timedOut}, {before: processing, op: expire, failure: wallet.EWithdrawalNotPending}}, wallet.WithdrawalProcessing, 10000, 4000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Each case has its own bank, so its settlement account shows
			// what this withdrawal paid out.
			g := newFixture(t, f.pool)
			p := g.newWithdrawal(t, 10000, 4000)
			if op := g.apply(t, p.opID); op.Status != wallet.StatusCompleted {
				t.Fatalf("withdrawal operation ended %s (%s)", op.Status, op.FailureCode)
			}
			for i, st := range tt.steps {
				if st.before != nil {
					st.before(t, p)
				}
				if st.op == nil {
					continue
				}
				got := g.apply(t, g.store1(t, st.op(p)).ID)
				want := wallet.StatusCompleted
				if st.failure != "" {
					want = wallet.StatusFailed
				}
				if got.Status != want || got.FailureCode != st.failure {
					t.Fatalf("step %d: %s %q, want %s %q", i, got.Status, got.FailureCode, want, st.failure)
				}
			}
			w, err := g.store.Withdrawal(context.Background(), p.id)
			if err != nil {
				t.Fatal(err)
			}
			if w.Status != tt.status {
				t.Errorf("withdrawal is %s, want %s", w.Status, tt.status)
			}
			if !w.Open() && w.Status != wallet.WithdrawalRequested && w.ClosedAt == nil {
				t.Errorf("ended withdrawal without closed_at: %+v", w)
			}
			if w.Status == wallet.WithdrawalCompleted && w.Reference != "ref-7" {
				t.Errorf("completed withdrawal's reference %q", w.Reference)
			}
			from := g.walletOf(t, p.from.ID)
			if from.Balance != tt.balance || from.Held != tt.held {
				t.Errorf("owner has balance %d held %d; want %d %d", from.Balance, from.Held, tt.balance, tt.held)
			}
			// The settlement account: minus the deposit, plus what went out.
			if got := g.balance(t, g.settlement.ID); got != -10000+tt.paidOut {
				t.Errorf("settlement balance %d, want %d", got, -10000+tt.paidOut)
			}
		})
	}

	t.Run("a withdrawal without the funds", func(t *testing.T) {
		t.Parallel()
		p := f.newWithdrawal(t, 3000, 4000)
		if op := f.apply(t, p.opID); op.FailureCode != wallet.EInsufficientFunds {
			t.Fatalf("withdrawal of 40.00 from 30.00: %s %q", op.Status, op.FailureCode)
		}
		w, _ := f.store.Withdrawal(context.Background(), p.id)
		if w.Status != wallet.WithdrawalFailed || w.FailureReason != wallet.EInsufficientFunds {
			t.Errorf("withdrawal after its operation failed: %+v", w)
		}
	})

	t.Run("processing only once, and only while pending", func(t *testing.T) {
		t.Parallel()
		p := f.newWithdrawal(t, 10000, 4000)
		if _, err := f.store.MarkWithdrawalProcessing(context.Background(), p.id); wallet.ErrorCode(err) != wallet.EWithdrawalNotPending {
			t.Errorf("processing a requested withdrawal: %v", err)
		}
		f.apply(t, p.opID)
		if _, err := f.store.MarkWithdrawalProcessing(context.Background(), p.id); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.MarkWithdrawalProcessing(context.Background(), p.id); wallet.ErrorCode(err) != wallet.EWithdrawalNotPending {
			t.Errorf("processing twice: %v", err)
		}
		if _, err := f.store.MarkWithdrawalProcessing(context.Background(), "01a23119-0000-7000-8000-000000000009"); wallet.ErrorCode(err) != wallet.EWithdrawalNotFound {
			t.Errorf("processing an unknown withdrawal: %v", err)
		}
	})
}

// requestParty is a requester asking a payer.
type requestParty struct {
	payer, requester wallet.User
	from, to         wallet.Wallet
	req              wallet.PaymentRequest
}

func (f *fixture) newRequest(t testing.TB, funds, amount wallet.Amount) requestParty {
	t.Helper()
	var p requestParty
	p.payer, p.from = pgtest.CreateUser(t, f.store, wallet.RoleUser)
	if funds > 0 {
		pgtest.Deposit(t, f.store, f.bank, f.settlement, p.from, funds)
	}
	p.requester, p.to = pgtest.CreateUser(t, f.store, wallet.RoleUser)
	r, err := f.store.CreatePaymentRequest(context.Background(), wallet.PaymentRequest{Amount: amount, Currency: rub.Code,
		FromWalletID: p.from.ID, ToWalletID: p.to.ID, RequestedBy: p.requester.ID, Details: "dinner"}, hour)
	if err != nil {
		t.Fatalf("CreatePaymentRequest: %v", err)
	}
	p.req = r
	return p
}

func (p requestParty) approve(key string) wallet.NewOperation {
	no := wallet.NewOperation{Op: wallet.Operation{Type: wallet.OpTransfer, Amount: p.req.Amount, Currency: rub.Code,
		FromWalletID: p.from.ID, ToWalletID: p.to.ID, Details: p.req.Details, CreatedBy: p.payer.ID, PaymentRequestID: p.req.ID}}
	if key != "" {
		no.Key = newKey(p.payer, key, []byte("approve"))
	}
	return no
}

func (f *fixture) requestOf(t testing.TB, id string) wallet.PaymentRequest {
	t.Helper()
	r, err := f.store.PaymentRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPaymentRequestTransitions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	t.Run("approve, then paid with its transfer", func(t *testing.T) {
		t.Parallel()
		p := f.newRequest(t, 10000, 2500)
		if p.req.Status != wallet.RequestOpen || !p.req.ExpiresAt.After(p.req.CreatedAt) {
			t.Fatalf("new request: %+v", p.req)
		}
		op := f.store1(t, p.approve("k1"))
		if r := f.requestOf(t, p.req.ID); r.Status != wallet.RequestApproved || r.OperationID != op.ID {
			t.Fatalf("after the approving transfer was stored: %s %q, want approved by %s", r.Status, r.OperationID, op.ID)
		}
		f.apply(t, op.ID)
		if r := f.requestOf(t, p.req.ID); r.Status != wallet.RequestPaid || r.OperationID != op.ID || r.ClosedAt == nil {
			t.Fatalf("after the transfer: %+v", r)
		}
		if b := f.balance(t, p.to.ID); b != 2500 {
			t.Errorf("requester got %d", b)
		}
	})

	t.Run("a failed transfer opens the request again", func(t *testing.T) {
		t.Parallel()
		p := f.newRequest(t, 1000, 2500) // the payer has too little
		op := f.store1(t, p.approve(""))
		if got := f.apply(t, op.ID); got.FailureCode != wallet.EInsufficientFunds {
			t.Fatalf("transfer: %s %q", got.Status, got.FailureCode)
		}
		if r := f.requestOf(t, p.req.ID); r.Status != wallet.RequestOpen || r.OperationID != "" {
			t.Fatalf("after the failed transfer: %s %q, want open again", r.Status, r.OperationID)
		}
		pgtest.Deposit(t, f.store, f.bank, f.settlement, p.from, 5000)
		again := f.store1(t, p.approve(""))
		if got := f.apply(t, again.ID); got.Status != wallet.StatusCompleted {
			t.Fatalf("second approval: %s %q", got.Status, got.FailureCode)
		}
		if r := f.requestOf(t, p.req.ID); r.Status != wallet.RequestPaid {
			t.Errorf("after the second approval: %s", r.Status)
		}
	})

	refused := func(t *testing.T, p requestParty, key string) {
		t.Helper()
		res, err := f.store.CreateOperations(ctx, []wallet.NewOperation{p.approve(key)})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Refused != wallet.EPaymentRequestNotOpen || res[0].KeyUsed {
			t.Fatalf("approving a closed request: %+v, want refused %s", res[0], wallet.EPaymentRequestNotOpen)
		}
		if key != "" {
			if _, _, err := f.store.LookupIdempotencyKey(ctx, p.payer.ID, key); wallet.ErrorCode(err) != wallet.EOperationNotFound {
				t.Errorf("a refused approval kept its key: %v", err)
			}
		}
		if n := f.opsFrom(t, p.from.ID); n != 0 {
			t.Errorf("a refused approval stored %d operations", n)
		}
	}

	for _, tc := range []struct {
		name  string
		as    wallet.PaymentRequestStatus
		payer bool
	}{{"cancelled by the requester", wallet.RequestCancelled, false}, {"declined by the payer", wallet.RequestDeclined, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := f.newRequest(t, 10000, 2500)
			r, err := f.store.ClosePaymentRequest(ctx, p.req.ID, tc.as, "not now")
			if err != nil || r.Status != tc.as || r.ClosedAt == nil {
				t.Fatalf("close: %+v, %v", r, err)
			}
			if _, err := f.store.ClosePaymentRequest(ctx, p.req.ID, tc.as, ""); wallet.ErrorCode(err) != wallet.EPaymentRequestNotOpen {
				t.Errorf("closing twice: %v", err)
			}
			refused(t, p, "after-close")
		})
	}

	t.Run("an expired request", func(t *testing.T) {
		t.Parallel()
		p := f.newRequest(t, 10000, 2500)
		f.exec(t, `UPDATE payment_requests SET expires_at = now() - interval '1 second' WHERE id = $1`, p.req.ID)
		refused(t, p, "expired")
		if _, err := f.store.ClosePaymentRequest(ctx, p.req.ID, wallet.RequestCancelled, ""); wallet.ErrorCode(err) != wallet.EPaymentRequestNotOpen {
			t.Errorf("cancelling an expired request: %v", err)
		}
		if r := f.requestOf(t, p.req.ID); r.Status != wallet.RequestExpired || r.ClosedAt == nil {
			t.Errorf("request past its expiry: %+v, want expired", r)
		}
	})

	t.Run("two approvals in one batch make one transfer", func(t *testing.T) {
		t.Parallel()
		p := f.newRequest(t, 10000, 2500)
		res, err := f.store.CreateOperations(ctx, []wallet.NewOperation{p.approve("a"), p.approve("b")})
		if err != nil {
			t.Fatal(err)
		}
		stored := 0
		for _, r := range res {
			if r.Refused == "" && !r.KeyUsed {
				stored++
			}
		}
		if stored != 1 {
			t.Fatalf("%d of two approvals stored: %+v", stored, res)
		}
	})

	t.Run("at most 100 open requests", func(t *testing.T) {
		t.Parallel()
		p := f.newRequest(t, 0, 100)
		for range wallet.MaxOpenRequests - 1 {
			if _, err := f.store.CreatePaymentRequest(ctx, wallet.PaymentRequest{Amount: 100, Currency: rub.Code,
				FromWalletID: p.from.ID, ToWalletID: p.to.ID, RequestedBy: p.requester.ID}, hour); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.store.CreatePaymentRequest(ctx, wallet.PaymentRequest{Amount: 100, Currency: rub.Code,
			FromWalletID: p.from.ID, ToWalletID: p.to.ID, RequestedBy: p.requester.ID}, hour); wallet.ErrorCode(err) != wallet.ETooManyRequests {
			t.Fatalf("request number 101: %v, want %s", err, wallet.ETooManyRequests)
		}
		// Closing one makes room.
		if _, err := f.store.ClosePaymentRequest(ctx, p.req.ID, wallet.RequestCancelled, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.CreatePaymentRequest(ctx, wallet.PaymentRequest{Amount: 100, Currency: rub.Code,
			FromWalletID: p.from.ID, ToWalletID: p.to.ID, RequestedBy: p.requester.ID}, hour); err != nil {
			t.Fatalf("after a cancel: %v", err)
		}
	})
}

// The races, each run many times: whatever the interleaving, the commit
// keeps each state machine's promise.

const raceRounds = 10

func TestHoldRaces(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	t.Run("20 concurrent captures never capture more than the hold", func(t *testing.T) {
		t.Parallel()
		for round := range raceRounds {
			p := f.newHold(t, 10000, 10000)
			f.apply(t, p.placeID)
			const n = 20
			ids := make([]string, n)
			for i := range n {
				ids[i] = f.store1(t, p.capture(wallet.Amount(700+100*(i%3)), false)).ID
			}
			results := make([]wallet.Operation, n)
			errs := make([]error, n)
			pgtest.Together(n, func(i int) {
				res, err := f.store.ApplyOperations(ctx, []string{ids[i]})
				if err == nil {
					results[i] = res[0].Op
				}
				errs[i] = err
			})
			var captured wallet.Amount
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("round %d: apply: %v", round, errs[i])
				}
				switch results[i].Status {
				case wallet.StatusCompleted:
					captured += results[i].Amount
				case wallet.StatusFailed:
					if results[i].FailureCode != wallet.ECaptureExceedsHold && results[i].FailureCode != wallet.EHoldNotActive {
						t.Fatalf("round %d: a capture failed with %q", round, results[i].FailureCode)
					}
				}
			}
			h := f.holdOf(t, p.holdID)
			if captured > 10000 || h.Captured != captured || f.balance(t, p.to.ID) != captured {
				t.Fatalf("round %d: captures completed for %d, hold says %d, recipient has %d (hold 100.00)",
					round, captured, h.Captured, f.balance(t, p.to.ID))
			}
		}
	})

	t.Run("capture, void and expiry at once: exactly one closes the hold", func(t *testing.T) {
		t.Parallel()
		for round := range raceRounds {
			p := f.newHold(t, 10000, 10000)
			f.apply(t, p.placeID)
			capture := f.store1(t, p.capture(6000, true))
			void := f.store1(t, p.close(wallet.OpHoldVoid, 10000))
			f.expireNow(t, p.holdID, capture, void)
			expire := f.store1(t, p.close(wallet.OpHoldExpire, 10000))
			ids := []string{capture.ID, void.ID, expire.ID}
			results := make([]wallet.Operation, 3)
			pgtest.Together(3, func(i int) {
				res, err := f.store.ApplyOperations(ctx, []string{ids[i]})
				if err != nil {
					t.Errorf("apply: %v", err)
					return
				}
				results[i] = res[0].Op
			})
			winners := 0
			for _, r := range results {
				if r.Status == wallet.StatusCompleted {
					winners++
				}
			}
			h := f.holdOf(t, p.holdID)
			if winners != 1 || h.Status == wallet.HoldActive || h.Captured+h.Released != h.Amount {
				t.Fatalf("round %d: %d operations closed the hold (%+v); hold %s captured %d released %d",
					round, winners, results, h.Status, h.Captured, h.Released)
			}
			// The expiry never wins over a capture or void accepted in time.
			if results[2].Status == wallet.StatusCompleted {
				t.Fatalf("round %d: the expiry closed a hold with a capture and a void accepted in time", round)
			}
		}
	})
}

func TestPaymentRequestRaces(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	t.Run("approve and cancel at once: exactly one wins", func(t *testing.T) {
		t.Parallel()
		for round := range 2 * raceRounds {
			p := f.newRequest(t, 10000, 2500)
			var approved []wallet.Stored
			var cancelErr, approveErr error
			pgtest.Together(2, func(i int) {
				if i == 0 {
					approved, approveErr = f.store.CreateOperations(ctx, []wallet.NewOperation{p.approve("")})
				} else {
					_, cancelErr = f.store.ClosePaymentRequest(ctx, p.req.ID, wallet.RequestCancelled, "")
				}
			})
			if approveErr != nil {
				t.Fatal(approveErr)
			}
			approveWon := approved[0].Refused == ""
			cancelWon := cancelErr == nil
			if approveWon == cancelWon {
				t.Fatalf("round %d: approve won %v, cancel won %v (cancel: %v)", round, approveWon, cancelWon, cancelErr)
			}
			r := f.requestOf(t, p.req.ID)
			if (approveWon && r.Status != wallet.RequestApproved) || (cancelWon && r.Status != wallet.RequestCancelled) {
				t.Fatalf("round %d: request is %s", round, r.Status)
			}
			if approveWon {
				f.apply(t, approved[0].Op.ID)
			}
		}
	})

	t.Run("two approvals at once make one transfer", func(t *testing.T) {
		t.Parallel()
		for round := range 2 * raceRounds {
			p := f.newRequest(t, 10000, 2500)
			results := make([][]wallet.Stored, 2)
			pgtest.Together(2, func(i int) {
				var err error
				results[i], err = f.store.CreateOperations(ctx, []wallet.NewOperation{p.approve(fmt.Sprint("k", i))})
				if err != nil {
					t.Errorf("approve: %v", err)
				}
			})
			stored := 0
			for _, r := range results {
				if len(r) == 1 && r[0].Refused == "" {
					stored++
					f.apply(t, r[0].Op.ID)
				}
			}
			if stored != 1 {
				t.Fatalf("round %d: %d approvals stored", round, stored)
			}
			if b := f.balance(t, p.to.ID); b != 2500 {
				t.Fatalf("round %d: requester got %d", round, b)
			}
		}
	})
}

func TestWithdrawalRaces(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for round := range raceRounds {
		p := f.newWithdrawal(t, 10000, 4000)
		f.apply(t, p.opID)
		ops := []wallet.NewOperation{
			endWithdrawal(p, wallet.OpWithdrawalComplete, "", "ref", 4000),
			endWithdrawal(p, wallet.OpWithdrawalFail, wallet.WithdrawalFailed, "no", 4000),
			endWithdrawal(p, wallet.OpWithdrawalFail, wallet.WithdrawalCancelled, "", 4000),
		}
		ids := make([]string, len(ops))
		for i, no := range ops {
			ids[i] = f.store1(t, no).ID
		}
		var mu sync.Mutex
		winners := 0
		pgtest.Together(len(ids), func(i int) {
			res, err := f.store.ApplyOperations(ctx, []string{ids[i]})
			if err != nil {
				t.Errorf("apply: %v", err)
				return
			}
			if res[0].Op.Status == wallet.StatusCompleted {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
		w, _ := f.store.Withdrawal(ctx, p.id)
		if winners != 1 || w.Open() {
			t.Fatalf("round %d: %d of complete, fail and cancel won; withdrawal %s", round, winners, w.Status)
		}
		from := f.walletOf(t, p.from.ID)
		want := wallet.Amount(10000)
		if w.Status == wallet.WithdrawalCompleted {
			want = 6000
		}
		if from.Balance != want || from.Held != 0 {
			t.Fatalf("round %d: withdrawal %s, owner has %d held %d", round, w.Status, from.Balance, from.Held)
		}
	}
}
