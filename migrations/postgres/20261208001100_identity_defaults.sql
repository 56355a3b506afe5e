-- An identity's default configuration set (used for its mail when the sender names
-- none, as SES does) and its tags (JSON [[key, value], ...]).
ALTER TABLE email_identities ADD COLUMN configuration_set TEXT;
ALTER TABLE email_identities ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
