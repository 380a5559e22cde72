-- Webhook endpoints (API-EVENTS.md). The secret is kept as given out: the
-- deliveries are signed with it.
CREATE TABLE webhooks (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    url        text NOT NULL CHECK (length(url) <= 2000),
    events     text[] NOT NULL CHECK (cardinality(events) >= 1),
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user ON webhooks (user_id, id);
