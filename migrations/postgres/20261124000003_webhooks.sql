-- Webhook destinations and their durable outbox. A delivery row is inserted in the same
-- transaction as the event it carries (see store/webhooks.rs), so a committed event is
-- never without its deliveries. Times are Unix epoch milliseconds.
CREATE TABLE webhooks (
    id              BIGSERIAL PRIMARY KEY,
    url             TEXT    NOT NULL,
    secret          TEXT    NOT NULL,
    -- '*' (every kind except webhook.failed) or ',kind,kind,' for matching with LIKE.
    event_types     TEXT    NOT NULL DEFAULT '*',
    list_name       TEXT,
    created_at      BIGINT  NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    webhook_id      BIGINT  NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        BIGINT  NOT NULL,
    -- pending | delivered | dead
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        BIGINT  NOT NULL DEFAULT 0,
    -- When a pending row may be claimed; a claim pushes it forward by the lease.
    next_attempt_at BIGINT  NOT NULL,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);

-- Event-log filters by topic and by time (list, kind and contact have their indexes).
CREATE INDEX events_topic ON events (topic_name, id);
CREATE INDEX events_created ON events (created_at);
