-- Checked at commit, so one statement can store an idempotency key and,
-- only if the key was new, its operation.
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_operation_id_fkey,
    ADD CONSTRAINT idempotency_keys_operation_id_fkey
        FOREIGN KEY (operation_id) REFERENCES operations (id) DEFERRABLE INITIALLY DEFERRED;
