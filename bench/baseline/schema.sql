-- The baseline's schema: the service's two essential ledger tables
-- (migrations/000001_init.up.sql) and nothing else, for pgbench to make
-- transfers in. bench creates a scratch database with it and fills wallets
-- 1..N with a balance far larger than any run moves.

-- A wallet never goes negative.
CREATE TABLE wallets (
    id      bigint PRIMARY KEY,
    balance bigint NOT NULL CHECK (balance >= 0)
);

CREATE SEQUENCE operation_ids;

-- The legs of completed transfers, indexed as the service's are.
CREATE TABLE entries (
    id           bigserial PRIMARY KEY,
    operation_id bigint NOT NULL,
    wallet_id    bigint NOT NULL REFERENCES wallets (id),
    amount       bigint NOT NULL CHECK (amount <> 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operation_id, wallet_id)
);
CREATE INDEX entries_wallet ON entries (wallet_id, id);
