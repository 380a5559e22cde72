package redisstore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/redisstore"
	"github.com/walletd/wallet/internal/wallet"
)

// setup returns a Store whose keys and channels start with a prefix no
// other test uses, and the client and prefix under it.
func setup(t *testing.T) (*redisstore.Store, *redis.Client, string) {
	t.Helper()
	rdb, prefix := pgtest.NewRedis(t)
	return redisstore.New(rdb, prefix), rdb, prefix
}

// keys lists the Redis keys under prefix.
func keys(t *testing.T, rdb *redis.Client, prefix string) []string {
	t.Helper()
	ks, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatalf("KEYS %s*: %v", prefix, err)
	}
	return ks
}

func TestSession(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := setup(t)
	ctx := context.Background()

	token, sess, err := s.CreateSession(ctx, "user-1", time.Hour, "")
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if token == "" || sess.CSRF == "" || sess.UserID != "user-1" {
		t.Fatalf("CreateSession = %q, %+v; want a token, a CSRF token and user-1", token, sess)
	}
	if token == sess.CSRF {
		t.Errorf("session token and CSRF token are the same: %q", token)
	}
	got, err := s.Session(ctx, token)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if got != sess {
		t.Errorf("Session = %+v, want %+v", got, sess)
	}

	// A second session of the same user is a different one.
	token2, sess2, err := s.CreateSession(ctx, "user-1", time.Hour, "")
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if token2 == token || sess2.CSRF == sess.CSRF {
		t.Errorf("two sessions share a token or CSRF token: %q/%q, %q/%q", token, token2, sess.CSRF, sess2.CSRF)
	}

	// Redis holds neither the raw token nor anything that contains it.
	ks := keys(t, rdb, prefix)
	if len(ks) != 2 {
		t.Errorf("want 2 session keys, got %v", ks)
	}
	for _, k := range ks {
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		for _, tok := range []string{token, token2} {
			if strings.Contains(k, tok) || strings.Contains(v, tok) {
				t.Errorf("Redis key %q = %q contains a raw session token", k, v)
			}
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("session key %s has TTL %v, want within (0, 1h]", k, ttl)
		}
	}

	if err := s.DeleteSession(ctx, token); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := s.Session(ctx, token); wallet.ErrorCode(err) != wallet.EUnauthorized {
		t.Errorf("Session after DeleteSession: %v, want %s", err, wallet.EUnauthorized)
	}
	// Deleting one session leaves the other.
	if got, err := s.Session(ctx, token2); err != nil || got != sess2 {
		t.Errorf("other session after DeleteSession: %+v, %v; want %+v", got, err, sess2)
	}
	// Deleting twice, or an unknown token, is not an error.
	if err := s.DeleteSession(ctx, token); err != nil {
		t.Errorf("DeleteSession of a deleted session: %v", err)
	}
}

// Ending a session ends the tokens minted from it, and theirs in turn;
// ending a minted token leaves its parent and siblings.
func TestDeleteSessionEndsMintedTokens(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := setup(t)
	ctx := context.Background()
	create := func(parent string, ttl time.Duration) string {
		t.Helper()
		tok, _, err := s.CreateSession(ctx, "user-1", ttl, parent)
		if err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		return tok
	}
	alive := func(tok string) bool {
		_, err := s.Session(ctx, tok)
		return err == nil
	}
	root := create("", time.Hour)
	child1, child2 := create(root, time.Hour), create(root, 2*time.Hour)
	grandchild := create(child1, time.Hour)
	other := create("", time.Hour)

	if err := s.DeleteSession(ctx, child2); err != nil {
		t.Fatal(err)
	}
	if alive(child2) || !alive(root) || !alive(child1) || !alive(grandchild) {
		t.Fatalf("ending a minted token ended others: root %v child1 %v grandchild %v", alive(root), alive(child1), alive(grandchild))
	}
	if err := s.DeleteSession(ctx, root); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"root": root, "child": child1, "grandchild": grandchild} {
		if alive(tok) {
			t.Errorf("%s is still a session after its root was ended", name)
		}
	}
	if !alive(other) {
		t.Error("an unrelated session was ended")
	}
	// Nothing is left of the ended family but the unrelated session.
	if ks := keys(t, rdb, prefix); len(ks) != 1 {
		t.Errorf("keys left: %v, want the unrelated session only", ks)
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := context.Background()
	token, _, err := s.CreateSession(ctx, "user-1", 150*time.Millisecond, "")
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if _, err := s.Session(ctx, token); err != nil {
		t.Fatalf("Session before the TTL: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if sess, err := s.Session(ctx, token); wallet.ErrorCode(err) != wallet.EUnauthorized {
		t.Errorf("Session after the TTL: %+v, %v; want %s", sess, err, wallet.EUnauthorized)
	}
}

func TestSessionUnknownToken(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := context.Background()
	token, _, err := s.CreateSession(ctx, "user-1", time.Hour, "")
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"unknown", "no-such-token"},
		{"unknown of the real length", strings.Repeat("A", len(token))},
		{"real token with a suffix", token + "x"},
		{"real token truncated", token[:len(token)-1]},
		{"real token upper-cased", strings.ToUpper(token)},
		{"128 characters", strings.Repeat("a", 128)},
		{"overlong", strings.Repeat("a", 129)},
		{"overlong with the real token", token + strings.Repeat(" ", 200)},
	}
	for _, tt := range tests {
		sess, err := s.Session(ctx, tt.token)
		if code := wallet.ErrorCode(err); code != wallet.EUnauthorized {
			t.Errorf("%s: Session = %+v, %v; want %s", tt.name, sess, err, wallet.EUnauthorized)
		}
		if sess != (wallet.Session{}) {
			t.Errorf("%s: Session returned %+v with its error", tt.name, sess)
		}
	}
}

