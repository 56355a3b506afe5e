-- Tombstones outlive their list: keyed by the list's name, not its id, and without a
-- foreign key, so deleting a list and creating it again under the same name keeps every
-- recorded opt-out (the store writes the list's opt-outs here before it deletes it).
CREATE TABLE tombstones_by_name (
    list_name       TEXT    NOT NULL,
    email_hash      BYTEA    NOT NULL,
    unsubscribe_all BOOLEAN NOT NULL DEFAULT FALSE,
    topics          TEXT    NOT NULL DEFAULT '[]',
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (list_name, email_hash)
);
INSERT INTO tombstones_by_name (list_name, email_hash, unsubscribe_all, topics, updated_at)
    SELECT l.name, t.email_hash, t.unsubscribe_all, t.topics, t.updated_at
    FROM tombstones t JOIN contact_lists l ON l.id = t.list_id;
DROP TABLE tombstones;
ALTER TABLE tombstones_by_name RENAME TO tombstones;
