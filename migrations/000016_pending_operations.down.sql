ALTER TABLE operations RESET (fillfactor);
CREATE INDEX operations_pending ON operations (created_at) WHERE status = 'pending';
CREATE INDEX operations_pending_from ON operations (from_wallet_id) INCLUDE (amount)
    WHERE status = 'pending' AND type IN ('wallet_to_wallet', 'hold', 'withdrawal');
DROP TABLE pending_operations;
