// Package redislock takes and releases the wallet locks with redsync on
// one Redis. A lock only keeps the system orderly and fast: Postgres keeps
// it correct even if a lock is lost (see the postgres package).
package redislock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-redsync/redsync/v4"
	goredislib "github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/redispipe"
	"github.com/walletd/wallet/internal/wallet"
)

// Locker takes wallet locks. Safe for concurrent use; each lock is a fresh
// redsync Mutex, since a Mutex is per use.
type Locker struct {
	rs     *redsync.Redsync
	client goredislib.UniversalClient
	prefix string
	ttl    time.Duration
}

// New returns a Locker whose locks expire after ttl unless released. Keys
// live in the client's database.
func New(client goredislib.UniversalClient, prefix string, ttl time.Duration) *Locker {
	return &Locker{rs: redsync.New(newPipelinedPool(client)), client: client, prefix: prefix, ttl: ttl}
}

// Name returns the lock name of a wallet.
func (l *Locker) Name(walletID string) string { return l.prefix + "lock:wallet:" + walletID }

// maxConcurrentTries bounds the lock tries one TryAcquire has in flight;
// tries in flight together share a pipeline (pipeline.go).
const maxConcurrentTries = redispipe.Max

// TryAcquire tries each wallet's lock once, all at the same time, and
// returns the locks it got, by wallet id. It never waits for a held lock,
// so a caller that holds some locks while it retries others cannot
// deadlock with another such caller; the API's acceptor retries what it
// did not get until its wait runs out. A wallet whose lock is held is
// simply missing from the result; err is set only when Redis failed, and
// then nothing is held.
func (l *Locker) TryAcquire(ctx context.Context, walletIDs []string) (map[string]wallet.Lock, error) {
	ids := slices.Clone(walletIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	got := make([]wallet.Lock, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	// Bounded, so that a large group does not queue past redsync's
	// per-try timeout (5% of the TTL).
	sem := make(chan struct{}, maxConcurrentTries)
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			m := l.rs.NewMutex(l.Name(id), redsync.WithExpiry(l.ttl), redsync.WithTries(1))
			switch err := m.TryLockContext(ctx); {
			case err == nil:
				got[i] = wallet.Lock{Name: m.Name(), Value: m.Value(), WalletID: id}
			case !errors.Is(err, redsync.ErrFailed) && !isTaken(err):
				errs[i] = err
			}
		})
	}
	wg.Wait()
	held := make(map[string]wallet.Lock, len(ids))
	var taken []wallet.Lock
	for i, id := range ids {
		if got[i].Name != "" {
			held[id] = got[i]
			taken = append(taken, got[i])
		}
	}
	if err := errors.Join(errs...); err != nil {
		l.Release(taken)
		return nil, err
	}
	return held, nil
}

func isTaken(err error) bool {
	var taken *redsync.ErrTaken
	var nodeTaken *redsync.ErrNodeTaken
	return errors.As(err, &taken) || errors.As(err, &nodeTaken)
}

// releaseScript is redsync's delete script (compare the value, then
// delete) over many locks at once: KEYS are the lock names, ARGV their
// values. A worker releases a whole batch's locks in one round trip
// instead of one per lock.
var releaseScript = goredislib.NewScript(`
for i, name in ipairs(KEYS) do
	if redis.call("GET", name) == ARGV[i] then
		redis.call("DEL", name)
	end
end
return 0`)

// Release releases locks by name and value, from any process (the worker
// releases what the API took). It uses a fresh context, so a cancelled
// request never leaves a lock behind, and ignores locks that already
// expired or changed hands. It fails only when Redis does; a lock it
// cannot release expires by itself.
func (l *Locker) Release(locks []wallet.Lock) error {
	if len(locks) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	names, values := make([]string, len(locks)), make([]any, len(locks))
	for i, lk := range locks {
		names[i], values[i] = lk.Name, lk.Value
	}
	if err := releaseScript.Run(ctx, l.client, names, values...).Err(); err != nil {
		return fmt.Errorf("redislock: release %d locks: %w", len(locks), err)
	}
	return nil
}
