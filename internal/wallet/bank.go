package wallet

import "time"

// BankStatus says whether a payment system may act.
type BankStatus string

// Bank statuses. A disabled bank's credentials are refused on every
// request (EAccountDisabled); what it accepted before is still applied.
const (
	BankActive   BankStatus = "active"
	BankDisabled BankStatus = "disabled"
)

// Bank is a payment system: an account of RoleBank with a settlement
// account of its own, which its deposits debit and its completed
// withdrawals credit. Its ID is its account's user id.
type Bank struct {
	ID                 string
	Name               string
	Email              string
	SettlementWalletID string
	Status             BankStatus
	// Balance is the settlement account's balance: minus what the bank
	// deposited plus what was withdrawn through it.
	Balance    Amount
	CreatedAt  time.Time
	DisabledAt *time.Time
}
