package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The in-app feed and live updates (../shared/API-EVENTS.md).

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Event string
	Data      map[string]any
}

// stream is an open GET /api/events.
type stream struct {
	events chan sseEvent
	cancel func()
	resp   *http.Response
}

// openStream connects to base's /api/events as u, resuming after
// lastID when set.
func openStream(t *testing.T, base string, u user, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	req.SetBasicAuth(u.Email, u.Password)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	s := &stream{events: make(chan sseEvent, 100), cancel: cancel, resp: resp}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.ID != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data)
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next waits up to d for the next event.
func (s *stream) next(t *testing.T, d time.Duration) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		return ev, ok
	case <-time.After(d):
		return sseEvent{}, false
	}
}

func opOf(ev sseEvent) string {
	d, _ := ev.Data["data"].(map[string]any)
	s, _ := d["operation_id"].(string)
	return s
}

// TestEventStream: live updates reach the party on whichever API process
// holds its stream, in order; a reconnect with Last-Event-ID gets exactly
// what it missed; an unknown Last-Event-ID starts from now.
func TestEventStream(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 1, APIs: 2})
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "100.00")
	pay := func(amount string) string {
		r := e.Client(Basic(alice.Email, alice.Password)).Must(t, "POST", "/api/wallet_to_wallet",
			map[string]any{"wallet_id": bob.WalletID, "amount": amount}, H{"Prefer": "wait=10"})
		Expect(t, r, http.StatusOK)
		return r.Str("operation_id")
	}

	// Bob's stream on the second API; the transfer goes through the first.
	s := openStream(t, e.BaseURLs[1], bob, "")
	op := pay("1.00")
	ev, ok := s.next(t, 10*time.Second)
	if !ok || ev.Event != "operation.completed" || opOf(ev) != op || ev.Data["notification_id"] != ev.ID {
		t.Fatalf("live event: %+v %v", ev, ok)
	}
	if d := ev.Data["data"].(map[string]any); d["balance_after"] != "1.00" {
		t.Errorf("bob's view: balance_after %v, want 1.00", d["balance_after"])
	}
	s.close()

	// Missed while away: three transfers; the reconnect gets them, in
	// order, once.
	var missed []string
	for _, a := range []string{"2.00", "3.00", "4.00"} {
		missed = append(missed, pay(a))
	}
	s = openStream(t, e.BaseURLs[0], bob, ev.ID)
	for i, want := range missed {
		ev, ok := s.next(t, 10*time.Second)
		if !ok || opOf(ev) != want {
			t.Fatalf("resumed event %d: %+v, want operation %s", i, ev, want)
		}
	}
	if ev, ok := s.next(t, 3*time.Second); ok {
		t.Errorf("a duplicate or stray event after the resume: %+v", ev)
	}
	s.close()

	// An unknown Last-Event-ID: from now on only.
	s = openStream(t, e.BaseURLs[1], bob, "01a23119-0000-7000-8000-00000000beef")
	if ev, ok := s.next(t, 3*time.Second); ok {
		t.Errorf("an old event for an unknown Last-Event-ID: %+v", ev)
	}
	op = pay("5.00")
	if ev, ok := s.next(t, 10*time.Second); !ok || opOf(ev) != op {
		t.Errorf("new event after an unknown Last-Event-ID: %+v", ev)
	}

	// Alice's own stream sees her side (and not bob's events).
	sa := openStream(t, e.BaseURLs[0], alice, "")
	op = pay("6.00")
	ev, ok = sa.next(t, 10*time.Second)
	if d, _ := ev.Data["data"].(map[string]any); !ok || opOf(ev) != op || d["balance_after"] != "79.00" {
		t.Errorf("alice's live event: %+v", ev)
	}

	// Anonymous callers get no stream.
	ExpectError(t, e.Client(nil).Must(t, "GET", "/api/events", nil, nil), 401, "unauthorized")
}

