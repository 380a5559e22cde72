package ledger

import (
	"context"

	"github.com/walletd/wallet/internal/wallet"
)

// admit decides a group's requests under their locks, in arrival order,
// against Postgres as it is now with the pending operations counted: the
// available funds of the wallets they debit or reserve, and the state of
// the holds and withdrawals they act on (one query each, only when the
// group needs it). What it refuses is answered at once ("where known at
// once"); what it admits still has to pass the worker's commit, which
// decides. It returns every request's result so far, the operations to
// store and, for each, the index of its request.
func (s *Service) admit(ctx context.Context, group []*pendingAccept) ([]acceptResult, []wallet.NewOperation, []int, error) {
	var debits, holdIDs, withdrawalIDs []string
	for _, p := range group {
		if p.debit {
			debits = append(debits, p.op.FromWalletID)
		}
		if p.hold != "" {
			holdIDs = append(holdIDs, p.hold)
		}
		if p.withdrawal != "" {
			withdrawalIDs = append(withdrawalIDs, p.withdrawal)
		}
	}
	st, err := s.Store.AcceptState(ctx, wallet.AcceptQuery{Wallets: debits, Holds: holdIDs, Withdrawals: withdrawalIDs})
	if err != nil {
		return nil, nil, nil, err
	}
	avail, pending, holds, withdrawals := st.Available, st.Pending, st.Holds, st.Withdrawals
	maxPending := s.maxPending()

	results := make([]acceptResult, len(group))
	var batch []wallet.NewOperation
	var index []int
	for i, p := range group {
		if p.hold != "" {
			st, ok := holds[p.hold]
			if !ok {
				results[i] = acceptResult{err: refusal(wallet.EHoldNotFound)}
				continue
			}
			if p.asRecipient {
				if err := recipientOf(st.Hold, &p.op); err != nil {
					results[i] = acceptResult{err: err}
					continue
				}
			}
			if code := admitHold(&st, &p.op); code != "" {
				results[i] = acceptResult{err: refusal(code)}
				continue
			}
			holds[p.hold] = st
		}
		if p.withdrawal != "" {
			st, ok := withdrawals[p.withdrawal]
			if !ok {
				results[i] = acceptResult{err: refusal(wallet.EWithdrawalNotFound)}
				continue
			}
			if code := admitWithdrawal(&st, &p.op); code != "" {
				results[i] = acceptResult{err: refusal(code)}
				continue
			}
			withdrawals[p.withdrawal] = st
		}
		if p.debit {
			from := p.op.FromWalletID
			a := avail[from]
			if a < p.op.Amount {
				results[i] = acceptResult{available: a, err: wallet.Errorf(wallet.EInsufficientFunds, "insufficient funds")}
				continue
			}
			// A wallet's backlog is bounded (see MaxPending): past it the
			// wallet is busy until the workers catch up.
			if pending[from] >= maxPending {
				results[i] = acceptResult{err: wallet.Errorf(wallet.EWalletBusy,
					"wallet %s has %d operations waiting to be committed; retry shortly", from, pending[from])}
				continue
			}
			avail[from], pending[from] = a-p.op.Amount, pending[from]+1
		}
		batch = append(batch, wallet.NewOperation{Op: p.op, Key: p.key, Hold: p.newHold, Withdrawal: p.newWithdrawal})
		index = append(index, i)
	}
	return results, batch, index, nil
}

// recipientOf checks that the caller, whose wallet is op.ToWalletID,
// is the hold's recipient, and makes op name the hold's payer: the payer
// may see the hold but not capture or void it (EForbidden), anyone else
// may not see it (EHoldNotFound).
func recipientOf(h wallet.Hold, op *wallet.Operation) error {
	switch op.ToWalletID {
	case h.ToWalletID:
		op.FromWalletID = h.FromWalletID
		return nil
	case h.FromWalletID:
		if op.Type == wallet.OpHoldCapture {
			return wallet.Errorf(wallet.EForbidden, "only the hold's recipient can capture it")
		}
		return wallet.Errorf(wallet.EForbidden, "only the hold's recipient or an admin can void it")
	}
	return refusal(wallet.EHoldNotFound)
}

