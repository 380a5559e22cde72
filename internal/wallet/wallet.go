// Package wallet holds the ledger's domain: money, users, wallets,
// operations and their entries, the error codes, and the interfaces the
// adapters implement. It imports the standard library only.
package wallet

import (
	"context"
	"time"
)

// Role says what an account may do.
type Role string

// Roles. A payment system (bank) deposits into user wallets from its
// settlement account; an admin sees everything and the queue dashboard.
const (
	RoleUser  Role = "user"
	RoleBank  Role = "bank"
	RoleAdmin Role = "admin"
)

// User is an account that can sign in.
type User struct {
	ID           string
	Name         string
	Email        string
	Role         Role
	PasswordHash string
	CreatedAt    time.Time
}

// WalletKind separates user wallets, which may never go negative, from a
// payment system's settlement account, which stands for money outside the
// service and may.
type WalletKind string

// Wallet kinds.
const (
	KindUser       WalletKind = "user"
	KindSettlement WalletKind = "settlement"
)

// Wallet is an account in the ledger.
type Wallet struct {
	ID       string
	UserID   string
	Kind     WalletKind
	Currency string
	// Balance is the sum of the wallet's entries.
	Balance Amount
	// Held is what active holds and open withdrawals reserve.
	Held Amount
	// Available is Balance less Held less the wallet's pending outgoing
	// operations (those that Reserve).
	Available Amount
}

// OpType names what an operation does.
type OpType string

// Operation types. The first two are also the API paths that create
// them.
const (
	OpDeposit            OpType = "external_to_wallet"
	OpTransfer           OpType = "wallet_to_wallet"
	OpHold               OpType = "hold"
	OpHoldCapture        OpType = "hold_capture"
	OpHoldVoid           OpType = "hold_void"
	OpHoldExpire         OpType = "hold_expire"
	OpWithdrawal         OpType = "withdrawal"
	OpWithdrawalComplete OpType = "withdrawal_complete"
	OpWithdrawalFail     OpType = "withdrawal_fail"
)

// OpTypes lists every operation type.
var OpTypes = []OpType{OpDeposit, OpTransfer, OpHold, OpHoldCapture, OpHoldVoid, OpHoldExpire,
	OpWithdrawal, OpWithdrawalComplete, OpWithdrawalFail}

// Reserves reports whether a pending operation of type t counts against
// its source's available balance: it will debit or reserve that much.
func (t OpType) Reserves() bool {
	return t == OpTransfer || t == OpHold || t == OpWithdrawal
}

// MovesBalance reports whether a completed operation of type t moved
// money, as a pair of entries; the others only reserve or release.
func (t OpType) MovesBalance() bool {
	return t == OpDeposit || t == OpTransfer || t == OpHoldCapture || t == OpWithdrawalComplete
}

// Status is where an operation is in its life: pending until a worker
// applies it, then completed or failed for good.
type Status string

// Statuses.
const (
	StatusPending   Status = "pending"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
)

// Failure codes beyond the error codes, for operations that end failed.
const (
	FailExpired = "expired"
)

// Operation is one change to the ledger. From is the debited or reserving
// account (a settlement account for a deposit, the payer of a hold, the
// owner of a withdrawal), To the credited or benefiting one (the
// recipient, a withdrawal's settlement account). Amount is what it moves,
// reserves or releases.
type Operation struct {
	ID           string
	Type         OpType
	Status       Status
	FailureCode  string
	Amount       Amount
	Currency     string
	FromWalletID string
	ToWalletID   string
	Details      string
	CreatedBy    string
	// TaskID names the queue task that applies the operation: operations
	// accepted together share one, and the sweeper re-enqueues them under
	// it, as one group.
	TaskID string
	// What the operation belongs to, if anything.
	HoldID, WithdrawalID, PaymentRequestID string
	// CaptureFinal says whether a hold_capture closes the hold (default).
	CaptureFinal bool
	// EndAs is how a withdrawal_fail ends its withdrawal: failed,
	// cancelled or expired.
	EndAs       WithdrawalStatus
	CreatedAt   time.Time
	CompletedAt *time.Time
	// BalanceAfter is the balance of the viewer's own wallet right after
	// the operation; set only when read for a viewer who owns a wallet in it
	// and the operation completed.
	BalanceAfter *Amount
}

