package redispipe_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/redispipe"
)

// pipelineCounter counts pipelines, and holds the first one until
// release is closed.
type pipelineCounter struct {
	n       atomic.Int64
	first   chan struct{}
	release chan struct{}
}

func (*pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (c *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if c.n.Add(1) == 1 && c.release != nil {
			close(c.first)
			<-c.release
		}
		return next(ctx, cmds)
	}
}

// Every caller gets its own command's answer, and callers that come while
// a pipeline is in flight share the next one.
func TestConcurrentCommandsShareAPipeline(t *testing.T) {
	t.Parallel()
	rdb, prefix := pgtest.NewRedis(t)
	counter := &pipelineCounter{first: make(chan struct{}), release: make(chan struct{})}
	rdb.AddHook(counter)
	p := redispipe.New(rdb)
	ctx := context.Background()

	const n = 50
	for i := range n {
		if err := rdb.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), fmt.Sprint("v", i), time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	get := func(i int) (string, error) {
		var cmd *redis.StringCmd
		if err := p.Do(ctx, func(pl redis.Pipeliner) { cmd = pl.Get(ctx, fmt.Sprintf("%sk%d", prefix, i)) }); err != nil {
			return "", err
		}
		return cmd.Result()
	}

	// The first command's pipeline is held in flight...
	firstDone := make(chan error, 1)
	go func() {
		v, err := get(0)
		if err == nil && v != "v0" {
			err = fmt.Errorf("got %q, want v0", v)
		}
		firstDone <- err
	}()
	<-counter.first
	// ...while the others queue behind it.
	var wg sync.WaitGroup
	errs := make([]error, n)
	var started atomic.Int64
	for i := 1; i < n; i++ {
		wg.Go(func() {
			started.Add(1)
			v, err := get(i)
			if err == nil && v != fmt.Sprint("v", i) {
				err = fmt.Errorf("k%d: got %q, want v%d", i, v, i)
			}
			errs[i] = err
		})
	}
	for started.Load() < n-1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let them reach the queue
	close(counter.release)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := counter.n.Load(); got > 3 {
		t.Errorf("%d commands sent while one pipeline was in flight took %d pipelines, want them to share", n-1, got-1)
	}
}

// A command's own error and a missing key reach its caller only.
func TestResultsStayWithTheirCommands(t *testing.T) {
	t.Parallel()
	rdb, prefix := pgtest.NewRedis(t)
	p := redispipe.New(rdb)
	ctx := context.Background()
	if err := rdb.Set(ctx, prefix+"text", "abc", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	var missing *redis.StringCmd
	var wrongType *redis.IntCmd
	var claimed, again *redis.BoolCmd
	var wg sync.WaitGroup
	for _, f := range []func(redis.Pipeliner){
		func(pl redis.Pipeliner) { missing = pl.Get(ctx, prefix+"nothing") },
		func(pl redis.Pipeliner) { wrongType = pl.Incr(ctx, prefix+"text") },
		func(pl redis.Pipeliner) { claimed = pl.SetNX(ctx, prefix+"claim", "1", time.Minute) },
	} {
		wg.Go(func() {
			if err := p.Do(ctx, f); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := p.Do(ctx, func(pl redis.Pipeliner) { again = pl.SetNX(ctx, prefix+"claim", "2", time.Minute) }); err != nil {
		t.Fatal(err)
	}
	if _, err := missing.Result(); err != redis.Nil {
		t.Errorf("GET of a missing key: %v, want redis.Nil", err)
	}
	if _, err := wrongType.Result(); err == nil {
		t.Error("INCR of a text value succeeded")
	}
	if ok, err := claimed.Result(); err != nil || !ok {
		t.Errorf("first SETNX = %v, %v; want true", ok, err)
	}
	if ok, err := again.Result(); err != nil || ok {
		t.Errorf("second SETNX = %v, %v; want false", ok, err)
	}
}

// A command whose context is done is not sent.
func TestDoneContextSendsNothing(t *testing.T) {
	t.Parallel()
	rdb, prefix := pgtest.NewRedis(t)
	p := redispipe.New(rdb)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	queued := false
	err := p.Do(ctx, func(pl redis.Pipeliner) { queued = true; pl.Set(ctx, prefix+"k", "v", time.Minute) })
	if err != context.Canceled {
		t.Errorf("Do with a cancelled context: %v, want context.Canceled", err)
	}
	if queued {
		t.Error("the command of a cancelled Do was queued")
	}
	if n, err := rdb.Exists(context.Background(), prefix+"k").Result(); err != nil || n != 0 {
		t.Errorf("key exists=%d (err %v) after a cancelled Do", n, err)
	}
}
