package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/wallet"
)

// The revocations of access tokens, copied from Postgres (which keeps
// them) so that a request checks its token with one read: "revoked:jti:"
// for one token, "revoked:sid:" for every token of a family, each living
// until the last token it stops has expired.

func (s *Store) revokedKey(kind, id string) string { return s.prefix + "revoked:" + kind + ":" + id }

// Revoked reports whether the token jti, or its family, is revoked: one
// EXISTS, through the pipeline the session reads share.
func (s *Store) Revoked(ctx context.Context, jti, familyID string) (bool, error) {
	keys := []string{s.revokedKey("jti", jti)}
	if familyID != "" {
		keys = append(keys, s.revokedKey("sid", familyID))
	}
	var cmd *redis.IntCmd
	err := s.pipe.Do(ctx, func(p redis.Pipeliner) { cmd = p.Exists(ctx, keys...) })
	var n int64
	if err == nil {
		n, err = cmd.Result()
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: read revocations: %w", err)
	}
	return n > 0, nil
}

// PutRevocations stores revocations until they expire (those already
// expired at now are skipped).
func (s *Store) PutRevocations(ctx context.Context, now time.Time, rs ...wallet.Revocation) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range rs {
			ttl := r.ExpiresAt.Sub(now)
			if ttl <= 0 {
				continue
			}
			key := s.revokedKey("jti", r.JTI)
			if r.FamilyID != "" {
				key = s.revokedKey("sid", r.FamilyID)
			}
			p.Set(ctx, key, "1", ttl+time.Second)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: store revocations: %w", err)
	}
	return nil
}
