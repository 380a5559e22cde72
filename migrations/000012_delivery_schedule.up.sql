-- A pending delivery's place in the schedule moves to a table of its own,
-- so that recording an attempt touches no index of the delivery log:
-- webhook_deliveries keeps each delivery's state for the log and the
-- API, webhook_schedule holds one row per pending delivery with the time
-- by which its task must have recorded an attempt (its next attempt plus
-- a lease) before the sweep enqueues it again. An attempt that ends a
-- delivery deletes its schedule row and updates the log row in place (a
-- HOT update: no indexed column changes, and its page has room).
CREATE TABLE webhook_schedule (
    delivery_id uuid PRIMARY KEY REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    due_at      timestamptz NOT NULL
);
CREATE INDEX webhook_schedule_due ON webhook_schedule (due_at);
INSERT INTO webhook_schedule (delivery_id, due_at)
SELECT id, next_attempt_at + interval '1 minute' FROM webhook_deliveries WHERE status = 'pending';
DROP INDEX webhook_deliveries_due;
-- Room on each page for one more version of each row (its outcome).
ALTER TABLE webhook_deliveries SET (fillfactor = 60);
