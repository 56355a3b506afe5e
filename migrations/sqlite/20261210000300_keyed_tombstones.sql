-- Tombstones name their address by a keyed hash: HMAC-SHA-256 of the address hash under
-- the database's contact key (the server secret `event_contact_key`), prefixed
-- `tombstone:` and cut to 16 bytes, never by the address hash itself. SQL cannot compute
-- it, so the tombstones written before wait in `tombstones_unkeyed`: when the store opens
-- it moves them into `tombstones` under their keys, in batches, and then drops the empty
-- table. Nothing reads `tombstones_unkeyed` but that move.
ALTER TABLE tombstones RENAME TO tombstones_unkeyed;
CREATE TABLE tombstones (
    list_name       TEXT    NOT NULL,
    email_hash      BLOB    NOT NULL,
    unsubscribe_all BOOLEAN NOT NULL DEFAULT FALSE,
    topics          TEXT    NOT NULL DEFAULT '[]',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (list_name, email_hash)
) WITHOUT ROWID;
