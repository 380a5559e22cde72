package wallet

import "time"

// PaymentRequestStatus is where a payment request is in its life.
type PaymentRequestStatus string

// Payment request statuses. open until the payer decides: approved when
// the payer's transfer is accepted (open again if that transfer fails),
// paid in the same commit as the transfer; declined by the payer,
// cancelled by the requester, expired by the service.
const (
	RequestOpen      PaymentRequestStatus = "open"
	RequestApproved  PaymentRequestStatus = "approved"
	RequestPaid      PaymentRequestStatus = "paid"
	RequestDeclined  PaymentRequestStatus = "declined"
	RequestCancelled PaymentRequestStatus = "cancelled"
	RequestExpired   PaymentRequestStatus = "expired"
)

// MaxOpenRequests caps a requester's open payment requests.
const MaxOpenRequests = 100

// PaymentRequest is a two-step transfer: the requester (to be paid) asks,
// the payer approves with a transfer or declines.
type PaymentRequest struct {
	ID     string
	Status PaymentRequestStatus
	Amount Amount
	// FromWalletID is the payer's wallet, ToWalletID the requester's.
	Currency                 string
	FromWalletID, ToWalletID string
	RequestedBy              string
	Details                  string
	DeclineReason            string
	// OperationID is the approving transfer while approved or paid.
	OperationID string
	ExpiresAt   time.Time
	CreatedAt   time.Time
	ClosedAt    *time.Time
}

// OpenAt reports whether the request can still be decided at now.
func (r *PaymentRequest) OpenAt(now time.Time) bool {
	return r.Status == RequestOpen && now.Before(r.ExpiresAt)
}
