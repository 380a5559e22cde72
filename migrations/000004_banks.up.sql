-- Payment systems (../shared/API-MONEY.md): one row per bank. Its id is
-- its account's (a users row of role bank), and its settlement account
-- is that account's wallet.
CREATE TABLE banks (
    id                   uuid PRIMARY KEY REFERENCES users (id),
    name                 text NOT NULL,
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    settlement_wallet_id uuid NOT NULL UNIQUE REFERENCES wallets (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    disabled_at          timestamptz,
    CHECK ((status = 'disabled') = (disabled_at IS NOT NULL))
);
-- The bank accounts made before are banks too.
INSERT INTO banks (id, name, settlement_wallet_id, created_at)
SELECT u.id, u.name, w.id, u.created_at
FROM users u JOIN wallets w ON w.user_id = u.id AND w.kind = 'settlement'
WHERE u.role = 'bank';
