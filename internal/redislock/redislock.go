// Package redislock takes and releases the wallet locks with redsync on
// one Redis. A lock only keeps the system orderly and fast: Postgres keeps
// it correct even if a lock is lost (see the postgres package).
package redislock

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredislib "github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/wallet"
)

// Locker takes wallet locks. Safe for concurrent use; each lock is a fresh
// redsync Mutex, since a Mutex is per use.
type Locker struct {
	rs     *redsync.Redsync
	prefix string
	ttl    time.Duration
	wait   time.Duration
}

// New returns a Locker whose locks expire after ttl unless released, and
// whose Acquire waits at most wait. Keys live in the client's database.
func New(client goredislib.UniversalClient, prefix string, ttl, wait time.Duration) *Locker {
	return &Locker{rs: redsync.New(goredis.NewPool(client)), prefix: prefix, ttl: ttl, wait: wait}
}

// Name returns the lock name of a wallet.
func (l *Locker) Name(walletID string) string { return l.prefix + "lock:wallet:" + walletID }

// delay is a short jittered retry delay: redsync's default (50-250 ms)
// starves waiters on a hot wallet.
func delay(int) time.Duration { return time.Duration(1000+rand.IntN(4000)) * time.Microsecond }

// Acquire locks the given wallets in sorted order, waiting at most the
// configured wait in all. On timeout it releases what it took and returns
// EWalletBusy.
func (l *Locker) Acquire(ctx context.Context, walletIDs []string) ([]wallet.Lock, error) {
	ids := slices.Clone(walletIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ctx, cancel := context.WithTimeout(ctx, l.wait)
	defer cancel()
	locks := make([]wallet.Lock, 0, len(ids))
	for _, id := range ids {
		m := l.rs.NewMutex(l.Name(id),
			redsync.WithExpiry(l.ttl),
			redsync.WithTries(1<<30), // bounded by ctx's deadline instead
			redsync.WithRetryDelayFunc(delay))
		if err := m.LockContext(ctx); err != nil {
			l.Release(locks)
			if ctx.Err() != nil || errors.Is(err, redsync.ErrFailed) || isTaken(err) {
				return nil, wallet.Errorf(wallet.EWalletBusy, "wallet %s is busy with another operation; retry shortly", id)
			}
			return nil, err
		}
		locks = append(locks, wallet.Lock{Name: m.Name(), Value: m.Value()})
	}
	return locks, nil
}

func isTaken(err error) bool {
	var taken *redsync.ErrTaken
	var nodeTaken *redsync.ErrNodeTaken
	return errors.As(err, &taken) || errors.As(err, &nodeTaken)
}

// Release releases locks by name and value, from any process (the worker
// releases what the API took). It uses a fresh context, so a cancelled
// request never leaves a lock behind, and ignores locks that already
// expired or changed hands.
func (l *Locker) Release(locks []wallet.Lock) {
	if len(locks) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// A worker releases a whole batch's locks at once: do it in parallel,
	// since each release is a round trip.
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, lk := range locks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			m := l.rs.NewMutex(lk.Name, redsync.WithValue(lk.Value))
			_, _ = m.UnlockContext(ctx)
		})
	}
	wg.Wait()
}