// TestNotificationFeed: the feed, its unread count and paging, marking
// read, and the refusals.
func TestNotificationFeed(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	e.deposit(t, alice.WalletID, "10.00")
	ac, bc := e.Client(Basic(alice.Email, alice.Password)), e.Client(Basic(bob.Email, bob.Password))
	var ops []string
	for _, amount := range []string{"1.00", "2.00", "3.00"} {
		r := ac.Must(t, "POST", "/api/wallet_to_wallet", map[string]any{"wallet_id": bob.WalletID, "amount": amount}, H{"Prefer": "wait=10"})
		Expect(t, r, 200)
		ops = append(ops, r.Str("operation_id"))
	}

	r := ac.Must(t, "GET", "/api/notifications?limit=2", nil, nil)
	Expect(t, r, 200)
	list, _ := r.Body["notifications"].([]any)
	if len(list) != 2 || r.Body["unread_count"].(json.Number).String() != "4" || r.Str("next_cursor") == "" {
		t.Fatalf("first page: %s", r)
	}
	first := list[0].(map[string]any)
	if first["type"] != "operation.completed" || first["read"] != false || first["event_id"] != first["notification_id"] ||
		first["data"].(map[string]any)["operation_id"] != ops[2] {
		t.Errorf("newest notification: %v", first)
	}
	r = ac.Must(t, "GET", "/api/notifications?limit=2&cursor="+r.Str("next_cursor"), nil, nil)
	list, _ = r.Body["notifications"].([]any)
	if len(list) != 2 || r.Body["next_cursor"] != nil || list[1].(map[string]any)["data"].(map[string]any)["type"] != "external_to_wallet" {
		t.Errorf("second page: %s", r)
	}

	// Bob's ids in alice's request change nothing of his.
	rb := bc.Must(t, "GET", "/api/notifications", nil, nil)
	bobIDs := []any{}
	for _, n := range rb.Body["notifications"].([]any) {
		bobIDs = append(bobIDs, n.(map[string]any)["notification_id"])
	}
	if len(bobIDs) != 3 {
		t.Fatalf("bob's feed: %s", rb)
	}
	Expect(t, ac.Must(t, "POST", "/api/notifications/read", map[string]any{"ids": append(bobIDs, first["notification_id"])}, nil), 204)
	if r := bc.Must(t, "GET", "/api/notifications?unread=true", nil, nil); r.Body["unread_count"].(json.Number).String() != "3" {
		t.Errorf("bob's unread after alice marked his ids: %s", r)
	}
	r = ac.Must(t, "GET", "/api/notifications?unread=true", nil, nil)
	if list, _ := r.Body["notifications"].([]any); len(list) != 3 || r.Body["unread_count"].(json.Number).String() != "3" {
		t.Errorf("alice's unread after marking one: %s", r)
	}
	Expect(t, ac.Must(t, "POST", "/api/notifications/read", map[string]any{"all": true}, nil), 204)
	if r := ac.Must(t, "GET", "/api/notifications?unread=true", nil, nil); r.Body["unread_count"].(json.Number).String() != "0" {
		t.Errorf("after all read: %s", r)
	}

	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/api/notifications?cursor=bogus", nil, 400, "invalid_cursor"},
		{"GET", "/api/notifications?limit=0", nil, 400, "invalid_limit"},
		{"GET", "/api/notifications?limit=101", nil, 400, "invalid_limit"},
		{"GET", "/api/notifications?unread=maybe", nil, 400, "invalid_request"},
		{"POST", "/api/notifications/read", map[string]any{}, 400, "invalid_request"},
		{"POST", "/api/notifications/read", map[string]any{"ids": []string{}, "all": false}, 400, "invalid_request"},
		{"POST", "/api/notifications/read", map[string]any{"ids": []string{"x"}, "all": true}, 400, "invalid_request"},
		{"POST", "/api/notifications/read", map[string]any{"ids": "x"}, 400, "invalid_request"},
	} {
		ExpectError(t, ac.Must(t, c.method, c.path, c.body, nil), c.status, c.code)
	}
	ExpectError(t, e.Client(nil).Must(t, "GET", "/api/notifications", nil, nil), 401, "unauthorized")
}

// TestEventStreamsPerAccount: an account keeps at most eight live-update
// streams open on an API process; a ninth ends the oldest (a page left
// behind), the others stay open, and another account's are untouched.
func TestEventStreamsPerAccount(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	bobs := openStream(t, e.BaseURL, bob, "")
	t.Cleanup(bobs.cancel)
	var open []*stream
	for range 9 {
		s := openStream(t, e.BaseURL, alice, "")
		t.Cleanup(s.cancel)
		open = append(open, s)
	}
	ended := func(s *stream) bool {
		select {
		case _, ok := <-s.events:
			return !ok
		case <-time.After(5 * time.Second):
			return false
		}
	}
	if !ended(open[0]) {
		t.Error("the oldest of nine streams is still open")
	}
	// The rest still get Alice's events, and Bob's stream his.
	e.deposit(t, alice.WalletID, "1.00")
	e.deposit(t, bob.WalletID, "1.00")
	for i, s := range append(open[1:], bobs) {
		select {
		case ev, ok := <-s.events:
			if !ok || ev.Event != "operation.completed" {
				t.Errorf("stream %d: %+v open=%v", i+1, ev, ok)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("stream %d got no event", i+1)
		}
	}
}
