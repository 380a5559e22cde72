ALTER TABLE webhook_deliveries RESET (fillfactor);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
DROP TABLE webhook_schedule;
