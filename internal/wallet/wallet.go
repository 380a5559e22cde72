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
	// Available is Balance less the wallet's pending outgoing transfers.
	Available Amount
}

// OpType names what an operation does.
type OpType string

// Operation types; the names are also the API paths that create them.
const (
	OpDeposit  OpType = "external_to_wallet"
	OpTransfer OpType = "wallet_to_wallet"
)

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

// Operation is one deposit or transfer. From is the debited account (a
// settlement account for a deposit), To the credited user wallet.
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
	TaskID      string
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
// credit of To, which always sum to zero.
func (o *Operation) Entries() []Entry {
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
// idempotency key when there is one.
type NewOperation struct {
	Op  Operation
	Key *IdempotencyKey
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
	// idempotency record when Key is set, in one commit. It returns one
	// operation per entry, in order, with its id and creation time; an
	// entry whose key was used before is not stored and comes back with
	// an empty ID, for the caller to look the key up.
	CreateOperations(ctx context.Context, batch []NewOperation) ([]Operation, error)
	// AvailableBalances returns the available balance (balance less
	// pending outgoing operations) of each user wallet named that exists.
	AvailableBalances(ctx context.Context, walletIDs []string) (map[string]Amount, error)
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
}
