package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

// eClientNotFound is the code of an unknown client id.
const eClientNotFound = "oauth_client_not_found"

// CreateClient implements wallet.OAuthStore.
func (s *Store) CreateClient(ctx context.Context, c wallet.OAuthClient) (wallet.OAuthClient, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO oauth_clients (id, name, type, secret_hash, redirect_uris)
		VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
		c.ID, c.Name, string(c.Type), c.SecretHash, c.RedirectURIs).Scan(&c.CreatedAt)
	return c, translate(err)
}

const clientSelect = `SELECT id, name, type, secret_hash, redirect_uris, created_at FROM oauth_clients`

func scanClient(row pgx.Row) (wallet.OAuthClient, error) {
	var c wallet.OAuthClient
	var typ string
	err := row.Scan(&c.ID, &c.Name, &typ, &c.SecretHash, &c.RedirectURIs, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.OAuthClient{}, wallet.Errorf(eClientNotFound, "unknown client")
	}
	c.Type = wallet.ClientType(typ)
	return c, translate(err)
}

// Client implements wallet.OAuthStore: a registered client, or a payment
// system (whose bank id is its client id).
func (s *Store) Client(ctx context.Context, id string) (wallet.OAuthClient, error) {
	if len(id) > 64 {
		return wallet.OAuthClient{}, wallet.Errorf(eClientNotFound, "unknown client")
	}
	if _, ok := wallet.CanonicalID(id); ok {
		b, err := s.Bank(ctx, id)
		if wallet.ErrorCode(err) == wallet.EBankNotFound {
			return wallet.OAuthClient{}, wallet.Errorf(eClientNotFound, "unknown client")
		}
		if err != nil {
			return wallet.OAuthClient{}, err
		}
		return wallet.OAuthClient{ID: b.ID, Name: b.Name, Type: wallet.ClientConfidential, CreatedAt: b.CreatedAt, BankClient: true}, nil
	}
	return scanClient(s.pool.QueryRow(ctx, clientSelect+` WHERE id = $1`, id))
}

// Clients implements wallet.OAuthStore: the registered clients, oldest first.
func (s *Store) Clients(ctx context.Context) ([]wallet.OAuthClient, error) {
	rows, err := s.pool.Query(ctx, clientSelect+` ORDER BY created_at, id`)
	if err != nil {
		return nil, translate(err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.OAuthClient, error) { return scanClient(r) })
	return cs, translate(err)
}

// SaveCode implements wallet.OAuthStore.
func (s *Store) SaveCode(ctx context.Context, c wallet.AuthCode) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_codes
		(hash, client_id, user_id, redirect_uri, scope, code_challenge, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope.String(), c.Challenge, c.CreatedAt, c.ExpiresAt)
	return translate(err)
}

// RedeemCode implements wallet.OAuthStore. The conditional update lets one
// redemption through; a later one marks the code reused and revokes the
// family the first started.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, now, revokeUntil time.Time) (wallet.AuthCode, bool, bool, error) {
	var c wallet.AuthCode
	var scope string
	found, reused := false, false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE oauth_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL
			RETURNING client_id, user_id, redirect_uri, scope, code_challenge, created_at, expires_at`, hash, now).
			Scan(&c.ClientID, &c.UserID, &c.RedirectURI, &scope, &c.Challenge, &c.CreatedAt, &c.ExpiresAt)
		if err == nil {
			found = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var family *string
		err = tx.QueryRow(ctx, `UPDATE oauth_codes SET reused_at = coalesce(reused_at, $2) WHERE hash = $1
			RETURNING client_id, family_id::text`, hash, now).Scan(&c.ClientID, &family)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found, reused = true, true
		if family != nil {
			c.FamilyID = *family
			return revokeFamily(ctx, tx, *family, now, revokeUntil)
		}
		return nil
	})
	if err != nil {
		return wallet.AuthCode{}, false, false, translate(err)
	}
	c.Hash = hash
	c.Scope, _ = wallet.ParseScopes(scope)
	return c, found, reused, nil
}

// CreateFamily implements wallet.OAuthStore.
func (s *Store) CreateFamily(ctx context.Context, f wallet.TokenFamily, refreshHash, codeHash []byte) error {
	return translate(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO oauth_families (id, client_id, user_id, scope, created_at, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.ID, f.ClientID, f.UserID, f.Scope.String(), f.CreatedAt, f.ExpiresAt, f.RevokedAt); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO oauth_refresh_tokens (hash, family_id, created_at) VALUES ($1, $2, $3)`,
			refreshHash, f.ID, f.CreatedAt); err != nil {
			return err
		}
		if codeHash == nil {
			return nil
		}
		var reused *time.Time
		if err := tx.QueryRow(ctx, `UPDATE oauth_codes SET family_id = $2 WHERE hash = $1 RETURNING reused_at`,
			codeHash, f.ID).Scan(&reused); err != nil {
			return err
		}
		if reused != nil {
			_, err := tx.Exec(ctx, `UPDATE oauth_families SET revoked_at = $2 WHERE id = $1`, f.ID, *reused)
			return err
		}
		return nil
	}))
}

const familySelect = `SELECT f.id::text, f.client_id, f.user_id::text, f.scope, f.created_at, f.expires_at, f.revoked_at FROM oauth_families f`

