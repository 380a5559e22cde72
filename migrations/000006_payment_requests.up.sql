-- Payment requests (../shared/API-MONEY.md): the requester asks, the
-- payer approves with a transfer (the request is approved in the commit
-- that stores it, paid in the commit that applies it) or declines.
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

ALTER TABLE operations
    ADD COLUMN payment_request_id uuid,
    ADD CONSTRAINT operation_request_links CHECK (payment_request_id IS NULL OR type = 'wallet_to_wallet');
