-- Import speed: a foreign-key check is a trigger that runs one look-up query per
-- inserted row, and every preference row had two of them (its contact and its topic).
-- Measured with psql alone, loading 1,000,000 contacts with 1,333,334 preferences in 50
-- batches took 33-38 s with these checks and 25 s without them.
--
-- The store removes a contact's, a topic's or a list's preferences itself, in the same
-- transaction as the delete (see `store/shared.rs`), and every read of preferences joins
-- them to an existing contact and topic. Ids are never reused, so a row left behind by a
-- race with a concurrent delete can never be read as anyone's preference.
ALTER TABLE contact_topic_prefs DROP CONSTRAINT IF EXISTS contact_topic_prefs_contact_id_fkey;
ALTER TABLE contact_topic_prefs DROP CONSTRAINT IF EXISTS contact_topic_prefs_topic_id_fkey;