func scanFamily(row pgx.Row) (wallet.TokenFamily, error) {
	var f wallet.TokenFamily
	var scope string
	err := row.Scan(&f.ID, &f.ClientID, &f.UserID, &scope, &f.CreatedAt, &f.ExpiresAt, &f.RevokedAt)
	f.Scope, _ = wallet.ParseScopes(scope)
	return f, err
}

// RotateRefresh implements wallet.OAuthStore. Of concurrent uses of one
// token, the first to update the row wins; the others wait for its row
// lock, then find the token used: a reuse, which revokes the family.
func (s *Store) RotateRefresh(ctx context.Context, hash, next []byte, now, revokeUntil time.Time) (wallet.Rotation, error) {
	var r wallet.Rotation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var familyID string
		err := tx.QueryRow(ctx, `UPDATE oauth_refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL
			RETURNING family_id::text`, hash, now).Scan(&familyID)
		used := errors.Is(err, pgx.ErrNoRows)
		if used {
			err = tx.QueryRow(ctx, `SELECT family_id::text FROM oauth_refresh_tokens WHERE hash = $1`, hash).Scan(&familyID)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // unknown
			}
		}
		if err != nil {
			return err
		}
		r.Found = true
		if r.Family, err = scanFamily(tx.QueryRow(ctx, familySelect+` WHERE f.id = $1 FOR UPDATE`, familyID)); err != nil {
			return err
		}
		if used {
			r.Reused = true
			if r.Family.RevokedAt == nil {
				r.Family.RevokedAt = &now
			}
			return revokeFamily(ctx, tx, familyID, now, revokeUntil)
		}
		if r.Family.RevokedAt != nil || !now.Before(r.Family.ExpiresAt) {
			return nil // the caller refuses it; nothing to store
		}
		_, err = tx.Exec(ctx, `INSERT INTO oauth_refresh_tokens (hash, family_id, created_at) VALUES ($1, $2, $3)`, next, familyID, now)
		return err
	})
	return r, translate(err)
}

// RefreshFamily implements wallet.OAuthStore.
func (s *Store) RefreshFamily(ctx context.Context, hash []byte) (wallet.TokenFamily, bool, error) {
	f, err := scanFamily(s.pool.QueryRow(ctx, familySelect+` JOIN oauth_refresh_tokens t ON t.family_id = f.id
		WHERE t.hash = $1 AND t.used_at IS NULL`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.TokenFamily{}, false, nil
	}
	return f, err == nil, translate(err)
}

// RevokeFamily implements wallet.OAuthStore.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now, revokeUntil time.Time) error {
	return translate(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return revokeFamily(ctx, tx, familyID, now, revokeUntil)
	}))
}

func revokeFamily(ctx context.Context, tx pgx.Tx, familyID string, now, revokeUntil time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE oauth_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, familyID, now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO oauth_revocations (key, expires_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires_at = greatest(oauth_revocations.expires_at, excluded.expires_at)`,
		"sid:"+familyID, revokeUntil)
	return err
}

// RevokeAccess implements wallet.OAuthStore.
func (s *Store) RevokeAccess(ctx context.Context, r wallet.Revocation) error {
	key := "jti:" + r.JTI
	if r.FamilyID != "" {
		key = "sid:" + r.FamilyID
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_revocations (key, expires_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires_at = greatest(oauth_revocations.expires_at, excluded.expires_at)`, key, r.ExpiresAt)
	return translate(err)
}

// Revocations implements wallet.OAuthStore.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]wallet.Revocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, expires_at FROM oauth_revocations WHERE expires_at > $1`, now)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Revocation, error) {
		var key string
		var rv wallet.Revocation
		if err := r.Scan(&key, &rv.ExpiresAt); err != nil {
			return rv, err
		}
		if id, ok := strings.CutPrefix(key, "sid:"); ok {
			rv.FamilyID = id
		} else {
			rv.JTI = strings.TrimPrefix(key, "jti:")
		}
		return rv, nil
	})
	return out, translate(err)
}

// SigningSeed implements wallet.OAuthStore: the first process to start
// stores its seed; every process gets the stored one.
func (s *Store) SigningSeed(ctx context.Context, kid string, seed []byte) ([]byte, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO oauth_signing_keys (kid, seed) VALUES ($1, $2) ON CONFLICT (kid) DO NOTHING`, kid, seed); err != nil {
		return nil, translate(err)
	}
	var got []byte
	err := s.pool.QueryRow(ctx, `SELECT seed FROM oauth_signing_keys WHERE kid = $1`, kid).Scan(&got)
	return got, translate(err)
}

// PruneOAuth deletes, at most limit of each, codes and revocations that
// expired before before, and families that ended before it (their refresh
// tokens with them).
func (s *Store) PruneOAuth(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `WITH
		c AS (DELETE FROM oauth_codes WHERE hash IN (SELECT hash FROM oauth_codes WHERE expires_at < $1 LIMIT $2) RETURNING 1),
		r AS (DELETE FROM oauth_revocations WHERE key IN (SELECT key FROM oauth_revocations WHERE expires_at < $1 LIMIT $2) RETURNING 1),
		f AS (DELETE FROM oauth_families WHERE id IN (SELECT id FROM oauth_families WHERE expires_at < $1 LIMIT $2) RETURNING 1)
		SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM r) + (SELECT count(*) FROM f)`, before, limit).Scan(&n)
	return n, translate(err)
}
