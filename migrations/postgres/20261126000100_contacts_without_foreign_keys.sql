-- Import speed: a foreign-key check is a trigger that runs one look-up query per
-- inserted row. Every contact had one (its list) and every preference two (its contact
-- and its topic). Measured with psql alone, loading 1,000,000 contacts with 1,333,334
-- preferences in 50 batches of 20,000 took 33-38 s with these checks, 19 s without the
-- preferences' and 16 s without any of them (2 cores, PostgreSQL 15, default settings).
--
-- The store deletes a list's contacts and preferences, and a contact's or a topic's
-- preferences, itself, in the same transaction as the delete (see `store/shared.rs` and
-- `store/import.rs`), and every read joins preferences to an existing contact and topic
-- and contacts to an existing list. Ids are never reused, so a row left behind by a race
-- with a concurrent delete can never be read as anyone's.
ALTER TABLE contacts DROP CONSTRAINT IF EXISTS contacts_list_id_fkey;
ALTER TABLE contact_topic_prefs DROP CONSTRAINT IF EXISTS contact_topic_prefs_contact_id_fkey;
ALTER TABLE contact_topic_prefs DROP CONSTRAINT IF EXISTS contact_topic_prefs_topic_id_fkey;