func TestAttempts(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := setup(t)
	ctx := context.Background()

	count := func(key string) int64 {
		t.Helper()
		n, _, err := s.Attempts(ctx, key)
		if err != nil {
			t.Fatalf("Failures(%s): %v", key, err)
		}
		return n
	}
	fail := func(key string, window time.Duration) {
		t.Helper()
		if err := s.CountAttempt(ctx, key, window); err != nil {
			t.Fatalf("CountFailure(%s): %v", key, err)
		}
	}

	if n := count("alice"); n != 0 {
		t.Errorf("Failures of a new key = %d, want 0", n)
	}
	for i := 1; i <= 3; i++ {
		fail("alice", time.Minute)
		if n := count("alice"); n != int64(i) {
			t.Errorf("after %d failures Failures = %d", i, n)
		}
	}
	if n := count("bob"); n != 0 {
		t.Errorf("Failures of another key = %d, want 0", n)
	}

	// The window runs from the first failure: later failures, even with
	// a longer window, do not extend it.
	fail("carol", 10*time.Second)
	fail("carol", time.Hour)
	for _, k := range keys(t, rdb, prefix) {
		if !strings.Contains(k, "carol") {
			continue
		}
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 10*time.Second {
			t.Errorf("failure count %s has TTL %v, want the first window's, at most 10s", k, ttl)
		}
	}

	// Attempts says how long the window still lasts, for Retry-After.
	if _, left, err := s.Attempts(ctx, "carol"); err != nil || left <= 9*time.Second || left > 10*time.Second {
		t.Errorf("Attempts of carol: %v left, %v; want the rest of the 10s window", left, err)
	}
	if _, left, err := s.Attempts(ctx, "nobody"); err != nil || left != 0 {
		t.Errorf("Attempts of an unknown key: %v left, %v; want 0", left, err)
	}

	if err := s.ResetAttempts(ctx, "alice"); err != nil {
		t.Fatalf("ResetFailures: %v", err)
	}
	if n := count("alice"); n != 0 {
		t.Errorf("Failures after ResetFailures = %d, want 0", n)
	}
	if n := count("carol"); n != 2 {
		t.Errorf("ResetFailures of alice changed carol's count to %d, want 2", n)
	}
	if err := s.ResetAttempts(ctx, "nobody"); err != nil {
		t.Errorf("ResetFailures of an unknown key: %v", err)
	}
}

func TestAttemptsLapse(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := context.Background()
	// One second: CountFailure's EXPIRE has whole seconds only.
	for range 3 {
		if err := s.CountAttempt(ctx, "dave", time.Second); err != nil {
			t.Fatalf("CountFailure: %v", err)
		}
	}
	if n, _, err := s.Attempts(ctx, "dave"); err != nil || n != 3 {
		t.Fatalf("Failures = %d, %v; want 3", n, err)
	}
	time.Sleep(1200 * time.Millisecond)
	if n, _, err := s.Attempts(ctx, "dave"); err != nil || n != 0 {
		t.Errorf("Failures after the window = %d, %v; want 0", n, err)
	}
	// A new failure starts a new window from 1.
	if err := s.CountAttempt(ctx, "dave", time.Minute); err != nil {
		t.Fatalf("CountFailure: %v", err)
	}
	if n, _, err := s.Attempts(ctx, "dave"); err != nil || n != 1 {
		t.Errorf("Failures in a new window = %d, %v; want 1", n, err)
	}
}

