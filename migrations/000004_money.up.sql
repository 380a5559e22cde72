-- Payment systems, holds, payment requests and withdrawals
-- (../shared/API-MONEY.md).

-- One row per payment system; its id is its account's (a users row of
-- role bank) and its settlement account is that account's wallet.
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

-- What active holds and open withdrawals reserve on a wallet. A
-- reservation moves no money, so it writes no entries: balance stays the
-- sum of the wallet's entries, and available = balance - held - pending
-- outgoing operations.
ALTER TABLE wallets
    ADD COLUMN held bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT wallet_held_not_negative CHECK (held >= 0),
    ADD CONSTRAINT user_wallet_covers_held CHECK (kind <> 'user' OR balance >= held);

CREATE TABLE holds (
    id             uuid PRIMARY KEY,
    status         text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'active', 'captured', 'voided', 'expired', 'failed')),
    amount         bigint NOT NULL CHECK (amount > 0),
    captured       bigint NOT NULL DEFAULT 0 CHECK (captured >= 0),
    released       bigint NOT NULL DEFAULT 0 CHECK (released >= 0),
    currency       text NOT NULL,
    from_wallet_id uuid NOT NULL REFERENCES wallets (id),
    to_wallet_id   uuid NOT NULL REFERENCES wallets (id),
    details        text NOT NULL DEFAULT '',
    failure_code   text,
    operation_id   uuid NOT NULL,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    CHECK (from_wallet_id <> to_wallet_id),
    CHECK (captured + released <= amount),
    CHECK (status NOT IN ('captured', 'voided', 'expired') OR captured + released = amount),
    CHECK ((status IN ('pending', 'active')) = (closed_at IS NULL)),
    CHECK ((status = 'failed') = (failure_code IS NOT NULL))
);
CREATE INDEX holds_from ON holds (from_wallet_id, id DESC);
CREATE INDEX holds_to ON holds (to_wallet_id, id DESC);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'active';

CREATE TABLE payment_requests (
    id             uuid PRIMARY KEY,
    status         text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'approved', 'paid', 'declined', 'cancelled', 'expired')),
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       text NOT NULL,
    from_wallet_id uuid NOT NULL REFERENCES wallets (id), -- the payer
    to_wallet_id   uuid NOT NULL REFERENCES wallets (id), -- the requester, who is paid
    requested_by   uuid NOT NULL REFERENCES users (id),
    details        text NOT NULL DEFAULT '',
    decline_reason text,
    operation_id   uuid, -- the approving transfer, while approved or paid
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    CHECK (from_wallet_id <> to_wallet_id),
    CHECK ((status IN ('approved', 'paid')) = (operation_id IS NOT NULL)),
    CHECK ((status IN ('open', 'approved')) = (closed_at IS NULL))
);
CREATE INDEX payment_requests_from ON payment_requests (from_wallet_id, id DESC);
CREATE INDEX payment_requests_to ON payment_requests (to_wallet_id, id DESC);
CREATE INDEX payment_requests_due ON payment_requests (expires_at) WHERE status = 'open';

CREATE TABLE withdrawals (
    id                   uuid PRIMARY KEY,
    status               text NOT NULL DEFAULT 'requested'
        CHECK (status IN ('requested', 'pending', 'processing', 'completed', 'failed', 'cancelled', 'expired')),
    amount               bigint NOT NULL CHECK (amount > 0),
    currency             text NOT NULL,
    wallet_id            uuid NOT NULL REFERENCES wallets (id),
    bank_id              uuid NOT NULL REFERENCES banks (id),
    settlement_wallet_id uuid NOT NULL REFERENCES wallets (id),
    details              text NOT NULL,
    reference            text,
    failure_reason       text,
    operation_id         uuid NOT NULL,
    pending_since        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    closed_at            timestamptz,
    CHECK ((status IN ('requested', 'pending', 'processing')) = (closed_at IS NULL))
);
CREATE INDEX withdrawals_wallet ON withdrawals (wallet_id, id DESC);
CREATE INDEX withdrawals_bank ON withdrawals (bank_id, id DESC);
CREATE INDEX withdrawals_due ON withdrawals (pending_since) WHERE status = 'pending';

-- Operations of the new kinds, and what each belongs to. An operation the
-- service makes by itself (an expiry) has no created_by.
ALTER TABLE operations
    DROP CONSTRAINT operations_type_check,
    ADD CONSTRAINT operations_type_check CHECK (type IN ('external_to_wallet', 'wallet_to_wallet',
        'hold', 'hold_capture', 'hold_void', 'hold_expire', 'withdrawal', 'withdrawal_complete', 'withdrawal_fail')),
    ALTER COLUMN created_by DROP NOT NULL,
    ADD COLUMN hold_id uuid,
    ADD COLUMN withdrawal_id uuid,
    ADD COLUMN payment_request_id uuid,
    -- hold_capture: whether it closes the hold.
    ADD COLUMN capture_final boolean,
    -- withdrawal_fail: how it ends the withdrawal.
    ADD COLUMN end_as text CHECK (end_as IN ('failed', 'cancelled', 'expired')),
    ADD CONSTRAINT operation_links CHECK (
        (type IN ('hold', 'hold_capture', 'hold_void', 'hold_expire')) = (hold_id IS NOT NULL)
        AND (type IN ('withdrawal', 'withdrawal_complete', 'withdrawal_fail')) = (withdrawal_id IS NOT NULL)
        AND (payment_request_id IS NULL OR type = 'wallet_to_wallet')
        AND (type = 'hold_capture') = (capture_final IS NOT NULL)
        AND (type = 'withdrawal_fail') = (end_as IS NOT NULL));
CREATE INDEX operations_hold ON operations (hold_id, id) WHERE hold_id IS NOT NULL;
CREATE INDEX operations_withdrawal ON operations (withdrawal_id, id) WHERE withdrawal_id IS NOT NULL;

-- The pending operations that count against a wallet's available
-- balance: those that will debit or reserve it. A pending capture, void,
-- expiry or withdrawal end takes from what is already held.
DROP INDEX operations_pending_from;
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount)
    WHERE status = 'pending' AND type IN ('wallet_to_wallet', 'hold', 'withdrawal');
