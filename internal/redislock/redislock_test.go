package redislock_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/redislock"
	"github.com/walletd/wallet/internal/wallet"
)

// setup returns a Redis client and a key prefix of the test's own.
func setup(t *testing.T) (*redis.Client, string) {
	t.Helper()
	return pgtest.NewRedis(t)
}

// lockValue returns the value stored under a lock's key, or "" if the key
// does not exist.
func lockValue(t *testing.T, rdb *redis.Client, name string) string {
	t.Helper()
	v, err := rdb.Get(context.Background(), name).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		t.Fatalf("GET %s: %v", name, err)
	}
	return v
}

func mustAcquire(t *testing.T, l *redislock.Locker, ids ...string) []wallet.Lock {
	t.Helper()
	locks, err := l.Acquire(context.Background(), ids)
	if err != nil {
		t.Fatalf("Acquire(%v): %v", ids, err)
	}
	return locks
}

func TestAcquireSortsAndDeduplicates(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	l := redislock.New(rdb, prefix, 10*time.Second, time.Second)

	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"sorted", []string{"a", "b"}, []string{"a", "b"}},
		{"reversed", []string{"z", "y", "x"}, []string{"x", "y", "z"}},
		{"duplicates", []string{"c", "a", "c", "b", "a"}, []string{"a", "b", "c"}},
		{"same wallet twice", []string{"w", "w"}, []string{"w"}},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		input := slices.Clone(tt.ids)
		locks, err := l.Acquire(context.Background(), tt.ids)
		if err != nil {
			t.Fatalf("%s: Acquire(%v): %v", tt.name, tt.ids, err)
		}
		if !slices.Equal(tt.ids, input) {
			t.Errorf("%s: Acquire changed its argument to %v", tt.name, tt.ids)
		}
		var names []string
		for _, lk := range locks {
			names = append(names, lk.Name)
			if lk.Value == "" {
				t.Errorf("%s: lock %s has an empty value", tt.name, lk.Name)
			}
			if got := lockValue(t, rdb, lk.Name); got != lk.Value {
				t.Errorf("%s: Redis holds %q under %s, want the lock's value %q", tt.name, got, lk.Name, lk.Value)
			}
		}
		var want []string
		for _, id := range tt.want {
			want = append(want, l.Name(id))
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: Acquire(%v) took %v, want %v", tt.name, input, names, want)
		}
		l.Release(locks)
		for _, lk := range locks {
			if v := lockValue(t, rdb, lk.Name); v != "" {
				t.Errorf("%s: %s still held (%q) after Release", tt.name, lk.Name, v)
			}
		}
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	l := redislock.New(nil, "p:", time.Second, time.Second)
	if got, want := l.Name("42"), "p:lock:wallet:42"; got != want {
		t.Errorf("Name(42) = %q, want %q", got, want)
	}
	if l.Name("a") == l.Name("b") {
		t.Errorf("two wallets share the lock name %q", l.Name("a"))
	}
}

// An overlapping Acquire waits the configured wait, fails with
// EWalletBusy, and gives back the locks it had already taken.
func TestAcquireOverlapIsBusy(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	const wait = 300 * time.Millisecond
	holder := redislock.New(rdb, prefix, 10*time.Second, wait)
	other := redislock.New(rdb, prefix, 10*time.Second, wait)

	held := mustAcquire(t, holder, "c", "b")
	// Sorted, the second set takes "a" first and then waits for "c".
	start := time.Now()
	locks, err := other.Acquire(context.Background(), []string{"c", "a"})
	elapsed := time.Since(start)
	if err == nil {
		other.Release(locks)
		t.Fatalf("Acquire of an overlapping set succeeded with %v while %v was held", locks, held)
	}
	if code := wallet.ErrorCode(err); code != wallet.EWalletBusy {
		t.Errorf("Acquire of an overlapping set: code %q (%v), want %q", code, err, wallet.EWalletBusy)
	}
	if locks != nil {
		t.Errorf("failed Acquire returned locks %v", locks)
	}
	if elapsed < wait {
		t.Errorf("Acquire gave up after %v, before the lock wait %v", elapsed, wait)
	}
	if elapsed > wait+time.Second {
		t.Errorf("Acquire gave up after %v, long after the lock wait %v", elapsed, wait)
	}
	if v := lockValue(t, rdb, other.Name("a")); v != "" {
		t.Errorf("failed Acquire left the non-overlapping lock %s held (%q)", other.Name("a"), v)
	}
	for _, lk := range held {
		if got := lockValue(t, rdb, lk.Name); got != lk.Value {
			t.Errorf("failed Acquire disturbed the holder's lock %s: %q, want %q", lk.Name, got, lk.Value)
		}
	}
	// "a" is really free: a third Acquire takes it without waiting.
	l3 := redislock.New(rdb, prefix, 10*time.Second, 50*time.Millisecond)
	holder.Release(mustAcquire(t, l3, "a"))

	// Once the holder releases, the overlapping set is free.
	holder.Release(held)
	other.Release(mustAcquire(t, other, "c", "a"))
}

