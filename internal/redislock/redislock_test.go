package redislock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

// lockList returns the locks of a TryAcquire result, ordered by name.
func lockList(held map[string]wallet.Lock) []wallet.Lock {
	locks := slices.Collect(maps.Values(held))
	slices.SortFunc(locks, func(a, b wallet.Lock) int { return strings.Compare(a.Name, b.Name) })
	return locks
}

// mustTryAcquire tries the wallets' locks and fails the test on an error
// or if any of them was not free.
func mustTryAcquire(t *testing.T, l *redislock.Locker, ids ...string) map[string]wallet.Lock {
	t.Helper()
	held, err := l.TryAcquire(context.Background(), ids)
	if err != nil {
		t.Fatalf("TryAcquire(%v): %v", ids, err)
	}
	for _, id := range ids {
		if _, ok := held[id]; !ok {
			l.Release(lockList(held))
			t.Fatalf("TryAcquire(%v) did not get the free wallet %q (got %v)", ids, id, slices.Sorted(maps.Keys(held)))
		}
	}
	return held
}

// assertFree fails the test if any of the names is still held in Redis.
func assertFree(t *testing.T, rdb *redis.Client, what string, names ...string) {
	t.Helper()
	for _, name := range names {
		if v := lockValue(t, rdb, name); v != "" {
			t.Errorf("%s: %s still held (%q)", what, name, v)
		}
	}
}

// assertHeld fails the test unless every lock's key holds the lock's value.
func assertHeld(t *testing.T, rdb *redis.Client, what string, locks ...wallet.Lock) {
	t.Helper()
	for _, lk := range locks {
		if got := lockValue(t, rdb, lk.Name); got != lk.Value {
			t.Errorf("%s: Redis holds %q under %s, want the lock's value %q", what, got, lk.Name, lk.Value)
		}
	}
}

func TestTryAcquireFreeWalletsGetsAllAndDeduplicates(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	const ttl = 10 * time.Second
	l := redislock.New(rdb, prefix, ttl)

	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"sorted", []string{"a", "b"}, []string{"a", "b"}},
		{"reversed", []string{"z", "y", "x"}, []string{"x", "y", "z"}},
		{"duplicates", []string{"c", "a", "c", "b", "a"}, []string{"a", "b", "c"}},
		{"same wallet twice", []string{"w", "w"}, []string{"w"}},
		{"one", []string{"solo"}, []string{"solo"}},
		{"none", nil, nil},
		{"empty", []string{}, nil},
	}
	for _, tt := range tests {
		input := slices.Clone(tt.ids)
		held, err := l.TryAcquire(context.Background(), tt.ids)
		if err != nil {
			t.Fatalf("%s: TryAcquire(%v): %v", tt.name, tt.ids, err)
		}
		if !slices.Equal(tt.ids, input) {
			t.Errorf("%s: TryAcquire changed its argument to %v", tt.name, tt.ids)
		}
		if got := slices.Sorted(maps.Keys(held)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: TryAcquire(%v) got wallets %v, want %v", tt.name, input, got, tt.want)
		}
		values := map[string]bool{}
		for id, lk := range held {
			if lk.Name != l.Name(id) {
				t.Errorf("%s: lock of wallet %q is named %q, want %q", tt.name, id, lk.Name, l.Name(id))
			}
			if lk.Value == "" {
				t.Errorf("%s: lock %s has an empty value", tt.name, lk.Name)
			}
			if values[lk.Value] {
				t.Errorf("%s: two locks share the value %q", tt.name, lk.Value)
			}
			values[lk.Value] = true
			assertHeld(t, rdb, tt.name, lk)
			pttl, err := rdb.PTTL(context.Background(), lk.Name).Result()
			if err != nil {
				t.Fatalf("PTTL %s: %v", lk.Name, err)
			}
			// Generous: only the order of magnitude matters, and the key
			// must not live forever.
			if pttl <= ttl-3*time.Second || pttl > ttl {
				t.Errorf("%s: lock %s has PTTL %v, want close to the TTL %v", tt.name, lk.Name, pttl, ttl)
			}
		}
		l.Release(lockList(held))
		for _, id := range tt.want {
			assertFree(t, rdb, tt.name+": after Release", l.Name(id))
		}
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	l := redislock.New(nil, "p:", time.Second)
	if got, want := l.Name("42"), "p:lock:wallet:42"; got != want {
		t.Errorf("Name(42) = %q, want %q", got, want)
	}
	if l.Name("a") == l.Name("b") {
		t.Errorf("two wallets share the lock name %q", l.Name("a"))
	}
	if other := redislock.New(nil, "q:", time.Second); other.Name("42") == l.Name("42") {
		t.Errorf("two prefixes share the lock name %q", l.Name("42"))
	}
}

