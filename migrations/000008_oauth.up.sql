-- OAuth 2.0 (API-OAUTH.md): registered clients, authorization codes,
-- token families with their rotating refresh tokens, revocations of
-- access tokens, and the development signing key. Secrets, codes and
-- refresh tokens are kept only as SHA-256 hashes (they are 256-bit random
-- values, so a fast hash is enough).
CREATE TABLE oauth_clients (
    id            text PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    type          text NOT NULL CHECK (type IN ('public', 'confidential')),
    secret_hash   bytea,
    redirect_uris text[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((type = 'confidential') = (secret_hash IS NOT NULL))
);

-- A sign-in through OAuth: its refresh tokens rotate, its access tokens
-- carry its id ("sid"); revoking it ends them all.
CREATE TABLE oauth_families (
    id         uuid PRIMARY KEY,
    client_id  text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id),
    scope      text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE oauth_codes (
    hash           bytea PRIMARY KEY,
    client_id      text NOT NULL,
    user_id        uuid NOT NULL REFERENCES users (id),
    redirect_uri   text NOT NULL,
    scope          text NOT NULL,
    code_challenge text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    -- A second redemption: the family of the first is revoked, also when
    -- that family is stored after the second redemption was seen.
    reused_at      timestamptz,
    family_id      uuid REFERENCES oauth_families (id) ON DELETE SET NULL
);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

CREATE TABLE oauth_refresh_tokens (
    hash       bytea PRIMARY KEY,
    family_id  uuid NOT NULL REFERENCES oauth_families (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (family_id);

-- Access tokens stopped before their expiry, by "jti:<jti>" or, for a
-- whole family, "sid:<family id>". Requests read the copy in Redis; this
-- is the truth it is rebuilt from.
CREATE TABLE oauth_revocations (
    key        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX oauth_revocations_expires ON oauth_revocations (expires_at);

-- The development signing key (OAUTH_SIGNING_KEYS unset), made once so
-- that every API process signs and verifies with the same one.
CREATE TABLE oauth_signing_keys (
    kid        text PRIMARY KEY,
    seed       bytea NOT NULL CHECK (length(seed) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
