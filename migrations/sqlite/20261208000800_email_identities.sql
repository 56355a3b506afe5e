-- SES sending identities (CreateEmailIdentity and friends): the domains and addresses
-- mail may be sent from when require_verified_identity is on. Lower-cased.
CREATE TABLE email_identities (
    identity    TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    created_at  INTEGER  NOT NULL
);
