-- DKIM signing keys, one or more per domain (the newest signs). The private key is
-- never printed or sent anywhere; the public key is what the TXT record publishes.
CREATE TABLE dkim_keys (
    id          INTEGER PRIMARY KEY,
    domain      TEXT    NOT NULL,
    selector    TEXT    NOT NULL,
    -- rsa | ed25519
    algorithm   TEXT    NOT NULL,
    private_key BLOB   NOT NULL,
    public_key  BLOB   NOT NULL,
    created_at  INTEGER    NOT NULL,
    UNIQUE (domain, selector)
);
