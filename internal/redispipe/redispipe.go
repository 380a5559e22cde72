// Package redispipe pipelines the Redis commands that many goroutines
// send at the same moment: they share one round trip instead of paying one
// each. Round trips, not Redis, are the cost of Redis (DESIGN.md: about
// 48,000 unpipelined commands/s against 780,000 pipelined), and the API
// sends a few small commands per request (a session read, an idempotency
// claim, the wallet locks).
//
// There is no waiting to fill a pipeline: one pipeline is in flight at a
// time, and the commands that arrive meanwhile form the next one, so
// pipelines grow with the load and a lone command goes straight through.
package redispipe

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Max bounds the commands of one pipeline.
const Max = 256

// timeout bounds one pipeline's round trip when its commands carry no
// later deadline.
const timeout = 2 * time.Second

// Pipe sends commands through one pipeline loop on a go-redis client.
type Pipe struct {
	reqs chan *request
}

type request struct {
	ctx   context.Context
	queue func(redis.Pipeliner)
	done  chan struct{}
}

// New starts a Pipe on client. Its goroutine lives as long as the process.
func New(client redis.UniversalClient) *Pipe {
	p := &Pipe{reqs: make(chan *request, Max)}
	go p.run(client)
	return p
}

// Do queues the commands that queue adds to the pipeline it is given and
// returns once they were answered; read their results from the commands
// queue kept (their own errors included). A command whose context is
// done is not sent; one that was sent is always answered, since callers
// must learn what a command that changed something did.
func (p *Pipe) Do(ctx context.Context, queue func(redis.Pipeliner)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, queue: queue, done: make(chan struct{})}
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done // the pipeline has a deadline of its own
	return nil
}

func (p *Pipe) run(client redis.UniversalClient) {
	for r := range p.reqs {
		batch := []*request{r}
	fill:
		for len(batch) < Max {
			select {
			case r := <-p.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		deadline := time.Now().Add(timeout)
		for _, r := range batch {
			if d, ok := r.ctx.Deadline(); ok && d.After(deadline) {
				deadline = d
			}
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		pipe := client.Pipeline()
		for _, r := range batch {
			r.queue(pipe)
		}
		// Errors land on the commands themselves.
		_, _ = pipe.Exec(ctx)
		cancel()
		for _, r := range batch {
			close(r.done)
		}
	}
}
