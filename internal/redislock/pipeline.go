package redislock

import (
	"context"
	"errors"
	"time"

	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredislib "github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/redispipe"
)

// pipelinedPool is redsync's go-redis pool whose SetNX, the command that
// takes a lock, is pipelined (internal/redispipe): the tries that
// concurrent goroutines make at the same moment (an acceptor's round
// tries every wallet of a group at once) go to Redis as one round trip.
// Everything else redsync does (the value, the expiry and drift
// arithmetic, the release of a failed try) is unchanged.
type pipelinedPool struct {
	redsyncredis.Pool
	pipe *redispipe.Pipe
}

func newPipelinedPool(client goredislib.UniversalClient) *pipelinedPool {
	return &pipelinedPool{Pool: goredis.NewPool(client), pipe: redispipe.New(client)}
}

// Get implements redsync's Pool.
func (p *pipelinedPool) Get(ctx context.Context) (redsyncredis.Conn, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := p.Pool.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &pipelinedConn{Conn: c, pipe: p.pipe, ctx: ctx}, nil
}

type pipelinedConn struct {
	redsyncredis.Conn
	pipe *redispipe.Pipe
	ctx  context.Context
}

// SetNX implements redsync's Conn through the pipeline. A try whose
// context is already done is not sent; one that was sent reports what
// Redis answered, so that a lock taken late is released by redsync rather
// than left to expire.
func (c *pipelinedConn) SetNX(name, value string, expiry time.Duration) (bool, error) {
	var cmd *goredislib.BoolCmd
	if err := c.pipe.Do(c.ctx, func(p goredislib.Pipeliner) { cmd = p.SetNX(c.ctx, name, value, expiry) }); err != nil {
		return false, err
	}
	return cmd.Result()
}

// Eval implements redsync's Conn through the pipeline too: redsync
// releases a failed try's lock with its delete script, which on a hot
// wallet is every try but one.
func (c *pipelinedConn) Eval(script *redsyncredis.Script, keysAndArgs ...any) (any, error) {
	keys := make([]string, script.KeyCount)
	for i := range keys {
		keys[i] = keysAndArgs[i].(string)
	}
	var cmd *goredislib.Cmd
	if err := c.pipe.Do(c.ctx, func(p goredislib.Pipeliner) { cmd = p.Eval(c.ctx, script.Src, keys, keysAndArgs[script.KeyCount:]...) }); err != nil {
		return nil, err
	}
	v, err := cmd.Result()
	if errors.Is(err, goredislib.Nil) {
		return nil, nil
	}
	return v, err
}
