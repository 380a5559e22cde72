-- Webhook endpoints and their deliveries (API-EVENTS.md). The secret is
-- kept as given out: the deliveries are signed with it.
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    url         text NOT NULL CHECK (length(url) <= 2000),
    events      text[] NOT NULL CHECK (cardinality(events) >= 1),
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- A 410 Gone from the endpoint disables it.
    disabled_at timestamptz
);
CREATE INDEX webhooks_user ON webhooks (user_id, id);

-- One delivery per endpoint and event, whatever happens to the tasks
-- that send it: Postgres keeps its state, asynq only its timing.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    notification_id  uuid NOT NULL REFERENCES notifications (id),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    last_status_code int,
    last_error       text,
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    UNIQUE (webhook_id, notification_id),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- The relay's place in the outbox, in commit order (see
-- notifications.xid): it turns what comes after into deliveries.
CREATE INDEX notifications_relay ON notifications (xid, id);
CREATE TABLE webhook_relay (
    id              int PRIMARY KEY CHECK (id = 1),
    xid             xid8 NOT NULL,
    notification_id uuid NOT NULL
);
INSERT INTO webhook_relay VALUES (1, pg_snapshot_xmin(pg_current_snapshot()), '00000000-0000-0000-0000-000000000000');
