-- What an import job fills: a contact list (list_name names it) or the account
-- suppression list (list_name is empty).
ALTER TABLE import_jobs ADD COLUMN destination TEXT NOT NULL DEFAULT 'CONTACT_LIST';
