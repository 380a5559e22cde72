package httpapi

import (
	"sync"
)

// maxStreams is how many live-update streams (GET /api/events) one
// account keeps open on one API process: a few tabs and devices. A new
// stream past it ends the account's oldest, so that a loop of
// reconnections (or pages left behind, whose close the server learns of
// only at its next write) cannot pile up goroutines, connections and
// Postgres follows, and the newest page always gets its updates.
const maxStreams = 8

// streams are each account's open streams on this process, oldest first.
type streams struct {
	mu   sync.Mutex
	open map[string][]*openStream
}

type openStream struct{ end func() }

// add registers a stream that end stops, ending the account's oldest
// when it has maxStreams already; done unregisters it.
func (s *streams) add(userID string, end func()) (done func()) {
	st := &openStream{end: end}
	s.mu.Lock()
	if s.open == nil {
		s.open = map[string][]*openStream{}
	}
	list := append(s.open[userID], st)
	var evicted []*openStream
	if len(list) > maxStreams {
		evicted, list = list[:len(list)-maxStreams], list[len(list)-maxStreams:]
	}
	s.open[userID] = list
	s.mu.Unlock()
	for _, old := range evicted {
		old.end()
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := s.open[userID]
		for i, x := range list {
			if x == st {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(s.open, userID)
		} else {
			s.open[userID] = list
		}
	}
}
