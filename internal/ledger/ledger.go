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
	// Release releases locks by value. A lock it could not release
	// expires by itself after LOCK_TTL; until then its wallet stays busy,
	// so the error is worth a log line and a count.
	Release(locks []wallet.Lock) error
}

// Queue hands operations to the workers (internal/queue).
type Queue interface {
	// EnqueueApply enqueues one task, named taskID, for operations
	// accepted together. Locks, if given, travel with the task and the
	// worker releases them after its commit; the acceptor releases its
	// own once the group is stored and gives none.
	EnqueueApply(ctx context.Context, taskID string, opIDs []string, locks []wallet.Lock) error
	// Requeue makes sure the task taskID that applies the pending
	// operations opIDs will run: it enqueues it, or runs it again if it
	// is archived or waiting for a retry, or reports it active.
	Requeue(ctx context.Context, taskID string, opIDs []string) (wallet.Requeued, error)
}

// Scheduler runs the service's own acts (expiries) when they fall due
// (internal/queue: asynq tasks with ProcessAt). It only makes them
// prompt: the sweeper finds whatever falls due, scheduled or not.
type Scheduler interface {
	Schedule(ctx context.Context, due ...wallet.Due) error
}

// Claims marks idempotency keys in progress (internal/redisstore).
type Claims interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Unclaim ends claims; one call may end many. A claim it could not
	// end lapses by itself; until then its key answers
	// request_in_progress.
	Unclaim(keys ...string) error
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
	// CleanupFailed counts n locks ("lock_release") or idempotency claims
	// ("unclaim") that Redis failed to end; they lapse by themselves.
	CleanupFailed(kind string, n int)
	// AcceptStage counts n accepted requests that each spent d in one
	// stage of the accept path (StageLocks ... StageRedis, then StageEnqueue
	// after the answer).
	AcceptStage(stage string, d time.Duration, n int)
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
	Scheduler  Scheduler
	Claims     Claims
	Publisher  Publisher
	Observer   Observer
	Log        *slog.Logger
	Currency   wallet.Currency
	BcryptCost int
	// LockWait is how long Submit may wait for locks; idempotency claims
	// live a little longer.
	LockWait time.Duration
	// AcceptTimeout bounds the store step of an accept (the funds check
	// and the insert) and each lock round, so that a hung Postgres or
	// Redis answers 503 instead of stalling every request. Zero means
	// DefaultAcceptTimeout.
	AcceptTimeout time.Duration
	// MaxPending bounds the pending operations that reserve from one
	// wallet (transfers, holds, withdrawals not yet committed): past it a
	// debit is refused 409 wallet_busy until the workers catch up. A
	// wallet's lock covers only its accepts, so without a bound a wallet
	// debited faster than the workers commit (workers down or slow)
	// would gather a backlog without end, and every funds check of it
	// sums that backlog. Zero means DefaultMaxPending.
	MaxPending int
	// Now is the clock; tests may replace it.
	Now func() time.Time

	dummyOnce sync.Once
	dummyHash []byte
	// compareHook, when set, sees each password hash compared (tests).
	compareHook func(hash []byte)
	applier     *applier
	acceptor    *acceptor
	// lockRetry, when set, replaces the acceptor's jittered retry delay
	// (tests).
	lockRetry time.Duration
	// metas caches wallet identities (id, owner, kind, currency).
	metas sync.Map
}

// DefaultMaxPending is MaxPending's default: a hot wallet debited at
// 5,000/s has a few dozen pending while the workers keep up.
const DefaultMaxPending = 1000

func (s *Service) maxPending() int {
	if s.MaxPending > 0 {
		return s.MaxPending
	}
	return DefaultMaxPending
}

// DefaultAcceptTimeout is AcceptTimeout's default.
const DefaultAcceptTimeout = 5 * time.Second

func (s *Service) acceptTimeout() time.Duration {
	if s.AcceptTimeout > 0 {
		return s.AcceptTimeout
	}
	return DefaultAcceptTimeout
}

// release releases locks and reports a failure: the wallets stay busy
// until the locks expire.
func (s *Service) release(locks []wallet.Lock, why string) {
	if len(locks) == 0 {
		return
	}
	if err := s.Locker.Release(locks); err != nil {
		ids := make([]string, len(locks))
		for i, lk := range locks {
			ids[i] = lk.WalletID
		}
		s.Log.Warn("lock release failed: the wallets stay busy until their locks expire",
			slog.String("after", why), slog.Any("wallet_ids", ids), slog.Any("error", err))
		if s.Observer != nil {
			s.Observer.CleanupFailed("lock_release", len(locks))
		}
	}
}

// unclaim ends idempotency claims and reports a failure: those keys
// answer request_in_progress until the claims lapse.
func (s *Service) unclaim(claims []string, walletIDs []string) {
	if len(claims) == 0 {
		return
	}
	if err := s.Claims.Unclaim(claims...); err != nil {
		s.Log.Warn("unclaim failed: the keys answer request_in_progress until their claims lapse",
			slog.Int("claims", len(claims)), slog.Any("wallet_ids", walletIDs), slog.Any("error", err))
		if s.Observer != nil {
			s.Observer.CleanupFailed("unclaim", len(claims))
		}
	}
}

// schedule asks the Scheduler for due acts; a failure only delays them
// until the sweeper finds them.
func (s *Service) schedule(ctx context.Context, due ...wallet.Due) {
	if s.Scheduler == nil || len(due) == 0 {
		return
	}
	if err := s.Scheduler.Schedule(context.WithoutCancel(ctx), due...); err != nil {
		s.Log.Warn("scheduling failed; the sweeper will act when due", slog.Int("count", len(due)), slog.Any("error", err))
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
