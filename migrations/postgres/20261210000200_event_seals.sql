-- The event log's hash chain (docs/audit.md). A sealer appends each event, in the order
-- it seals them, to `event_seals`: a random salt, the commitment SHA-256(salt || content)
-- and the chain's link over the previous link and that commitment. An erasure or the
-- retention schedule deletes an event's content and its salt, never its seal, so the
-- chain still verifies. `events.sealed` is NULL until the event is sealed.
ALTER TABLE events ADD COLUMN sealed BOOLEAN;
CREATE INDEX events_unsealed ON events (id) WHERE sealed IS NULL;
CREATE TABLE event_seals (
    seq         BIGINT  PRIMARY KEY,
    event_id    BIGINT  NOT NULL UNIQUE,
    salt        BYTEA,
    commitment  BYTEA   NOT NULL,
    link        BYTEA   NOT NULL,
    sealed_at   BIGINT  NOT NULL
);
