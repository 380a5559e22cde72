-- Lossy by nature: the withdrawals' operations, and their entries, are
-- deleted (balances then no longer equal their entries). Development only.
-- The deletes below must not leave deferred checks pending under the ALTERs.
SET CONSTRAINTS ALL IMMEDIATE;
DROP INDEX operations_pending_from;
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount)
    WHERE status = 'pending' AND type IN ('wallet_to_wallet', 'hold');
DROP INDEX operations_withdrawal;
DELETE FROM entries WHERE operation_id IN (SELECT id FROM operations WHERE withdrawal_id IS NOT NULL);
DELETE FROM idempotency_keys WHERE operation_id IN (SELECT id FROM operations WHERE withdrawal_id IS NOT NULL);
DELETE FROM operations WHERE withdrawal_id IS NOT NULL;
ALTER TABLE operations
    DROP CONSTRAINT operation_withdrawal_links,
    DROP COLUMN end_as,
    DROP COLUMN withdrawal_id,
    DROP CONSTRAINT operations_type_check,
    ADD CONSTRAINT operations_type_check CHECK (type IN ('external_to_wallet', 'wallet_to_wallet',
        'hold', 'hold_capture', 'hold_void', 'hold_expire'));
DROP TABLE withdrawals;
