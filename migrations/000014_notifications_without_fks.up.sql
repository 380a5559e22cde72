-- The outbox's rows are written by one writer, the worker's commit, in
-- the transaction that changes what they describe: their user and their
-- operation are rows that transaction has just read or locked. Their two
-- foreign keys were two checks of a referenced row per event (four events
-- per hold operation, two per transfer), about a seventh of Postgres's
-- CPU per operation in the holds benchmark. The audit checks that every
-- notification names an existing user and operation instead
-- (internal/postgres/audit.go). The ledger's own tables keep theirs.
ALTER TABLE notifications
    DROP CONSTRAINT notifications_user_id_fkey,
    DROP CONSTRAINT notifications_operation_id_fkey;
