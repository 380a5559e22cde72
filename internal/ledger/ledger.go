// Package ledger is the service's use cases, written against interfaces:
// accounts (signup, sign-in, the bank and admin accounts made at start),
// accepting operations (validate, lock, make durable, enqueue), applying
// them in the worker, and sweeping up operations left pending.
package ledger

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// Locker takes and releases wallet locks (internal/redislock).
type Locker interface {
	// TryAcquire tries each wallet's lock once, without waiting, and
	// returns those it got by wallet id.
	TryAcquire(ctx context.Context, walletIDs []string) (map[string]wallet.Lock, error)
	// Release never fails: a lock it cannot release expires by itself.
	Release(locks []wallet.Lock)
}

// Queue hands operations to the workers (internal/queue).
type Queue interface {
	// EnqueueApply enqueues one task for operations accepted together.
	EnqueueApply(ctx context.Context, opIDs []string, locks []wallet.Lock) error
	Requeue(ctx context.Context, opID string) (wallet.Requeued, error)
}

// Claims marks idempotency keys in progress (internal/redisstore).
type Claims interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Unclaim ends claims; one call may end many.
	Unclaim(keys ...string)
}

// Publisher announces final operations to waiting clients.
type Publisher interface {
	PublishResults(ctx context.Context, opIDs ...string) error
}

// Observer receives the events that metrics count. All methods must be
// cheap and safe for concurrent use.
type Observer interface {
	LockWait(d time.Duration, busy bool)
	OperationFinal(op wallet.Operation)
	// Batch counts the operations of one commit at a stage ("accept" or
	// "apply").
	Batch(stage string, n int)
}

// Accounts is what the account use cases need of the store.
type Accounts interface {
	CreateUser(ctx context.Context, u wallet.User, currency string) (wallet.User, wallet.Wallet, error)
	UserByEmail(ctx context.Context, email string) (wallet.User, error)
	UserByID(ctx context.Context, id string) (wallet.User, error)
	SetPasswordHash(ctx context.Context, userID, hash string) error
	WalletOf(ctx context.Context, userID string) (wallet.Wallet, error)
}

// Service holds the use cases. Fields left nil are not used by the
// program that builds it (the worker has no Locker acquisitions, the API
// applies nothing).
type Service struct {
	Store      wallet.Store
	Accounts   Accounts
	Locker     Locker
	Queue      Queue
	Claims     Claims
	Publisher  Publisher
	Observer   Observer
	Log        *slog.Logger
	Currency   wallet.Currency
	BcryptCost int
	// LockWait is how long Submit may wait for locks; idempotency claims
	// live a little longer.
	LockWait time.Duration
	// Now is the clock; tests may replace it.
	Now func() time.Time

	dummyOnce sync.Once
	dummyHash []byte
	applier   *applier
	acceptor  *acceptor
	// metas caches wallet identities (id, owner, kind, currency).
	metas sync.Map
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
