ALTER TABLE operations
    ADD CONSTRAINT operations_from_wallet_id_fkey FOREIGN KEY (from_wallet_id) REFERENCES wallets (id),
    ADD CONSTRAINT operations_to_wallet_id_fkey FOREIGN KEY (to_wallet_id) REFERENCES wallets (id),
    ADD CONSTRAINT operations_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE entries
    ADD CONSTRAINT entries_operation_id_fkey FOREIGN KEY (operation_id) REFERENCES operations (id),
    ADD CONSTRAINT entries_wallet_id_fkey FOREIGN KEY (wallet_id) REFERENCES wallets (id);
ALTER TABLE idempotency_keys
    ADD CONSTRAINT idempotency_keys_operation_id_fkey
        FOREIGN KEY (operation_id) REFERENCES operations (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE holds
    ADD CONSTRAINT holds_from_wallet_id_fkey FOREIGN KEY (from_wallet_id) REFERENCES wallets (id),
    ADD CONSTRAINT holds_to_wallet_id_fkey FOREIGN KEY (to_wallet_id) REFERENCES wallets (id);
