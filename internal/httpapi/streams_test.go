package httpapi

import (
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

func TestStreamCounts(t *testing.T) {
	var s streamCounts
	var releases []func()
	for range maxStreams {
		r, err := s.acquire("alice")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if _, err := s.acquire("alice"); wallet.ErrorCode(err) != wallet.ETooManyRequests {
		t.Errorf("stream %d: %v, want too_many_requests", maxStreams+1, err)
	}
	if r, err := s.acquire("bob"); err != nil {
		t.Errorf("another account refused: %v", err)
	} else {
		r()
	}
	releases[0]()
	releases[0]() // a second release gives back nothing more
	r, err := s.acquire("alice")
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	if _, err := s.acquire("alice"); err == nil {
		t.Error("a double release gave back two streams")
	}
	r()
	for _, r := range releases[1:] {
		r()
	}
	if len(s.n) != 0 {
		t.Errorf("counts left after every release: %v", s.n)
	}
}
