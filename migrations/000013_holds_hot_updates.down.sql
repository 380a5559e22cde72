ALTER TABLE holds RESET (fillfactor);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'active';
DROP INDEX holds_open_due;
