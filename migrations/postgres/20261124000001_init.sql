-- optbox schema, PostgreSQL flavour. Times are Unix epoch milliseconds.
CREATE TABLE contact_lists (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    description     TEXT    NOT NULL DEFAULT '',
    tags            TEXT    NOT NULL DEFAULT '[]',
    branding        TEXT    NOT NULL DEFAULT '{}',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE topics (
    id              BIGSERIAL PRIMARY KEY,
    list_id         BIGINT  NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    display_name    TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    default_opt_in  BOOLEAN NOT NULL,
    hidden          BOOLEAN NOT NULL DEFAULT FALSE,
    position        INTEGER NOT NULL,
    UNIQUE (list_id, name)
);

CREATE TABLE contacts (
    id              BIGSERIAL PRIMARY KEY,
    list_id         BIGINT  NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL,
    email_hash      BYTEA   NOT NULL,
    unsubscribe_all BOOLEAN NOT NULL DEFAULT FALSE,
    attributes      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (list_id, email_key)
);
-- Keyset paging per list, prefix search on the address, and token look-ups by hash.
CREATE INDEX contacts_list_id ON contacts (list_id, id);
CREATE UNIQUE INDEX contacts_list_hash ON contacts (list_id, email_hash);
CREATE INDEX contacts_list_unsub ON contacts (list_id, unsubscribe_all, id);

CREATE TABLE contact_topic_prefs (
    contact_id      BIGINT  NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    topic_id        BIGINT  NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    opt_in          BOOLEAN NOT NULL,
    PRIMARY KEY (contact_id, topic_id)
);
-- Filtered listings by topic status walk this index in contact order.
CREATE INDEX contact_topic_prefs_topic ON contact_topic_prefs (topic_id, opt_in, contact_id);

CREATE TABLE tombstones (
    list_id         BIGINT  NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    email_hash      BYTEA   NOT NULL,
    unsubscribe_all BOOLEAN NOT NULL DEFAULT FALSE,
    topics          TEXT    NOT NULL DEFAULT '[]',
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (list_id, email_hash)
);

CREATE TABLE events (
    id              BIGSERIAL PRIMARY KEY,
    created_at      BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    source          TEXT,
    list_name       TEXT,
    topic_name      TEXT,
    contact_email   TEXT,
    old_prefs       TEXT,
    new_prefs       TEXT,
    ip_hash         TEXT,
    user_agent      TEXT,
    detail          TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_list ON events (list_name, id);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_contact ON events (contact_email, id);

CREATE TABLE users (
    id              BIGSERIAL PRIMARY KEY,
    email           TEXT    NOT NULL UNIQUE,
    role            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);

-- Generated server secrets (dev-mode token key, session key) persisted across restarts.
CREATE TABLE server_secrets (
    name            TEXT    PRIMARY KEY,
    value           BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL
);
