-- SES configuration sets (CreateConfigurationSet and friends) and their event
-- destinations, each an optbox webhook. `options` keeps the set's option objects as the
-- sender gave them (GetConfigurationSet answers with them); `suppressed_reasons` is the
-- SuppressionOptions list as JSON, NULL when the set leaves suppression to the account.
CREATE TABLE configuration_sets (
    name                TEXT    PRIMARY KEY,
    options             TEXT    NOT NULL,
    tags                TEXT    NOT NULL,
    suppressed_reasons  TEXT,
    sending_enabled     INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
);

-- `event_types` is the MatchingEventTypes list as `,SEND,BOUNCE,` (matched with LIKE).
CREATE TABLE event_destinations (
    configuration_set   TEXT    NOT NULL REFERENCES configuration_sets(name) ON DELETE CASCADE,
    name                TEXT    NOT NULL,
    enabled             INTEGER NOT NULL,
    event_types         TEXT    NOT NULL,
    webhook_id          INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    topic_arn           TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (configuration_set, name)
);
CREATE INDEX event_destinations_webhook ON event_destinations (webhook_id);

-- The configuration set of the message an event is about, and its send record (a
-- recipient's unsubscribe from a message's link names the record).
ALTER TABLE events ADD COLUMN configuration_set TEXT;
ALTER TABLE events ADD COLUMN send_id INTEGER;
