package pgtest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Claims is an in-memory ledger.Claims: a key is claimed until it is
// unclaimed (claims never lapse). Fail, when set, makes Unclaim fail
// after ending nothing, as a Redis that is down would.
type Claims struct {
	mu     sync.Mutex
	claims map[string]bool
	Fail   error
}

// Claim implements ledger.Claims.
func (c *Claims) Claim(_ context.Context, key string, _ time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claims == nil {
		c.claims = map[string]bool{}
	}
	if c.claims[key] {
		return false, nil
	}
	c.claims[key] = true
	return true, nil
}

// Unclaim implements ledger.Claims.
func (c *Claims) Unclaim(keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Fail != nil {
		return c.Fail
	}
	for _, k := range keys {
		delete(c.claims, k)
	}
	return nil
}

// Held returns how many claims are held.
func (c *Claims) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.claims)
}

// IsHeld reports whether key is claimed.
func (c *Claims) IsHeld(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims[key]
}

// Publisher is an in-memory ledger.Publisher that records what was
// announced.
type Publisher struct {
	mu  sync.Mutex
	ids []string
}

// PublishResults implements ledger.Publisher.
func (p *Publisher) PublishResults(_ context.Context, opIDs ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, opIDs...)
	return nil
}

// IDs returns the operation ids announced so far, in order (not the
// wallets' and users' wake-up keys announced with them).
func (p *Publisher) IDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, k := range p.ids {
		if !strings.HasPrefix(k, "w:") && !strings.HasPrefix(k, "u:") {
			ids = append(ids, k)
		}
	}
	return ids
}

// Keys returns everything announced so far, wake-up keys included.
func (p *Publisher) Keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ids)
}

// Together runs fn(0) ... fn(n-1) in n goroutines released at the same
// moment, and waits for all of them: the races of the tests.
func Together(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}
