-- Lossy by nature: the operations of the new kinds, and their entries, are deleted
-- (balances then no longer equal their entries). For development only.
DROP INDEX operations_pending_from;
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount) WHERE status = 'pending';
DROP INDEX operations_withdrawal;
DROP INDEX operations_hold;
DELETE FROM entries WHERE operation_id IN (SELECT id FROM operations WHERE type NOT IN ('external_to_wallet', 'wallet_to_wallet'));
DELETE FROM idempotency_keys WHERE operation_id IN (SELECT id FROM operations WHERE type NOT IN ('external_to_wallet', 'wallet_to_wallet'));
DELETE FROM operations WHERE type NOT IN ('external_to_wallet', 'wallet_to_wallet');
ALTER TABLE operations
    DROP CONSTRAINT operation_links,
    DROP COLUMN end_as,
    DROP COLUMN capture_final,
    DROP COLUMN payment_request_id,
    DROP COLUMN withdrawal_id,
    DROP COLUMN hold_id,
    ALTER COLUMN created_by SET NOT NULL,
    DROP CONSTRAINT operations_type_check,
    ADD CONSTRAINT operations_type_check CHECK (type IN ('external_to_wallet', 'wallet_to_wallet'));
DROP TABLE withdrawals;
DROP TABLE payment_requests;
DROP TABLE holds;
ALTER TABLE wallets
    DROP CONSTRAINT user_wallet_covers_held,
    DROP CONSTRAINT wallet_held_not_negative,
    DROP COLUMN held;
DROP TABLE banks;