// Final reports whether the operation will never change again.
func (o *Operation) Final() bool { return o.Status != StatusPending }

// Entry is one leg of a double entry: a signed amount on one wallet.
type Entry struct {
	OperationID string
	WalletID    string
	Amount      Amount
}

// Entries returns the legs that applying o writes: a debit of From and a
// credit of To, which always sum to zero; none for an operation that only
// reserves or releases (see MovesBalance).
func (o *Operation) Entries() []Entry {
	if !o.Type.MovesBalance() {
		return nil
	}
	return []Entry{
		{OperationID: o.ID, WalletID: o.FromWalletID, Amount: -o.Amount},
		{OperationID: o.ID, WalletID: o.ToWalletID, Amount: o.Amount},
	}
}

// Balanced reports whether entries sum to zero without overflow.
func Balanced(entries []Entry) bool {
	var sum Amount
	for _, e := range entries {
		var ok bool
		if sum, ok = AddChecked(sum, e.Amount); !ok {
			return false
		}
	}
	return sum == 0
}

// Lock is a held distributed lock that can travel with a task, so that
// the worker that commits the operation releases it.
type Lock struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// WalletID is the locked wallet, for logs.
	WalletID string `json:"wallet_id,omitempty"`
}

// Session is a signed-in browser session or a bearer access token.
type Session struct {
	UserID string
	// CSRF is the token that forms posted with this session must carry.
	CSRF string
}

// Applied is one operation's outcome when a batch is applied.
type Applied struct {
	Op Operation
	// Applied says whether this call made the operation final, rather
	// than finding it final already.
	Applied bool
	// Due lists what the commit made fall due later (a hold's expiry, a
	// withdrawal's timeout), for the worker to schedule.
	Due []Due
}

// DueKind names what falls due.
type DueKind string

// What falls due: a hold expires, a pending withdrawal times out, an open
// payment request expires.
const (
	DueHold       DueKind = "hold"
	DueWithdrawal DueKind = "withdrawal"
	DueRequest    DueKind = "payment_request"
)

// Due is a moment when the service must act on a resource by itself.
type Due struct {
	Kind DueKind
	ID   string
	At   time.Time
}

// Requeued says what a sweep found of an operation's queued task, and did.
type Requeued struct {
	// Enqueued is set when a task was enqueued or moved back to pending.
	Enqueued bool
	// Active is set when the task is in a worker's hands, or was when that
	// worker died (the queue gives it back only after a lease runs out).
	// Locks are the wallet locks the task carries.
	// OperationIDs are all the operations that task applies (a task
	// accepted as a group carries several).
	Active       bool
	Locks        []Lock
	OperationIDs []string
}

// NewOperation is an operation to store as pending, with the caller's
// idempotency key when there is one. A hold operation places Hold (and a
// withdrawal operation requests Withdrawal) in the same commit; a
// transfer with Op.PaymentRequestID approves that request in the same
// commit, if it is still open.
type NewOperation struct {
	Op         Operation
	Key        *IdempotencyKey
	Hold       *NewHold
	Withdrawal *Withdrawal
}

// NewHold is a hold to place: it expires ExpiresIn after it is stored
// (by the database's clock).
type NewHold struct {
	ExpiresIn time.Duration
}

// Stored is what CreateOperations did with one NewOperation.
type Stored struct {
	// Op is the stored operation, with its id, creation time and links.
	Op Operation
	// KeyUsed says its idempotency key was used before: nothing was
	// stored, and the caller replays the key.
	KeyUsed bool
	// Refused is set when a condition checked at the insert did not hold
	// (EPaymentRequestNotOpen): nothing was stored.
	Refused string
}

// AcceptQuery names what an accept group reads.
type AcceptQuery struct {
	Wallets, Holds, Withdrawals []string
}

// AcceptState is what an accept group found.
type AcceptState struct {
	Available map[string]Amount
	// Pending counts the pending operations that reserve from each
	// wallet of Available (what its available balance subtracts).
	Pending     map[string]int
	Holds       map[string]HoldState
	Withdrawals map[string]WithdrawalState
}

