package httpapi

import (
	"sync"

	"github.com/walletd/wallet/internal/wallet"
)

// maxStreams is how many live-update streams (GET /api/events) one
// account may hold open on one API process: a few tabs and devices, not
// a loop of reconnections that each keep a goroutine, a connection and a
// Postgres follow.
const maxStreams = 8

// streamCounts counts each account's open streams on this process.
type streamCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire takes one of the account's streams, or refuses with
// ETooManyRequests when it holds maxStreams already. release gives it
// back, once.
func (s *streamCounts) acquire(userID string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	if s.n[userID] >= maxStreams {
		return nil, wallet.Errorf(wallet.ETooManyRequests, "at most %d live-update streams per account are open at once; close one", maxStreams)
	}
	s.n[userID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.n[userID]--; s.n[userID] <= 0 {
				delete(s.n, userID)
			}
		})
	}, nil
}
