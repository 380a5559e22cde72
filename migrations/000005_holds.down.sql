-- Lossy by nature: the operations on holds, and their entries, are
-- deleted (balances then no longer equal their entries). Development only.
-- The deletes below must not leave deferred checks pending under the ALTERs.
SET CONSTRAINTS ALL IMMEDIATE;
DROP INDEX operations_pending_from;
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount) WHERE status = 'pending';
DROP INDEX operations_hold;
DELETE FROM entries WHERE operation_id IN (SELECT id FROM operations WHERE hold_id IS NOT NULL);
DELETE FROM idempotency_keys WHERE operation_id IN (SELECT id FROM operations WHERE hold_id IS NOT NULL);
DELETE FROM operations WHERE hold_id IS NOT NULL OR created_by IS NULL;
ALTER TABLE operations
    DROP CONSTRAINT operation_hold_links,
    DROP COLUMN capture_final,
    DROP COLUMN hold_id,
    ALTER COLUMN created_by SET NOT NULL,
    DROP CONSTRAINT operations_type_check,
    ADD CONSTRAINT operations_type_check CHECK (type IN ('external_to_wallet', 'wallet_to_wallet'));
DROP TABLE holds;
ALTER TABLE wallets
    DROP CONSTRAINT user_wallet_covers_held,
    DROP CONSTRAINT wallet_held_not_negative,
    DROP COLUMN held;
