-- The tables that every money movement writes (operations, entries,
-- idempotency keys, holds) lose their foreign keys, as the outbox did in
-- 000014. Each key was a probe of the referenced row under FOR KEY SHARE
-- at every insert: nine per transfer or capture, seven per hold placed, and the
-- share locks on one hot wallet's row made a MultiXact of every accept
-- that ran beside a commit. Their rows are written by two writers, the
-- acceptor and the worker's commit, with ids those writers have just read
-- (the caller's wallet, the recipient's, the operation locked FOR UPDATE),
-- and no user, wallet or operation is ever deleted. The audit checks that
-- every reference names an existing row instead (internal/postgres/audit.go).
-- The objects written at people's pace (withdrawals, payment requests,
-- banks, wallets themselves) keep theirs.
ALTER TABLE operations
    DROP CONSTRAINT operations_from_wallet_id_fkey,
    DROP CONSTRAINT operations_to_wallet_id_fkey,
    DROP CONSTRAINT operations_created_by_fkey;
ALTER TABLE entries
    DROP CONSTRAINT entries_operation_id_fkey,
    DROP CONSTRAINT entries_wallet_id_fkey;
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_operation_id_fkey,
    DROP CONSTRAINT idempotency_keys_user_id_fkey;
ALTER TABLE holds
    DROP CONSTRAINT holds_from_wallet_id_fkey,
    DROP CONSTRAINT holds_to_wallet_id_fkey;