func TestClaim(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := context.Background()
	claim := func(key string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.Claim(ctx, key, ttl)
		if err != nil {
			t.Fatalf("Claim(%s): %v", key, err)
		}
		return ok
	}

	if !claim("k1", time.Minute) {
		t.Fatal("first Claim of k1 failed")
	}
	if claim("k1", time.Minute) {
		t.Error("second Claim of k1 succeeded while the first holds it")
	}
	if !claim("k2", time.Minute) {
		t.Error("Claim of k2 failed while only k1 is held")
	}
	s.Unclaim("k1")
	if !claim("k1", time.Minute) {
		t.Error("Claim of k1 after Unclaim failed")
	}
	s.Unclaim("never-claimed") // must not panic or disturb others
	if claim("k2", time.Minute) {
		t.Error("Claim of k2 succeeded after an unrelated Unclaim")
	}

	// A claim lapses after its TTL.
	if !claim("k3", 100*time.Millisecond) {
		t.Fatal("first Claim of k3 failed")
	}
	time.Sleep(250 * time.Millisecond)
	if !claim("k3", time.Minute) {
		t.Error("Claim of k3 failed after the first claim's TTL")
	}
}

// Claims of two stores with different prefixes never collide.
func TestClaimPrefixes(t *testing.T) {
	t.Parallel()
	a, rdb, prefix := setup(t)
	b := redisstore.New(rdb, prefix+"other")
	ctx := context.Background()
	for _, s := range []*redisstore.Store{a, b} {
		if ok, err := s.Claim(ctx, "k", time.Minute); err != nil || !ok {
			t.Errorf("Claim(k) = %v, %v; want true", ok, err)
		}
	}
}

// results starts a Results on s and waits until its subscription is live:
// it watches a probe id and publishes it until the watcher wakes. It
// returns the Results and the channel that closes when Run returns.
func results(t *testing.T, s *redisstore.Store) (*redisstore.Results, context.CancelFunc, <-chan struct{}) {
	t.Helper()
	r := s.NewResults(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	probe, stop := r.Watch("probe")
	defer stop()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.PublishResults(context.Background(), "probe"); err != nil {
			t.Fatalf("PublishResults: %v", err)
		}
		select {
		case <-probe:
			return r, cancel, done
		case <-deadline:
			t.Fatal("Results did not receive a published result within 5s")
		case <-tick.C:
		}
	}
}

// barrier publishes a fresh id and waits for it. Results are delivered in
// the order they were published, so once it returns every earlier
// announcement has been handed out.
func barrier(t *testing.T, s *redisstore.Store, r *redisstore.Results, id string) {
	t.Helper()
	c, stop := r.Watch(id)
	defer stop()
	if err := s.PublishResults(context.Background(), id); err != nil {
		t.Fatalf("PublishResults(%s): %v", id, err)
	}
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("result %s not delivered within 5s", id)
	}
}

func woken(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestResults(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	r, _, _ := results(t, s)
	ctx := context.Background()

	a1, stopA1 := r.Watch("op-a")
	defer stopA1()
	a2, stopA2 := r.Watch("op-a")
	defer stopA2()
	b, stopB := r.Watch("op-b")
	defer stopB()
	gone, stopGone := r.Watch("op-a")
	stopGone()

	if err := s.PublishResults(ctx, "op-a"); err != nil {
		t.Fatalf("PublishResults: %v", err)
	}
	barrier(t, s, r, "barrier-1")

	if !woken(a1) || !woken(a2) {
		t.Error("a watcher of op-a was not woken by op-a's result")
	}
	if woken(b) {
		t.Error("the watcher of op-b was woken by op-a's result")
	}
	if woken(gone) {
		t.Error("a stopped watcher of op-a was woken")
	}

	// Two announcements before the watcher reads wake it once; nothing
	// blocks the fan-out.
	for range 2 {
		if err := s.PublishResults(ctx, "op-b"); err != nil {
			t.Fatalf("PublishResults: %v", err)
		}
	}
	barrier(t, s, r, "barrier-2")
	if !woken(b) {
		t.Error("the watcher of op-b was not woken by op-b's result")
	}
	if woken(b) {
		t.Error("the watcher of op-b was woken twice")
	}
	if woken(a1) {
		t.Error("op-b's result woke a watcher of op-a")
	}
}

// Another deployment (prefix) shares the Redis server but not results.
func TestResultsPrefixes(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := setup(t)
	other := redisstore.New(rdb, prefix+"other")
	r, _, _ := results(t, s)
	c, stop := r.Watch("op-1")
	defer stop()
	if err := other.PublishResults(context.Background(), "op-1"); err != nil {
		t.Fatalf("PublishResults: %v", err)
	}
	barrier(t, s, r, "barrier")
	if woken(c) {
		t.Error("a result published under another prefix woke the watcher")
	}
}

func TestResultsRunStops(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	_, cancel, done := results(t, s)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context being cancelled")
	}
}
