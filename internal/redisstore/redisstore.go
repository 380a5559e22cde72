// Package redisstore keeps the service's short-lived state in Redis:
// sessions and access tokens, login rate limits, idempotency claims, and
// the pub/sub channel that tells waiting clients an operation is final.
// Every key starts with a prefix and lives in REDIS_URL's database; channel
// names carry the per-deployment prefix, since pub/sub ignores databases.
package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/redispipe"
	"github.com/walletd/wallet/internal/wallet"
)

// Store wraps one go-redis client. The commands every API request sends
// (the session read, the idempotency claim) go through a pipeline that
// concurrent requests share.
type Store struct {
	rdb    redis.UniversalClient
	pipe   *redispipe.Pipe
	prefix string
}

// New returns a Store whose keys and channels start with prefix.
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, pipe: redispipe.New(rdb), prefix: prefix + ":"}
}

// Client exposes the Redis client for health checks.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionKey stores only a hash of the token, so a dump of Redis does not
// hand out live sessions.
func (s *Store) sessionKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return s.prefix + "session:" + hex.EncodeToString(sum[:])
}

// childrenKey holds the session keys of the tokens minted from a session
// (POST /api/tokens with it), so that ending it ends them too.
func childrenKey(sessionKey string) string { return sessionKey + ":children" }

// CreateSession starts a session for userID and returns its secret token.
// parent, when set, is the token of the session it was minted from:
// deleting the parent deletes this one too.
func (s *Store) CreateSession(ctx context.Context, userID string, ttl time.Duration, parent string) (string, wallet.Session, error) {
	token := randomToken()
	sess := wallet.Session{UserID: userID, CSRF: randomToken()}
	key := s.sessionKey(token)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, sess.UserID+" "+sess.CSRF, ttl)
		if parent != "" {
			// The set lives as long as its longest-lived child.
			children := childrenKey(s.sessionKey(parent))
			p.SAdd(ctx, children, key)
			p.ExpireGT(ctx, children, ttl)
			p.ExpireNX(ctx, children, ttl)
		}
		return nil
	})
	if err != nil {
		return "", wallet.Session{}, fmt.Errorf("redisstore: create session: %w", err)
	}
	return token, sess, nil
}

// Session returns the session of token, or EUnauthorized.
func (s *Store) Session(ctx context.Context, token string) (wallet.Session, error) {
	if token == "" || len(token) > 128 {
		return wallet.Session{}, wallet.Errorf(wallet.EUnauthorized, "session is missing or expired")
	}
	var cmd *redis.StringCmd
	err := s.pipe.Do(ctx, func(p redis.Pipeliner) { cmd = p.Get(ctx, s.sessionKey(token)) })
	var v string
	if err == nil {
		v, err = cmd.Result()
	}
	if errors.Is(err, redis.Nil) {
		return wallet.Session{}, wallet.Errorf(wallet.EUnauthorized, "session is missing or expired")
	}
	if err != nil {
		return wallet.Session{}, fmt.Errorf("redisstore: read session: %w", err)
	}
	userID, csrf, _ := strings.Cut(v, " ")
	return wallet.Session{UserID: userID, CSRF: csrf}, nil
}

// maxRevoke bounds how many sessions one DeleteSession ends (a session,
// the tokens minted from it, theirs, ...): a loop of tokens minting
// tokens cannot make a logout unbounded.
const maxRevoke = 10000

// DeleteSession ends a session on the server, and every token minted from
// it, and from those, in turn.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	queue := []string{s.sessionKey(token)}
	for n := 0; len(queue) > 0 && n < maxRevoke; n++ {
		key := queue[0]
		queue = queue[1:]
		children, err := s.rdb.SMembers(ctx, childrenKey(key)).Result()
		if err != nil {
			return fmt.Errorf("redisstore: delete session: %w", err)
		}
		if err := s.rdb.Del(ctx, key, childrenKey(key)).Err(); err != nil {
			return fmt.Errorf("redisstore: delete session: %w", err)
		}
		queue = append(queue, children...)
	}
	return nil
}

