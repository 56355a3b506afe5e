-- A contact may pause its list: until `paused_until` (Unix ms) sending treats it as opted
-- out. The sweeper clears the column (and writes the `resume` event) once the time is past;
-- until it runs, every reader compares the time itself.
ALTER TABLE contacts ADD COLUMN paused_until BIGINT;
CREATE INDEX contacts_paused ON contacts (list_id, id) WHERE paused_until IS NOT NULL;
-- "Manage every subscription by email" finds an address's contacts on every list.
CREATE INDEX contacts_hash ON contacts (email_hash);
-- Mail a recipient asked for on a public page: a manage link or a subscription to confirm.
-- The token is the capability; only its SHA-256 is kept. `address_key` is the keyed
-- address hash the per-address daily limit counts by; `payload` is what confirming needs
-- (the address and topics of a subscription), deleted with the row once used or expired.
CREATE TABLE recipient_requests (
    token_hash  BYTEA    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    address_key BYTEA    NOT NULL,
    list_name   TEXT,
    payload     TEXT    NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX recipient_requests_address ON recipient_requests (address_key, kind, created_at);
CREATE INDEX recipient_requests_expiry ON recipient_requests (expires_at);