// HoldState is what accepting an operation on a hold needs to know: the
// hold, whether its expiry is still ahead (by the database's clock), and
// what pending operations already claim of it.
type HoldState struct {
	Hold Hold
	Live bool
	// PendingCaptures is what pending captures will take; PendingCloser
	// says a pending void, expiry or final capture will close it;
	// PendingBeforeExpiry says a capture or void accepted before its
	// expiry is pending.
	PendingCaptures     Amount
	PendingCloser       bool
	PendingBeforeExpiry bool
}

// WithdrawalState is what accepting an operation on a withdrawal needs
// to know: the withdrawal, whether its timeout has passed, and whether a
// pending operation will end it.
type WithdrawalState struct {
	Withdrawal    Withdrawal
	TimedOut      bool
	PendingCloser bool
}

// HoldFilter selects a page of a wallet's holds, newest first: those it
// placed (Role "payer"), those placed for it ("recipient"), or both ("").
type HoldFilter struct {
	WalletID string
	Role     string
	Status   HoldStatus
	Before   string
	Limit    int
}

// RequestFilter selects a page of a wallet's payment requests, newest
// first: those it is asked to pay (Direction "incoming"), those it asked
// ("outgoing"), or both ("").
type RequestFilter struct {
	WalletID  string
	Direction string
	Status    PaymentRequestStatus
	Before    string
	Limit     int
}

// WithdrawalFilter selects a page of withdrawals: a wallet's, a bank's,
// or (both empty) all; newest first.
type WithdrawalFilter struct {
	WalletID, BankID string
	Status           WithdrawalStatus
	Before           string
	Limit            int
}

// IdempotencyKey scopes a client-chosen key to the caller and remembers a
// hash of the request it first came with.
type IdempotencyKey struct {
	UserID      string
	Key         string
	RequestHash []byte
	// StatusCode is the HTTP status of the first answer, or Unanswered
	// while the first request still waits for its operation's result.
	StatusCode int
}

// Unanswered is the status of a key whose first request has not answered
// yet: it asked to wait for the result, and the answer (200 or 202)
// depends on how the wait ends.
const Unanswered = 0

// Store is the ledger's durable state: Postgres, the only source of truth.
type Store interface {
	// CreateUser stores a new user and, for RoleUser and RoleBank, its wallet
	// (a settlement account for a bank). Returns EEmailTaken.
	CreateUser(ctx context.Context, u User, currency string) (User, Wallet, error)
	// UserByEmail returns EUserNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UserByID returns EUserNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// WalletOf returns the user's wallet with its available balance, or
	// EWalletNotFound when the user has none.
	WalletOf(ctx context.Context, userID string) (Wallet, error)
	// WalletByID returns EWalletNotFound.
	WalletByID(ctx context.Context, id string) (Wallet, error)
	// CreateOperation stores a pending operation, and with key its
	// idempotency record, in one commit. If key was used before it returns
	// the earlier operation and replayed=true, or EIdempotencyKeyReused when
	// the request hash differs.
	CreateOperation(ctx context.Context, op Operation, key *IdempotencyKey) (stored Operation, replayed bool, err error)
	// CreateOperations stores many pending operations, each with its
	// idempotency record when Key is set and what it creates or approves,
	// in one commit. It returns one result per entry, in order: stored
	// with its id and creation time, or not stored because its key was
	// used before (the caller looks the key up) or a condition failed.
	CreateOperations(ctx context.Context, batch []NewOperation) ([]Stored, error)
	// AvailableBalances returns the available balance (balance less held
	// less pending operations that Reserve) of each user wallet named that
	// exists.
	AvailableBalances(ctx context.Context, walletIDs []string) (map[string]Amount, error)
	// AcceptState reads, in one round trip, what an accept group decides
	// on: the available balances of the user wallets named, and the state
	// of the holds and withdrawals named (of those that exist).
	AcceptState(ctx context.Context, q AcceptQuery) (AcceptState, error)
	// LookupIdempotencyKey returns the operation a key created, or
	// EOperationNotFound when the key is unused.
	LookupIdempotencyKey(ctx context.Context, userID, key string) (IdempotencyKey, Operation, error)
	// IdempotencyKeyTaken reports whether a key is stored, waiting for a
	// request that is storing it right now.
	IdempotencyKeyTaken(ctx context.Context, userID, key string) (bool, error)
	// SetIdempotencyStatus records the status code of the first answer
	// of a key still Unanswered, and returns the status recorded: status,
	// or what an earlier call recorded.
	SetIdempotencyStatus(ctx context.Context, userID, key string, status int) (int, error)
	// DeleteIdempotencyKeys deletes at most limit keys stored before
	// before, oldest first, and returns how many it deleted.
	DeleteIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error)
	// Operation returns EOperationNotFound. viewerWalletID, when set, fills
	// BalanceAfter.
	Operation(ctx context.Context, id, viewerWalletID string) (Operation, error)
	// WalletOperations lists a wallet's operations newest first, starting
	// after the operation id before (exclusive) when set.
	WalletOperations(ctx context.Context, walletID, before string, limit int) ([]Operation, error)
	// ApplyOperation applies a pending operation exactly once, in one
	// transaction, and returns it final; applied says whether this call
	// did it. A final operation is returned as is.
	ApplyOperation(ctx context.Context, id string) (op Operation, applied bool, err error)
	// ApplyOperations applies many operations in one transaction and
	// returns one result per id, in order.
	ApplyOperations(ctx context.Context, ids []string) ([]Applied, error)
	// PendingOperations lists operations still pending that were created
	// before olderThan, oldest first.
	PendingOperations(ctx context.Context, olderThan time.Time, limit int) ([]Operation, error)
	// Audit checks every invariant of the ledger in one snapshot.
	Audit(ctx context.Context) (AuditReport, error)

	MoneyStore
}

