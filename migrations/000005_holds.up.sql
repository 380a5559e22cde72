-- Holds (../shared/API-MONEY.md): money reserved on the payer's wallet
-- for a recipient, captured in full or in parts, voided, or expired.
--
-- What active holds (and, later, open withdrawals) reserve on a wallet is
-- its held column. A reservation moves no money, so it writes no entries:
-- balance stays the sum of the wallet's entries, and available = balance
-- - held - pending outgoing operations. No shared escrow row.
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
    operation_id   uuid NOT NULL, -- the hold operation that placed it
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

-- The operations on holds. An operation the service makes by itself (an
-- expiry) has no created_by.
ALTER TABLE operations
    DROP CONSTRAINT operations_type_check,
    ADD CONSTRAINT operations_type_check CHECK (type IN ('external_to_wallet', 'wallet_to_wallet',
        'hold', 'hold_capture', 'hold_void', 'hold_expire')),
    ALTER COLUMN created_by DROP NOT NULL,
    ADD COLUMN hold_id uuid,
    -- hold_capture: whether it closes the hold.
    ADD COLUMN capture_final boolean,
    ADD CONSTRAINT operation_hold_links CHECK (
        (type IN ('hold', 'hold_capture', 'hold_void', 'hold_expire')) = (hold_id IS NOT NULL)
        AND (type = 'hold_capture') = (capture_final IS NOT NULL));
CREATE INDEX operations_hold ON operations (hold_id, id) WHERE hold_id IS NOT NULL;

-- The pending operations that count against a wallet's available
-- balance: those that will debit or reserve it. A pending capture, void
-- or expiry takes from what is already held.
DROP INDEX operations_pending_from;
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount)
    WHERE status = 'pending' AND type IN ('wallet_to_wallet', 'hold');
