-- SES-API credentials. The secret access key is never stored: it is derived on demand as
-- HMAC-SHA256(api_key_master, access_key_id || salt), so a copy of the database alone
-- does not reveal any secret. Revoked keys keep their row for the audit trail.
CREATE TABLE api_keys (
    access_key_id   TEXT    PRIMARY KEY,
    salt            BYTEA   NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    revoked_at      BIGINT
);
