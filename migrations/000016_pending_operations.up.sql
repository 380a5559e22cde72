-- An operation's completion was a non-HOT update: the partial indexes
-- operations_pending and operations_pending_from name status in their
-- predicates (and the second holds amount), so every completion wrote a
-- new version of the row with a new entry in each of operations' indexes
-- (six WAL records an operation in the holds benchmark). What is pending
-- is now a row of its own here, inserted with the operation and deleted
-- by the commit that makes it final; operations keeps no index on a
-- column that completion changes, and with room left on its pages
-- (fillfactor, for the pages written from now on) a completion is a HOT
-- update. The audit checks that the two agree (internal/postgres/audit.go).
--
-- Run it with every API and worker process of the version before stopped:
-- an older process would store pending operations without their rows.
CREATE TABLE pending_operations (
    created_at     timestamptz NOT NULL, -- the operation's
    id             uuid NOT NULL,        -- the operation's (operations.id is its key)
    from_wallet_id uuid NOT NULL,
    amount         bigint NOT NULL,
    -- Counts against the source's available balance
    -- (wallet.OpType.Reserves).
    reserves       boolean NOT NULL,
    -- The sweeper reads the oldest first.
    PRIMARY KEY (created_at, id)
);
-- The pending outgoing sum that makes a wallet's available balance.
CREATE INDEX pending_operations_from ON pending_operations (from_wallet_id) INCLUDE (amount) WHERE reserves;

INSERT INTO pending_operations (created_at, id, from_wallet_id, amount, reserves)
SELECT created_at, id, from_wallet_id, amount, type IN ('wallet_to_wallet', 'hold', 'withdrawal')
FROM operations WHERE status = 'pending';

DROP INDEX operations_pending;
DROP INDEX operations_pending_from;
ALTER TABLE operations SET (fillfactor = 50);
