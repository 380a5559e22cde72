package app

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/oauthjwt"
)

// devKeyID names the development signing key kept in Postgres.
const devKeyID = "dev-1"

// Authorizer builds the OAuth authorization server's use cases: the
// signing keys from OAUTH_SIGNING_KEYS or, when it is unset (never in
// production), the development key that the first process to start
// stored in Postgres, so that every API process agrees.
func (a *App) Authorizer(ctx context.Context) (*ledger.Authorizer, error) {
	var keys []oauthjwt.Key
	if a.Config.OAuthSigningKeys != "" {
		k, err := oauthjwt.ParseKeys(a.Config.OAuthSigningKeys)
		if err != nil {
			return nil, fmt.Errorf("app: OAUTH_SIGNING_KEYS: %w", err)
		}
		keys = k
	} else {
		seed := make([]byte, 32)
		_, _ = rand.Read(seed)
		stored, err := a.Store.SigningSeed(ctx, devKeyID, seed)
		if err != nil {
			return nil, fmt.Errorf("app: development signing key: %w", err)
		}
		k, err := oauthjwt.KeyFromSeed(devKeyID, stored)
		if err != nil {
			return nil, fmt.Errorf("app: development signing key: %w", err)
		}
		keys = []oauthjwt.Key{k}
	}
	tokens, err := oauthjwt.New(keys, a.Config.OAuthIssuer, a.Config.OAuthIssuer)
	if err != nil {
		return nil, err
	}
	return &ledger.Authorizer{
		Svc: a.Service, Store: a.Store, Tokens: tokens, Revocations: a.RedisStore,
		AccessTTL: a.Config.AccessTokenTTL, RefreshTTL: a.Config.RefreshTokenTTL,
	}, nil
}