// admitHold decides a capture, void or expiry of a hold at accept, and
// counts it in st for the requests after it: a capture takes from what no
// pending capture claims yet (all of it when op.Amount is 0), a void or an
// expiry releases the rest. It returns the refusal code, or "".
func admitHold(st *wallet.HoldState, op *wallet.Operation) string {
	h := &st.Hold
	rest := h.Remaining() - st.PendingCaptures
	closed := h.Status != wallet.HoldActive || st.PendingCloser || rest <= 0
	switch op.Type {
	case wallet.OpHoldCapture:
		if closed || !st.Live {
			return wallet.EHoldNotActive
		}
		if op.Amount == 0 {
			op.Amount = rest
		}
		if op.Amount > rest {
			return wallet.ECaptureExceedsHold
		}
		st.PendingCaptures += op.Amount
		st.PendingCloser = op.CaptureFinal || op.Amount == rest
		st.PendingBeforeExpiry = true
	case wallet.OpHoldVoid:
		if closed || !st.Live {
			return wallet.EHoldNotActive
		}
		op.Amount = rest
		st.PendingCloser, st.PendingBeforeExpiry = true, true
	case wallet.OpHoldExpire:
		switch {
		case closed:
			return wallet.EHoldNotActive
		case st.Live:
			return wallet.EHoldNotExpired
		case st.PendingBeforeExpiry:
			return wallet.EHoldBusy
		}
		op.Amount = rest
		st.PendingCloser = true
	}
	return ""
}

// admitWithdrawal decides the end of a withdrawal at accept: complete and
// fail need it open, cancel and expiry pending (expiry past its timeout),
// and none may follow another end still pending.
func admitWithdrawal(st *wallet.WithdrawalState, op *wallet.Operation) string {
	w := &st.Withdrawal
	switch {
	case op.Type == wallet.OpWithdrawalComplete || op.EndAs == wallet.WithdrawalFailed:
		if !w.Open() || st.PendingCloser {
			return wallet.EWithdrawalClosed
		}
	case op.EndAs == wallet.WithdrawalCancelled:
		if w.Status != wallet.WithdrawalPending || st.PendingCloser {
			return wallet.EWithdrawalNotCancellable
		}
	case op.EndAs == wallet.WithdrawalExpired:
		if w.Status != wallet.WithdrawalPending || !st.TimedOut || st.PendingCloser {
			return wallet.EWithdrawalNotPending
		}
	default:
		return wallet.EInvalidRequest
	}
	op.Amount = w.Amount
	st.PendingCloser = true
	return ""
}

// refusal is the caller's error for a refusal code.
func refusal(code string) error {
	msg, ok := refusals[code]
	if !ok {
		msg = "the operation cannot be accepted"
	}
	return wallet.Errorf(code, "%s", msg)
}

var refusals = map[string]string{
	wallet.EHoldNotFound:             "hold not found",
	wallet.EHoldNotActive:            "the hold is not active: it is not placed yet, closed, expired, or being closed",
	wallet.ECaptureExceedsHold:       "the capture exceeds what remains of the hold",
	wallet.EHoldNotExpired:           "the hold has not expired yet",
	wallet.EHoldBusy:                 "a capture or void of the hold is still being applied",
	wallet.EWithdrawalNotFound:       "withdrawal not found",
	wallet.EWithdrawalClosed:         "the withdrawal has ended, or is ending",
	wallet.EWithdrawalNotCancellable: "only a pending withdrawal can be cancelled",
	wallet.EWithdrawalNotPending:     "the withdrawal is not pending",
	wallet.EPaymentRequestNotOpen:    "the payment request is not open",
}