// The worker releases what the API took: by name and value, on its own
// Locker and Redis connection.
func TestReleaseFromAnotherLocker(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	rdb2, _ := pgtest.NewRedis(t) // another connection, as another process
	api := redislock.New(rdb, prefix, 10*time.Second, time.Second)
	worker := redislock.New(rdb2, prefix, 10*time.Second, time.Second)

	locks := mustAcquire(t, api, "from", "to")
	// The locks travel in the task payload.
	raw, err := json.Marshal(locks)
	if err != nil {
		t.Fatal(err)
	}
	var carried []wallet.Lock
	if err := json.Unmarshal(raw, &carried); err != nil {
		t.Fatal(err)
	}
	worker.Release(carried)
	for _, lk := range locks {
		if v := lockValue(t, rdb, lk.Name); v != "" {
			t.Errorf("%s still held (%q) after the worker released it", lk.Name, v)
		}
	}
	// A short wait: Acquire must succeed at once, not after a TTL.
	next := redislock.New(rdb, prefix, 10*time.Second, 50*time.Millisecond)
	next.Release(mustAcquire(t, next, "to", "from"))
}

func TestReleaseWrongValueKeepsLock(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	l := redislock.New(rdb, prefix, 10*time.Second, 100*time.Millisecond)
	held := mustAcquire(t, l, "w")

	tests := []struct {
		name  string
		locks []wallet.Lock
	}{
		{"wrong value", []wallet.Lock{{Name: held[0].Name, Value: "not-the-value"}}},
		{"empty value", []wallet.Lock{{Name: held[0].Name, Value: ""}}},
		{"stale value of an earlier holder", []wallet.Lock{{Name: held[0].Name, Value: held[0].Value + "x"}}},
		{"nil", nil},
	}
	for _, tt := range tests {
		l.Release(tt.locks)
		if got := lockValue(t, rdb, held[0].Name); got != held[0].Value {
			t.Fatalf("%s: Release freed or changed someone else's lock: %q, want %q", tt.name, got, held[0].Value)
		}
		if locks, err := l.Acquire(context.Background(), []string{"w"}); wallet.ErrorCode(err) != wallet.EWalletBusy {
			l.Release(locks)
			t.Fatalf("%s: Acquire after a foreign Release: %v, want %s", tt.name, err, wallet.EWalletBusy)
		}
	}
	l.Release(held)
	if v := lockValue(t, rdb, held[0].Name); v != "" {
		t.Errorf("the right value did not release the lock: %q", v)
	}
}

func TestLockExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	const ttl = 300 * time.Millisecond
	l := redislock.New(rdb, prefix, ttl, 50*time.Millisecond)
	held := mustAcquire(t, l, "w")

	pttl, err := rdb.PTTL(context.Background(), held[0].Name).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > ttl {
		t.Errorf("lock key has PTTL %v, want within (0, %v]", pttl, ttl)
	}
	if locks, err := l.Acquire(context.Background(), []string{"w"}); wallet.ErrorCode(err) != wallet.EWalletBusy {
		l.Release(locks)
		t.Fatalf("Acquire before the TTL ran out: %v, want %s", err, wallet.EWalletBusy)
	}

	time.Sleep(ttl + 100*time.Millisecond)
	if v := lockValue(t, rdb, held[0].Name); v != "" {
		t.Fatalf("lock still held (%q) after its TTL", v)
	}
	next := mustAcquire(t, l, "w")
	if next[0].Value == held[0].Value {
		t.Errorf("new lock reuses the expired lock's value %q", next[0].Value)
	}
	// The expired holder's late Release must not free the new lock.
	l.Release(held)
	if got := lockValue(t, rdb, next[0].Name); got != next[0].Value {
		t.Errorf("late Release of an expired lock freed its successor: %q, want %q", got, next[0].Value)
	}
	l.Release(next)
}

// Many holders of one hot wallet, from several Lockers: each gets it in
// turn and no two hold it at once.
func TestMutualExclusion(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	const (
		workers = 12
		rounds  = 5
	)
	lockers := make([]*redislock.Locker, 3)
	for i := range lockers {
		lockers[i] = redislock.New(rdb, prefix, 10*time.Second, 10*time.Second)
	}

	var (
		holders  atomic.Int32
		overlaps atomic.Int32
		counter  atomic.Int64 // read and written separately, so only the lock keeps it exact
		wg       sync.WaitGroup
		errs     = make(chan error, workers*rounds)
	)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := lockers[g%len(lockers)]
			for range rounds {
				locks, err := l.Acquire(context.Background(), []string{"hot"})
				if err != nil {
					errs <- err
					return
				}
				if holders.Add(1) != 1 {
					overlaps.Add(1)
				}
				v := counter.Load()
				time.Sleep(200 * time.Microsecond) // widen the window for a lost update
				counter.Store(v + 1)
				holders.Add(-1)
				l.Release(locks)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Acquire under contention: %v", err)
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d times two goroutines held the lock at once", n)
	}
	if got, want := counter.Load(), int64(workers*rounds); got != want {
		t.Errorf("counter = %d after %d locked increments: updates were lost", got, want)
	}
}

// Release takes no context: a request whose context is already cancelled
// still frees its locks.
func TestReleaseAfterRequestCancelled(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	l := redislock.New(rdb, prefix, 10*time.Second, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	locks, err := l.Acquire(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	l.Release(locks)
	for _, lk := range locks {
		if v := lockValue(t, rdb, lk.Name); v != "" {
			t.Errorf("%s still held (%q) after Release with the request cancelled", lk.Name, v)
		}
	}
}

// An Acquire whose context is already done takes nothing.
func TestAcquireCancelledContext(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	l := redislock.New(rdb, prefix, 10*time.Second, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	locks, err := l.Acquire(ctx, []string{"a"})
	if err == nil {
		l.Release(locks)
		t.Fatalf("Acquire with a cancelled context succeeded: %v", locks)
	}
	if v := lockValue(t, rdb, l.Name("a")); v != "" {
		t.Errorf("Acquire with a cancelled context left %s held (%q)", l.Name("a"), v)
	}
}
