-- Only contacts with UnsubscribeAll are ever looked up through this index (ListContacts
-- filtered to OPT_OUT without a topic); the others walk contacts_list_id. A partial index
-- holds ~1% of the rows instead of all of them, which every insert used to maintain.
DROP INDEX contacts_list_unsub;
CREATE INDEX contacts_list_unsub ON contacts (list_id, id) WHERE unsubscribe_all = TRUE;