// MoneyStore is the Store's part for payment systems, holds, payment
// requests and withdrawals.
type MoneyStore interface {
	// Banks lists the banks (only the active ones if activeOnly), with
	// their settlement balances.
	Banks(ctx context.Context, activeOnly bool) ([]Bank, error)
	// Bank returns EBankNotFound.
	Bank(ctx context.Context, id string) (Bank, error)
	// BankStatus is a bank's status alone, cheaply; EBankNotFound.
	BankStatus(ctx context.Context, id string) (BankStatus, error)
	// DisableBank returns EBankNotFound.
	DisableBank(ctx context.Context, id string) (Bank, error)

	// Hold returns EHoldNotFound.
	Hold(ctx context.Context, id string) (Hold, error)
	Holds(ctx context.Context, f HoldFilter) ([]Hold, error)
	// DueHolds lists active holds whose expiry has come.
	DueHolds(ctx context.Context, limit int) ([]Hold, error)

	// CreatePaymentRequest stores an open request that expires expiresIn
	// after it is stored; ETooManyRequests past MaxOpenRequests.
	CreatePaymentRequest(ctx context.Context, r PaymentRequest, expiresIn time.Duration) (PaymentRequest, error)
	// PaymentRequest returns EPaymentRequestNotFound.
	PaymentRequest(ctx context.Context, id string) (PaymentRequest, error)
	PaymentRequests(ctx context.Context, f RequestFilter) ([]PaymentRequest, error)
	// ClosePaymentRequest closes an open request as declined or
	// cancelled; EPaymentRequestNotOpen, EPaymentRequestNotFound.
	ClosePaymentRequest(ctx context.Context, id string, as PaymentRequestStatus, reason string) (PaymentRequest, error)
	// ExpirePaymentRequests expires open requests past their expiry
	// (among ids, or any when ids is nil), at most limit.
	ExpirePaymentRequests(ctx context.Context, ids []string, limit int) ([]PaymentRequest, error)

	// Withdrawal returns EWithdrawalNotFound.
	Withdrawal(ctx context.Context, id string) (Withdrawal, error)
	Withdrawals(ctx context.Context, f WithdrawalFilter) ([]Withdrawal, error)
	// MarkWithdrawalProcessing returns EWithdrawalNotPending,
	// EWithdrawalNotFound.
	MarkWithdrawalProcessing(ctx context.Context, id string) (Withdrawal, error)
	// DueWithdrawals lists withdrawals pending past the timeout.
	DueWithdrawals(ctx context.Context, limit int) ([]Withdrawal, error)
}