// TryAcquire of a set that overlaps another holder's gets exactly the free
// wallets at once, misses the held ones without an error, and leaves the
// holder's locks alone.
func TestTryAcquireOverlapGetsOnlyFree(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	holder := redislock.New(rdb, prefix, 10*time.Second)
	other := redislock.New(rdb, prefix, 10*time.Second)

	held := mustTryAcquire(t, holder, "c", "b")
	got, err := other.TryAcquire(context.Background(), []string{"c", "a", "b", "d", "a"})
	if err != nil {
		t.Fatalf("TryAcquire of an overlapping set: %v, want the free wallets and no error", err)
	}
	if ids := slices.Sorted(maps.Keys(got)); !slices.Equal(ids, []string{"a", "d"}) {
		other.Release(lockList(got))
		t.Fatalf("TryAcquire of an overlapping set got %v, want exactly the free [a d]", ids)
	}
	assertHeld(t, rdb, "the overlapping TryAcquire's own locks", lockList(got)...)
	assertHeld(t, rdb, "the holder's locks after an overlapping TryAcquire", lockList(held)...)

	// Trying again while they are still held misses them again.
	again, err := other.TryAcquire(context.Background(), []string{"b", "c"})
	if err != nil || len(again) != 0 {
		other.Release(lockList(again))
		t.Fatalf("TryAcquire of held wallets: %v, %v; want nothing and no error", again, err)
	}
	assertHeld(t, rdb, "the holder's locks after a second try", lockList(held)...)

	// Releasing what it got does not touch the holder's locks either.
	other.Release(lockList(got))
	assertFree(t, rdb, "the overlapping set's free locks after Release", other.Name("a"), other.Name("d"))
	assertHeld(t, rdb, "the holder's locks after the other Release", lockList(held)...)

	// Once the holder releases, the whole set is free.
	holder.Release(lockList(held))
	other.Release(lockList(mustTryAcquire(t, other, "c", "a", "b", "d")))
}

// errInjected is the Redis failure failingSet injects.
var errInjected = errors.New("injected Redis failure")

// failingSet fails every SET of the key bad and passes everything else on.
type failingSet struct{ bad string }

