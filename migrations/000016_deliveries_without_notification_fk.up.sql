-- A webhook delivery's notification_id was a foreign key: a probe of the
-- notification's row under FOR KEY SHARE (and a WAL record) for every
-- delivery the relay inserts, two per transfer with a webhook per party.
-- The relay is the only writer of deliveries, and it names notifications
-- it has just read; nothing deletes a notification (000014 dropped the
-- outbox's own keys for the same reason). The audit checks that every
-- delivery names an existing notification instead
-- (internal/postgres/audit.go). The key to webhooks stays: its cascade is
-- what DELETE /api/webhooks/{id} does to the log.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_notification_id_fkey;
