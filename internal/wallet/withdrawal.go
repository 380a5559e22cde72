package wallet

import "time"

// WithdrawalStatus is where a withdrawal is in its life.
type WithdrawalStatus string

// Withdrawal statuses. requested until its withdrawal operation is final;
// then pending (the amount reserved, waiting for the bank) or failed;
// processing once the bank took it (from then on only the bank ends it);
// it ends exactly once: completed, failed, cancelled (by its owner while
// pending) or expired (pending for WITHDRAWAL_TIMEOUT).
const (
	WithdrawalRequested  WithdrawalStatus = "requested"
	WithdrawalPending    WithdrawalStatus = "pending"
	WithdrawalProcessing WithdrawalStatus = "processing"
	WithdrawalCompleted  WithdrawalStatus = "completed"
	WithdrawalFailed     WithdrawalStatus = "failed"
	WithdrawalCancelled  WithdrawalStatus = "cancelled"
	WithdrawalExpired    WithdrawalStatus = "expired"
)

// DefaultWithdrawalTimeout is WITHDRAWAL_TIMEOUT's default.
const DefaultWithdrawalTimeout = 72 * time.Hour

// Withdrawal sends money out of the ledger through a payment system: the
// amount is reserved on the owner's wallet at once and moves to the
// bank's settlement account when the bank confirms the payout.
type Withdrawal struct {
	ID                 string
	Status             WithdrawalStatus
	Amount             Amount
	Currency           string
	WalletID           string
	BankID             string
	SettlementWalletID string
	// Details is the destination; Reference is what the bank said when it
	// completed it, FailureReason why it failed.
	Details       string
	Reference     string
	FailureReason string
	// OperationID is the withdrawal operation that reserved it.
	OperationID  string
	PendingSince *time.Time
	CreatedAt    time.Time
	ClosedAt     *time.Time
}

// Open reports whether the withdrawal reserves its amount: pending or
// processing.
func (w *Withdrawal) Open() bool {
	return w.Status == WithdrawalPending || w.Status == WithdrawalProcessing
}

// Reserve makes a requested withdrawal pending, once its operation
// reserved the amount, or failed with failure.
func (w *Withdrawal) Reserve(failure string, now time.Time) {
	if failure == "" {
		w.Status, w.PendingSince = WithdrawalPending, &now
		return
	}
	w.Status, w.FailureReason, w.ClosedAt = WithdrawalFailed, failure, &now
}

// MarkProcessing records that the bank took a pending withdrawal.
func (w *Withdrawal) MarkProcessing() string {
	if w.Status != WithdrawalPending {
		return EWithdrawalNotPending
	}
	w.Status = WithdrawalProcessing
	return ""
}

// Complete ends an open withdrawal as paid out.
func (w *Withdrawal) Complete(reference string, now time.Time) string {
	if !w.Open() {
		return EWithdrawalClosed
	}
	w.Status, w.Reference, w.ClosedAt = WithdrawalCompleted, reference, &now
	return ""
}

// End ends a withdrawal without a payout, releasing its amount: as
// failed (by its bank or an admin, while open), cancelled (by its owner,
// while pending) or expired (by the service, pending for timeout).
func (w *Withdrawal) End(as WithdrawalStatus, reason string, now time.Time, timeout time.Duration) string {
	switch as {
	case WithdrawalFailed:
		if !w.Open() {
			return EWithdrawalClosed
		}
	case WithdrawalCancelled:
		if w.Status != WithdrawalPending {
			return EWithdrawalNotCancellable
		}
	case WithdrawalExpired:
		if w.Status != WithdrawalPending || w.PendingSince == nil || now.Before(w.PendingSince.Add(timeout)) {
			return EWithdrawalNotPending
		}
	default:
		return EInvalidRequest
	}
	w.Status, w.FailureReason, w.ClosedAt = as, reason, &now
	return ""
}
