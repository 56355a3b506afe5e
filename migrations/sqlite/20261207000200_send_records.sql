-- One send record per recipient of every message optbox relays (list-managed and
-- transactional): what a returning bounce, complaint or unsubscribe mail is matched to,
-- and what later events cite. The bytes stay in the relay queue only; a queue row names
-- its record (send_id). Ids are never reused.
CREATE TABLE send_records (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id          TEXT    NOT NULL,
    rcpt                TEXT    NOT NULL,
    list_name           TEXT,
    topic_name          TEXT,
    identity            TEXT,
    configuration_set   TEXT,
    tags                TEXT    NOT NULL DEFAULT '[]',
    created_at          INTEGER  NOT NULL
);
CREATE INDEX send_records_message ON send_records (message_id);
ALTER TABLE mail_queue ADD COLUMN send_id INTEGER;
