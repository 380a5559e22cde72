package httpapi

import "testing"

func TestStreamsEndTheOldest(t *testing.T) {
	var s streams
	ended := map[int]bool{}
	var dones []func()
	for i := range maxStreams + 2 {
		dones = append(dones, s.add("alice", func() { ended[i] = true }))
	}
	if !ended[0] || !ended[1] || len(ended) != 2 {
		t.Errorf("ended %v, want the two oldest", ended)
	}
	s.add("bob", func() { t.Error("another account's stream was ended") })
	// The oldest ended streams return and unregister; a closed stream
	// frees its place.
	dones[0]()
	dones[1]()
	dones[2]()
	s.add("alice", func() {})
	if len(ended) != 2 {
		t.Errorf("a place freed by a closed stream still ended one: %v", ended)
	}
	if got := len(s.open["alice"]); got != maxStreams {
		t.Errorf("%d streams of alice registered, want %d", got, maxStreams)
	}
	for _, d := range dones[3:] {
		d()
	}
	dones[2]() // twice: nothing more
	if got := len(s.open["alice"]); got != 1 {
		t.Errorf("%d streams left, want the last one", got)
	}
}