// Attempts returns how many attempts key has counted in its window, and
// how long the window still lasts.
func (s *Store) Attempts(ctx context.Context, key string) (int64, time.Duration, error) {
	k := s.prefix + "fail:" + key
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, ttl = p.Get(ctx, k), p.PTTL(ctx, k)
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, fmt.Errorf("redisstore: read attempts: %w", err)
	}
	n, err := get.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("redisstore: read attempts: %w", err)
	}
	return n, max(ttl.Val(), 0), nil
}

// CountAttempt counts one attempt for key; the count lapses window after
// the first attempt.
func (s *Store) CountAttempt(ctx context.Context, key string, window time.Duration) error {
	k := s.prefix + "fail:" + key
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// Starting the counter with SET NX PX fixes the window (to the
		// millisecond) at the first attempt; INCR keeps the expiry.
		p.SetNX(ctx, k, 0, window)
		p.Incr(ctx, k)
		return nil
	})
	return err
}

// ResetAttempts forgets key's attempts.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	return s.rdb.Del(ctx, s.prefix+"fail:"+key).Err()
}

// Claim marks key as in progress for at most ttl and reports whether this
// caller got it. It is an early answer for concurrent duplicates only:
// Postgres's unique key decides.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	var cmd *redis.BoolCmd
	if err := s.pipe.Do(ctx, func(p redis.Pipeliner) { cmd = p.SetNX(ctx, s.prefix+"claim:"+key, "1", ttl) }); err != nil {
		return false, err
	}
	return cmd.Result()
}

// Unclaim ends claims, all in one command, with a fresh context so a
// cancelled request does not leave them behind. It fails only when Redis
// does; a claim it cannot end lapses by itself.
func (s *Store) Unclaim(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = s.prefix + "claim:" + k
	}
	if err := s.rdb.Del(ctx, names...).Err(); err != nil {
		return fmt.Errorf("redisstore: unclaim %d keys: %w", len(keys), err)
	}
	return nil
}

// resultsChannel is where workers announce final operations.
func (s *Store) resultsChannel() string { return s.prefix + "results" }

// PublishResults announces that operations are final, in one round trip.
func (s *Store) PublishResults(ctx context.Context, opIDs ...string) error {
	if len(opIDs) == 0 {
		return nil
	}
	// One message for all of them: the keys, space-separated.
	return s.rdb.Publish(ctx, s.resultsChannel(), strings.Join(opIDs, " ")).Err()
}

// Results fans the results channel out to waiters in this process, over
// one subscription.
type Results struct {
	store *Store
	log   *slog.Logger
	mu    sync.Mutex
	subs  map[string]map[chan struct{}]struct{}
}

// NewResults returns a Results; call Run to start receiving.
func (s *Store) NewResults(log *slog.Logger) *Results {
	return &Results{store: s, log: log, subs: map[string]map[chan struct{}]struct{}{}}
}

// Run receives results until ctx ends; go-redis resubscribes after a
// dropped connection.
func (r *Results) Run(ctx context.Context) {
	ps := r.store.rdb.Subscribe(ctx, r.store.resultsChannel())
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			for _, key := range strings.Fields(m.Payload) {
				r.notify(key)
			}
		}
	}
}

func (r *Results) notify(opID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.subs[opID] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Watch returns a channel that receives when opID is announced final (or
// another key is announced: a wallet's or a user's wake-up), and a
// function to stop watching. Watch before reading the operation's
// row, so that no announcement falls between the read and the wait.
func (r *Results) Watch(opID string) (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	r.mu.Lock()
	if r.subs[opID] == nil {
		r.subs[opID] = map[chan struct{}]struct{}{}
	}
	r.subs[opID][c] = struct{}{}
	r.mu.Unlock()
	return c, func() {
		r.mu.Lock()
		delete(r.subs[opID], c)
		if len(r.subs[opID]) == 0 {
			delete(r.subs, opID)
		}
		r.mu.Unlock()
	}
}
