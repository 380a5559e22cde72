-- Accounts that can sign in. Emails are unique without regard to case.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('user', 'bank', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Ledger accounts. A user wallet never goes negative. A settlement account
-- (a payment system's money outside the service) keeps its balance spread
-- over settlement_shards so that deposits do not queue on one hot row; its
-- own balance column stays zero.
CREATE TABLE wallets (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    kind       text NOT NULL CHECK (kind IN ('user', 'settlement')),
    currency   text NOT NULL,
    balance    bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_wallet_not_negative CHECK (kind <> 'user' OR balance >= 0),
    CONSTRAINT settlement_balance_in_shards CHECK (kind <> 'settlement' OR balance = 0)
);
CREATE UNIQUE INDEX wallets_user_kind_currency ON wallets (user_id, kind, currency);

CREATE TABLE settlement_shards (
    wallet_id uuid NOT NULL REFERENCES wallets (id),
    shard     smallint NOT NULL,
    balance   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (wallet_id, shard)
);

-- One row per operation, keyed by its id. Applying it locks this row first
-- and does nothing unless it is still pending.
CREATE TABLE operations (
    id             uuid PRIMARY KEY,
    type           text NOT NULL CHECK (type IN ('external_to_wallet', 'wallet_to_wallet')),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed')),
    failure_code   text,
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       text NOT NULL,
    from_wallet_id uuid NOT NULL REFERENCES wallets (id),
    to_wallet_id   uuid NOT NULL REFERENCES wallets (id),
    details        text NOT NULL DEFAULT '',
    created_by     uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    CHECK (from_wallet_id <> to_wallet_id),
    CHECK ((status = 'failed') = (failure_code IS NOT NULL)),
    CHECK ((status = 'pending') = (completed_at IS NULL))
);
CREATE INDEX operations_from ON operations (from_wallet_id, id DESC);
CREATE INDEX operations_to ON operations (to_wallet_id, id DESC);
CREATE INDEX operations_pending ON operations (created_at) WHERE status = 'pending';
-- The pending outgoing sum that makes a wallet's available balance.
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount) WHERE status = 'pending';

-- The legs of completed operations. Every operation's entries sum to zero;
-- every wallet's balance is the sum of its entries.
CREATE TABLE entries (
    id            bigserial PRIMARY KEY,
    operation_id  uuid NOT NULL REFERENCES operations (id),
    wallet_id     uuid NOT NULL REFERENCES wallets (id),
    amount        bigint NOT NULL CHECK (amount <> 0),
    balance_after bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operation_id, wallet_id)
);
CREATE INDEX entries_wallet ON entries (wallet_id, id);

-- Idempotency keys, scoped to the user that sent them.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL REFERENCES users (id),
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    operation_id uuid NOT NULL REFERENCES operations (id),
    status_code  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