func (failingSet) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h failingSet) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); strings.EqualFold(cmd.Name(), "set") && len(args) > 1 && args[1] == h.bad {
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook fails the pipelined SETs of bad (lock tries are
// pipelined) and sends the rest.
func (h failingSet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var pass []redis.Cmder
		for _, cmd := range cmds {
			if args := cmd.Args(); strings.EqualFold(cmd.Name(), "set") && len(args) > 1 && args[1] == h.bad {
				cmd.SetErr(errInjected)
				continue
			}
			pass = append(pass, cmd)
		}
		if len(pass) == 0 {
			return errInjected
		}
		return next(ctx, pass)
	}
}

// When Redis fails for one wallet, TryAcquire reports the error and gives
// back the locks it got for the others.
func TestTryAcquireRedisFailureHoldsNothing(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	failing, _ := pgtest.NewRedis(t)
	l := redislock.New(failing, prefix, 10*time.Second)
	failing.AddHook(failingSet{bad: l.Name("bad")})

	got, err := l.TryAcquire(context.Background(), []string{"a", "bad", "c"})
	if err == nil {
		l.Release(lockList(got))
		t.Fatalf("TryAcquire with a failing Redis succeeded with %v", got)
	}
	if !errors.Is(err, errInjected) {
		t.Errorf("TryAcquire error %v does not wrap the Redis failure %v", err, errInjected)
	}
	if len(got) != 0 {
		t.Errorf("failed TryAcquire returned locks %v", got)
	}
	assertFree(t, rdb, "after a failed TryAcquire", l.Name("a"), l.Name("bad"), l.Name("c"))

	// Without the failing wallet the same Locker works.
	l.Release(lockList(mustTryAcquire(t, l, "a", "c")))
}

// The worker releases what the API took: by name and value, on its own
// Locker and Redis connection.
func TestReleaseFromAnotherLocker(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	rdb2, _ := pgtest.NewRedis(t) // another connection, as another process
	api := redislock.New(rdb, prefix, 10*time.Second)
	worker := redislock.New(rdb2, prefix, 10*time.Second)

	locks := lockList(mustTryAcquire(t, api, "from", "to"))
	// The locks travel in the task payload.
	raw, err := json.Marshal(locks)
	if err != nil {
		t.Fatal(err)
	}
	var carried []wallet.Lock
	if err := json.Unmarshal(raw, &carried); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(carried, locks) {
		t.Fatalf("locks changed in the payload: %v, want %v", carried, locks)
	}
	worker.Release(carried)
	assertFree(t, rdb, "after the worker released them", api.Name("from"), api.Name("to"))
	// Free at once, not after a TTL.
	next := redislock.New(rdb, prefix, 10*time.Second)
	next.Release(lockList(mustTryAcquire(t, next, "to", "from")))
}

func TestReleaseWrongValueKeepsLock(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	l := redislock.New(rdb, prefix, 10*time.Second)
	other := redislock.New(rdb, prefix, 10*time.Second)
	w := mustTryAcquire(t, l, "w")["w"]

	tests := []struct {
		name  string
		locks []wallet.Lock
		free  []string // wallets the Release must free (taken just before it)
	}{
		{"wrong value", []wallet.Lock{{Name: w.Name, Value: "not-the-value"}}, nil},
		{"empty value", []wallet.Lock{{Name: w.Name, Value: ""}}, nil},
		{"stale value of an earlier holder", []wallet.Lock{{Name: w.Name, Value: w.Value + "x"}}, nil},
		{"prefix of the value", []wallet.Lock{{Name: w.Name, Value: w.Value[:len(w.Value)-1]}}, nil},
		{"right value on another wallet's name", []wallet.Lock{{Name: l.Name("v"), Value: w.Value}}, nil},
		{"nil", nil, nil},
		{"empty", []wallet.Lock{}, nil},
		{"wrong value in a batch with a right one", []wallet.Lock{{Name: w.Name, Value: "not-the-value"}}, []string{"x", "y"}},
	}
	for _, tt := range tests {
		locks := slices.Clone(tt.locks)
		if len(tt.free) > 0 {
			locks = append(locks, lockList(mustTryAcquire(t, other, tt.free...))...)
		}
		l.Release(locks)
		assertHeld(t, rdb, tt.name+": someone else's lock after Release", w)
		for _, id := range tt.free {
			assertFree(t, rdb, tt.name+": the batch's right lock after Release", l.Name(id))
		}
		got, err := other.TryAcquire(context.Background(), []string{"w"})
		if err != nil || len(got) != 0 {
			other.Release(lockList(got))
			t.Fatalf("%s: TryAcquire after a foreign Release: %v, %v; want nothing and no error", tt.name, got, err)
		}
	}
	l.Release([]wallet.Lock{w})
	assertFree(t, rdb, "after Release with the right value", w.Name)
}

func TestLockExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	// Short, but not shorter: redsync bounds each SETNX to 5% of the TTL,
	// and 100ms would leave Redis only 5ms under -race.
	const ttl = 300 * time.Millisecond
	l := redislock.New(rdb, prefix, ttl)
	other := redislock.New(rdb, prefix, 10*time.Second)
	held := mustTryAcquire(t, l, "w")["w"]

	pttl, err := rdb.PTTL(context.Background(), held.Name).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > ttl {
		t.Errorf("lock key has PTTL %v, want within (0, %v]", pttl, ttl)
	}
	if got, err := other.TryAcquire(context.Background(), []string{"w"}); err != nil || len(got) != 0 {
		other.Release(lockList(got))
		t.Fatalf("TryAcquire before the TTL ran out: %v, %v; want nothing and no error", got, err)
	}

	// Wait for Redis to expire the key; the deadline is only a bound on a
	// broken expiry, far above the TTL.
	for deadline := time.Now().Add(10 * time.Second); lockValue(t, rdb, held.Name) != ""; {
		if time.Now().After(deadline) {
			t.Fatalf("lock %s still held long after its TTL %v", held.Name, ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	next := mustTryAcquire(t, other, "w")["w"]
	if next.Value == held.Value {
		t.Errorf("new lock reuses the expired lock's value %q", next.Value)
	}
	// The expired holder's late Release is harmless and must not free the
	// new lock.
	l.Release([]wallet.Lock{held})
	assertHeld(t, rdb, "late Release of an expired lock", next)
	other.Release([]wallet.Lock{next})
	assertFree(t, rdb, "after the successor's Release", next.Name)
}

// Many goroutines on several Lockers keep trying one hot wallet: whoever
// gets it is alone in the critical section.
func TestMutualExclusion(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	const (
		workers = 12
		rounds  = 5
	)
	lockers := make([]*redislock.Locker, 3)
	for i := range lockers {
		lockers[i] = redislock.New(rdb, prefix, 10*time.Second)
	}

	var (
		holders  atomic.Int32
		overlaps atomic.Int32
		entries  atomic.Int64
		misses   atomic.Int64
		counter  atomic.Int64 // read and written separately, so only the lock keeps it exact
		wg       sync.WaitGroup
		errs     = make(chan error, workers)
	)
	// Only a bound in case the lock never frees; not asserted on.
	stop := time.Now().Add(30 * time.Second)
	for g := range workers {
		wg.Go(func() {
			l := lockers[g%len(lockers)]
			for done := 0; done < rounds && time.Now().Before(stop); {
				held, err := l.TryAcquire(context.Background(), []string{"hot", "hot"})
				if err != nil {
					errs <- err
					return
				}
				lk, ok := held["hot"]
				if !ok {
					if len(held) != 0 {
						errs <- fmt.Errorf("TryAcquire(hot) got %v without hot", held)
						return
					}
					misses.Add(1)
					time.Sleep(100 * time.Microsecond)
					continue
				}
				if holders.Add(1) != 1 {
					overlaps.Add(1)
				}
				v := counter.Load()
				time.Sleep(200 * time.Microsecond) // widen the window for a lost update
				counter.Store(v + 1)
				holders.Add(-1)
				entries.Add(1)
				done++
				l.Release([]wallet.Lock{lk})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("TryAcquire under contention: %v", err)
	}
	n := entries.Load()
	if n == 0 {
		t.Fatalf("no goroutine ever got the hot wallet (%d misses)", misses.Load())
	}
	if o := overlaps.Load(); o != 0 {
		t.Errorf("%d times two goroutines held the lock at once", o)
	}
	if got := counter.Load(); got != n {
		t.Errorf("counter = %d after %d locked increments: updates were lost", got, n)
	}
	assertFree(t, rdb, "after every holder released it", lockers[0].Name("hot"))
	t.Logf("%d entries, %d misses", n, misses.Load())
}

// Release takes no context: a request whose context is already cancelled
// still frees its locks.
func TestReleaseAfterRequestCancelled(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	l := redislock.New(rdb, prefix, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	held, err := l.TryAcquire(ctx, []string{"a", "b"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if len(held) != 2 {
		cancel()
		l.Release(lockList(held))
		t.Fatalf("TryAcquire(a, b) on free wallets got %v", held)
	}
	cancel()
	l.Release(lockList(held))
	assertFree(t, rdb, "after Release with the request cancelled", l.Name("a"), l.Name("b"))
	l.Release(lockList(mustTryAcquire(t, l, "a", "b")))
}

// A TryAcquire whose context is already done takes nothing.
func TestTryAcquireCancelledContext(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	l := redislock.New(rdb, prefix, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	held, err := l.TryAcquire(ctx, []string{"a", "b"})
	if len(held) != 0 {
		l.Release(lockList(held))
		t.Fatalf("TryAcquire with a cancelled context got %v (err %v)", held, err)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("TryAcquire with a cancelled context: %v, want context.Canceled or nothing", err)
	}
	assertFree(t, rdb, "after TryAcquire with a cancelled context", l.Name("a"), l.Name("b"))
	// The wallets really are free.
	l.Release(lockList(mustTryAcquire(t, l, "a", "b")))
}

// scriptCounter counts the commands a client sent that succeeded, by name.
type scriptCounter struct {
	mu    sync.Mutex
	count map[string]int
}

func (*scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil || errors.Is(err, redis.Nil) {
			c.mu.Lock()
			c.count[strings.ToLower(cmd.Name())]++
			c.mu.Unlock()
		}
		return err
	}
}

func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		c.count["pipeline"]++
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// A worker releases a big batch's locks with one script call.
func TestReleaseManyLocksInOneCall(t *testing.T) {
	t.Parallel()
	rdb, prefix := setup(t)
	workerRDB, _ := pgtest.NewRedis(t)
	counter := &scriptCounter{count: map[string]int{}}
	workerRDB.AddHook(counter)
	api := redislock.New(rdb, prefix, 10*time.Second)
	worker := redislock.New(workerRDB, prefix, 10*time.Second)

	const n = 300
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("w%03d", i)
	}
	held := mustTryAcquireChunked(t, api, ids)
	if len(held) != n {
		t.Fatalf("TryAcquire of %d free wallets got %d", n, len(held))
	}
	locks := lockList(held)
	assertHeld(t, rdb, "before the batch Release", locks...)

	worker.Release(locks)
	for _, id := range ids {
		assertFree(t, rdb, "after the batch Release", api.Name(id))
	}
	counter.mu.Lock()
	got := maps.Clone(counter.count)
	counter.mu.Unlock()
	if scripts := got["evalsha"] + got["eval"]; scripts != 1 || len(got) != 1 {
		t.Errorf("Release of %d locks sent %v, want one script call", n, got)
	}

	// All of them can be taken again.
	api.Release(lockList(mustTryAcquireChunked(t, api, ids)))
}

// mustTryAcquireChunked takes many free wallets' locks a few at a time.
// TryAcquire runs one SETNX per wallet at once, each bounded by redsync to
// 5% of the TTL; hundreds at once can outwait that bound on a loaded
// machine (-race, parallel tests) and fail with a deadline error.
func mustTryAcquireChunked(t *testing.T, l *redislock.Locker, ids []string) map[string]wallet.Lock {
	t.Helper()
	held := map[string]wallet.Lock{}
	for chunk := range slices.Chunk(ids, 20) {
		maps.Copy(held, mustTryAcquire(t, l, chunk...))
	}
	return held
}
