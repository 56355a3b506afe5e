-- The account suppression list (SES v2's): no message is delivered to these addresses.
-- One row per address (lower-cased); a later reason replaces an earlier one.
CREATE TABLE suppressions (
    email       TEXT    PRIMARY KEY,
    reason      TEXT    NOT NULL,
    updated_at  INTEGER  NOT NULL,
    -- The message whose bounce or complaint put the address here, when known.
    message_id  TEXT,
    -- The event that did (SES FeedbackId).
    feedback_id TEXT
);
CREATE INDEX suppressions_time ON suppressions (updated_at, email);
-- The relay's breaker (paused while too many recent deliveries failed permanently) and
-- other single values shared by every instance.
CREATE TABLE relay_state (
    name        TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    updated_at  INTEGER  NOT NULL
);
