package wallet

import "time"

// HoldStatus is where a hold is in its life.
type HoldStatus string

// Hold statuses. A hold is pending until its hold operation is final,
// then active (its funds reserved on the payer) or failed; an active hold
// is closed exactly once: captured, voided or expired.
const (
	HoldPending  HoldStatus = "pending"
	HoldActive   HoldStatus = "active"
	HoldCaptured HoldStatus = "captured"
	HoldVoided   HoldStatus = "voided"
	HoldExpired  HoldStatus = "expired"
	HoldFailed   HoldStatus = "failed"
)

// Hold limits: expires_in is 1 second to 30 days, 7 days by default.
const (
	MinHoldExpiry     = time.Second
	MaxHoldExpiry     = 30 * 24 * time.Hour
	DefaultHoldExpiry = 7 * 24 * time.Hour
)

// Hold reserves money on the payer's wallet for a recipient, like a card
// authorisation: the recipient captures all or part of it, or voids it;
// what is not captured by ExpiresAt goes back to the payer.
type Hold struct {
	ID     string
	Status HoldStatus
	// Amount is what the hold reserved; Captured went to the recipient,
	// Released back to the payer. Captured + Released = Amount once the
	// hold is closed.
	Amount, Captured, Released Amount
	Currency                   string
	FromWalletID, ToWalletID   string
	Details                    string
	FailureCode                string
	// OperationID is the hold operation that placed it.
	OperationID string
	ExpiresAt   time.Time
	CreatedAt   time.Time
	ClosedAt    *time.Time
}

// Remaining is what the hold still reserves: 0 unless it is active.
func (h *Hold) Remaining() Amount {
	if h.Status != HoldActive {
		return 0
	}
	return h.Amount - h.Captured - h.Released
}

// Parties reports whether op names the hold's payer and recipient, as an
// operation on the hold must.
func (h *Hold) Parties(op *Operation) bool {
	return op.HoldID == h.ID && op.FromWalletID == h.FromWalletID && op.ToWalletID == h.ToWalletID
}

// Activate makes a pending hold active, once its hold operation reserved
// the funds, or failed with code.
func (h *Hold) Activate(failure string, now time.Time) {
	if failure == "" {
		h.Status = HoldActive
		return
	}
	h.Status, h.FailureCode, h.ClosedAt = HoldFailed, failure, &now
}

// Capture applies a capture of amount, accepted at acceptedAt (its
// operation's creation time), committing at now. The capture came in time
// if it was accepted before the hold's ExpiresAt, whenever it commits.
// final (or capturing all that remains) closes the hold and releases the
// rest, which it returns. It returns the failure code instead when the
// capture cannot take effect: EHoldNotActive or ECaptureExceedsHold.
func (h *Hold) Capture(amount Amount, final bool, acceptedAt, now time.Time) (released Amount, failure string) {
	if h.Status != HoldActive || !acceptedAt.Before(h.ExpiresAt) {
		return 0, EHoldNotActive
	}
	if amount <= 0 || amount > h.Remaining() {
		return 0, ECaptureExceedsHold
	}
	h.Captured += amount
	if rest := h.Remaining(); final || rest == 0 {
		h.Released += rest
		h.Status, h.ClosedAt = HoldCaptured, &now
		return rest, ""
	}
	return 0, ""
}

// Void closes an active hold on the recipient's (or an admin's) request
// accepted at acceptedAt, before ExpiresAt, and returns what it releases.
func (h *Hold) Void(acceptedAt, now time.Time) (released Amount, failure string) {
	if h.Status != HoldActive || !acceptedAt.Before(h.ExpiresAt) {
		return 0, EHoldNotActive
	}
	return h.close(HoldVoided, now), ""
}

// Expire closes an active hold whose ExpiresAt has passed at now, and
// returns what it releases. blocked says that a capture or void accepted
// before ExpiresAt has not committed yet: it comes first, and the expiry
// is tried again after it.
func (h *Hold) Expire(now time.Time, blocked bool) (released Amount, failure string) {
	switch {
	case h.Status != HoldActive:
		return 0, EHoldNotActive
	case now.Before(h.ExpiresAt):
		return 0, EHoldNotExpired
	case blocked:
		return 0, EHoldBusy
	}
	return h.close(HoldExpired, now), ""
}

func (h *Hold) close(status HoldStatus, now time.Time) Amount {
	rest := h.Remaining()
	h.Released += rest
	h.Status, h.ClosedAt = status, &now
	return rest
}
