-- One event model: each event says who acted (`actor`: recipient, user, api_key, import,
-- cli; NULL for optbox itself) and with which id, which message caused it when known
-- (`message_id`, the SES MessageId), and names its contact by a keyed hash of the address
-- (`contact_key`). The address itself lives apart, in `event_contacts`, so that an
-- erasure removes it without touching the log. Rows written before keep their address in
-- `contact_email` until the store moves it (keys need the server's key, which SQL does
-- not have); new rows leave it NULL.
ALTER TABLE events ADD COLUMN actor TEXT;
ALTER TABLE events ADD COLUMN actor_id TEXT;
ALTER TABLE events ADD COLUMN message_id TEXT;
ALTER TABLE events ADD COLUMN contact_key BLOB;
CREATE TABLE event_contacts (
    contact_key     BLOB    PRIMARY KEY,
    email           TEXT    NOT NULL
);
DROP INDEX events_contact;
CREATE INDEX events_contact_key ON events (contact_key, id);
CREATE INDEX events_message ON events (message_id, id);
-- Finds the rows whose address is still to be moved (none, once moved), so opening the
-- store does not scan the log.
CREATE INDEX events_unmoved ON events (id) WHERE contact_email IS NOT NULL;
UPDATE events SET actor = CASE source
    WHEN 'UnsubscribeHeader' THEN 'recipient'
    WHEN 'LandingPage' THEN 'recipient'
    WHEN 'Mailto' THEN 'recipient'
    WHEN 'Admin' THEN 'user'
    WHEN 'Import' THEN 'import'
    WHEN 'Api' THEN 'api_key'
    WHEN 'Send' THEN 'api_key'
END;
UPDATE events SET message_id = json_extract(detail, '$.messageId')
    WHERE kind IN ('send', 'reject', 'send.warning') AND json_valid(detail);
