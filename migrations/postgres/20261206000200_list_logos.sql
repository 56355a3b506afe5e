-- A list's uploaded logo, served same-origin at /l/{list}/logo (the preference page's CSP
-- allows no third-party images). At most 256 KiB of PNG, JPEG, GIF or WebP, checked by
-- the service before it gets here; `version` (a hash of the bytes) is the URL's cache
-- key. A list's logo goes away with the list.
CREATE TABLE list_logos (
    list_id      BIGINT  PRIMARY KEY REFERENCES contact_lists(id) ON DELETE CASCADE,
    content_type TEXT    NOT NULL,
    bytes        BYTEA   NOT NULL,
    version      TEXT    NOT NULL,
    updated_at   BIGINT  NOT NULL
);
