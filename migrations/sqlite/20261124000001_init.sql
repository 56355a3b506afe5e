-- optbox schema, SQLite flavour. Times are Unix epoch milliseconds.
CREATE TABLE contact_lists (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    description     TEXT    NOT NULL DEFAULT '',
    tags            TEXT    NOT NULL DEFAULT '[]',
    branding        TEXT    NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE topics (
    id              INTEGER PRIMARY KEY,
    list_id         INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    display_name    TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    default_opt_in  BOOLEAN NOT NULL,
    hidden          BOOLEAN NOT NULL DEFAULT FALSE,
    position        INTEGER NOT NULL,
    UNIQUE (list_id, name)
);

CREATE TABLE contacts (
    id              INTEGER PRIMARY KEY,
    list_id         INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL,
    email_hash      BLOB    NOT NULL,
    unsubscribe_all BOOLEAN NOT NULL DEFAULT FALSE,
    attributes      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (list_id, email_key)
);
-- Keyset paging per list, prefix search on the address, and token look-ups by hash.
CREATE INDEX contacts_list_id ON contacts (list_id, id);
CREATE UNIQUE INDEX contacts_list_hash ON contacts (list_id, email_hash);
CREATE INDEX contacts_list_unsub ON contacts (list_id, unsubscribe_all, id);

CREATE TABLE contact_topic_prefs (
    contact_id      INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    topic_id        INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    opt_in          BOOLEAN NOT NULL,
    PRIMARY KEY (contact_id, topic_id)
) WITHOUT ROWID;
-- Filtered listings by topic status walk this index in contact order.
CREATE INDEX contact_topic_prefs_topic ON contact_topic_prefs (topic_id, opt_in, contact_id);

CREATE TABLE tombstones (
    list_id         INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    email_hash      BLOB    NOT NULL,
    unsubscribe_all BOOLEAN NOT NULL DEFAULT FALSE,
    topics          TEXT    NOT NULL DEFAULT '[]',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (list_id, email_hash)
) WITHOUT ROWID;

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,
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
    id              INTEGER PRIMARY KEY,
    email           TEXT    NOT NULL UNIQUE,
    role            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);

-- Generated server secrets (dev-mode token key, session key) persisted across restarts.
CREATE TABLE server_secrets (
    name            TEXT    PRIMARY KEY,
    value           BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
);
