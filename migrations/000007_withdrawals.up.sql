-- Withdrawals (../shared/API-MONEY.md): money reserved at once on the
-- owner's wallet (held), moved to the bank's settlement account when the
-- bank completes the payout, released when it fails, is cancelled or
-- expires.
CREATE TABLE withdrawals (
    id                   uuid PRIMARY KEY,
    status               text NOT NULL DEFAULT 'requested'
        CHECK (status IN ('requested', 'pending', 'processing', 'completed', 'failed', 'cancelled', 'expired')),
    amount               bigint NOT NULL CHECK (amount > 0),
    currency             text NOT NULL,
    wallet_id            uuid NOT NULL REFERENCES wallets (id),
    bank_id              uuid NOT NULL REFERENCES banks (id),
    settlement_wallet_id uuid NOT NULL REFERENCES wallets (id),
    details              text NOT NULL, -- the destination
    reference            text,
    failure_reason       text,
    operation_id         uuid NOT NULL, -- the withdrawal operation that reserved it
    pending_since        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    closed_at            timestamptz,
    CHECK ((status IN ('requested', 'pending', 'processing')) = (closed_at IS NULL))
);
CREATE INDEX withdrawals_wallet ON withdrawals (wallet_id, id DESC);
CREATE INDEX withdrawals_bank ON withdrawals (bank_id, id DESC);
CREATE INDEX withdrawals_due ON withdrawals (pending_since) WHERE status = 'pending';

ALTER TABLE operations
    DROP CONSTRAINT operations_type_check,
    ADD CONSTRAINT operations_type_check CHECK (type IN ('external_to_wallet', 'wallet_to_wallet',
        'hold', 'hold_capture', 'hold_void', 'hold_expire', 'withdrawal', 'withdrawal_complete', 'withdrawal_fail')),
    ADD COLUMN withdrawal_id uuid,
    -- withdrawal_fail: how it ends the withdrawal.
    ADD COLUMN end_as text CHECK (end_as IN ('failed', 'cancelled', 'expired')),
    ADD CONSTRAINT operation_withdrawal_links CHECK (
        (type IN ('withdrawal', 'withdrawal_complete', 'withdrawal_fail')) = (withdrawal_id IS NOT NULL)
        AND (type = 'withdrawal_fail') = (end_as IS NOT NULL));
CREATE INDEX operations_withdrawal ON operations (withdrawal_id, id) WHERE withdrawal_id IS NOT NULL;

-- A pending withdrawal counts against available too.
DROP INDEX operations_pending_from;
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount)
    WHERE status = 'pending' AND type IN ('wallet_to_wallet', 'hold', 'withdrawal');
