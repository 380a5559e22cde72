-- The outbox (API-EVENTS.md): each event a party should hear about is a
-- row here, written in the transaction of the change itself, so no event
-- is lost and none exists for a change that rolled back. The in-app feed
-- and the live updates read it. A notification is its party's event: its
-- id is both the notification_id and the event_id.
CREATE TABLE notifications (
    id           uuid PRIMARY KEY, -- UUIDv7, made by the committing worker
    user_id      uuid NOT NULL REFERENCES users (id),
    type         text NOT NULL,
    operation_id uuid REFERENCES operations (id),
    created_at   timestamptz NOT NULL,
    read_at      timestamptz,
    -- The writing transaction: readers in order pass only rows below the
    -- oldest transaction still running, so one that commits late is read
    -- late, never skipped.
    xid          xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX notifications_user ON notifications (user_id, xid, id);

-- When the outbox began: the audit expects the events of operations made
-- final since (older ones have none).
CREATE TABLE outbox_epoch (started_at timestamptz NOT NULL);
INSERT INTO outbox_epoch VALUES (now());
