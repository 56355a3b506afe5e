-- The durable relay queue: one row per envelope recipient, written (and committed) before
-- the submitter is answered. Times are Unix epoch milliseconds.
CREATE TABLE mail_queue (
    id              BIGSERIAL PRIMARY KEY,
    message_id      TEXT    NOT NULL,
    mail_from       TEXT    NOT NULL,
    rcpt            TEXT    NOT NULL,
    data            BYTEA    NOT NULL,
    -- queued | sent | failed | outbox (no upstream configured: kept for the dashboard)
    state           TEXT    NOT NULL,
    -- Claims so far; also the fencing token of the current claim.
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- When a queued row may be claimed; a claim pushes it forward by the lease, so the
    -- claims of a killed instance become due again when their lease runs out.
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX mail_queue_due ON mail_queue (state, next_attempt_at);
CREATE INDEX mail_queue_message ON mail_queue (message_id);
