-- Addresses erased at their owner's request, as keyed hashes only (HMAC-SHA-256 of the
-- address hash under the event log's contact key): never mailed again, never shown.
CREATE TABLE erased_recipients (
    hash        BLOB    PRIMARY KEY,
    erased_at   INTEGER NOT NULL
) WITHOUT ROWID;
