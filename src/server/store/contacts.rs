//! Contacts and their explicit topic preferences. Every change writes its event (and
//! its webhook deliveries) in the same transaction; adding an address re-applies its
//! tombstone, deleting a contact leaves one.

use super::db::{Conn, on_db};
use super::events::{self, ContactKeyer, NewEvent};
use super::lists::topic_ids;
use super::one_click::Sees;
use super::opt_outs;
use super::sql::{ContactRow, changed_topic, placeholders, preference, prefs_of};
use super::{Audit, SqlStore, StoreError, StoreResult, email_hash, now_ms};
use crate::domain::{
    Contact, ContactList, EmailAddress, SubscriptionStatus, Tombstone, TopicName, TopicPreference,
};
use std::collections::HashMap;

/// How a preference update treats topics it does not mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefMode {
    /// Topics not mentioned keep their explicit preference.
    Merge,
    /// Topics not mentioned lose their explicit preference.
    Replace,
}

/// A change to a contact. `None` fields are left as they are.
#[derive(Debug, Clone)]
pub struct ContactChange {
    pub unsubscribe_all: Option<bool>,
    pub preferences: Option<(PrefMode, Vec<(TopicName, SubscriptionStatus)>)>,
    pub attributes: Option<String>,
}

/// A new contact.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub email: EmailAddress,
    pub unsubscribe_all: bool,
    pub preferences: Vec<(TopicName, SubscriptionStatus)>,
    pub attributes: String,
}

/// ListContacts filtering, in terms of effective status.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub status: Option<SubscriptionStatus>,
    pub topic: Option<TopicFilter>,
    /// Only addresses whose matching key starts with this (admin search). Such a
    /// listing is in matching-key order and pages with `after_key`, not the id.
    pub email_prefix: Option<String>,
    /// With `email_prefix`: only keys after this one (the last key of the previous page).
    pub after_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TopicFilter {
    pub topic: TopicName,
    /// With true, the topic default stands in for a missing explicit preference; with
    /// false only contacts with an explicit preference are considered.
    pub use_default: bool,
}

/// Contact storage; a part of `Store`.
#[async_trait::async_trait]
pub trait ContactStore {
    async fn count_contacts(&self, list_id: i64) -> StoreResult<i64>;
    /// Adds a contact; a tombstone for the address re-applies its opt-outs.
    async fn create_contact(
        &self,
        list: &ContactList,
        new: &NewContact,
        audit: &Audit,
    ) -> StoreResult<Contact>;
    async fn get_contact(&self, list: &ContactList, email: &EmailAddress) -> StoreResult<Contact>;
    async fn get_contact_by_hash(&self, list: &ContactList, hash: &[u8]) -> StoreResult<Contact>;
    /// Applies a change and, when preferences changed, writes a subscription event in the
    /// same transaction. Returns the contact before and after.
    async fn update_contact(
        &self,
        list: &ContactList,
        email: &EmailAddress,
        change: &ContactChange,
        audit: &Audit,
    ) -> StoreResult<(Contact, Contact)>;
    /// Deletes a contact, keeping a tombstone of its opt-outs.
    async fn delete_contact(
        &self,
        list: &ContactList,
        email: &EmailAddress,
        audit: &Audit,
    ) -> StoreResult<()>;
    /// Keyset-paged listing in id order after `after_id` (with an address prefix: in
    /// matching-key order after `filter.after_key`).
    async fn list_contacts(
        &self,
        list: &ContactList,
        filter: &ContactFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Contact>>;
}

/// How a contact is looked up.
#[derive(Debug, Clone, Copy)]
pub(super) enum By<'a> {
    /// Its address's matching key.
    Key(&'a str),
    /// Its address hash ([`email_hash`]).
    Hash(&'a [u8]),
}

/// `SELECT` of a contact with one of its explicit preferences per row (or one row of
/// NULLs), by the unique index, then primary keys; the statement's tail follows.
macro_rules! contact_rows {
    ($($tail:literal),+) => {
        concat!(
            "SELECT c.id, c.email, c.unsubscribe_all, c.attributes, c.created_at, \
             c.updated_at, c.paused_until, t.name AS topic, p.opt_in, l.name AS list_name \
             FROM contacts c JOIN contact_lists l ON l.id = c.list_id \
             LEFT JOIN contact_topic_prefs p ON p.contact_id = c.id \
             LEFT JOIN topics t ON t.id = p.topic_id ",
            $($tail),+
        )
    };
}

/// A contact of a list by its address hash (`$1` the list id, `$2` the hash).
pub(super) const BY_HASH_SQL: &str =
    contact_rows!("WHERE c.list_id = $1 AND c.email_hash = $2 ORDER BY t.name");
/// A contact of a list by its matching key.
const BY_KEY_SQL: &str = contact_rows!("WHERE c.list_id = $1 AND c.email_key = $2 ORDER BY t.name");
/// The contacts of an address hash on every list, by list.
pub(super) const OF_ADDRESS_SQL: &str =
    contact_rows!("WHERE c.email_hash = $1 ORDER BY l.name, t.name");

/// A row of [`contact_rows!`]: a contact with one of its explicit preferences (or none),
/// and its list's name.
#[derive(sqlx::FromRow)]
pub(super) struct PrefRow {
    #[sqlx(flatten)]
    pub contact: ContactRow,
    pub topic: Option<String>,
    pub opt_in: Option<bool>,
    pub list_name: String,
}

/// A contact with its explicit preferences.
pub(super) async fn read(c: Conn<'_>, list_id: i64, by: By<'_>) -> StoreResult<Contact> {
    let rows: Vec<PrefRow> = on_db!(c, |c| {
        let q = match by {
            By::Key(k) => sqlx::query_as(BY_KEY_SQL).bind(list_id).bind(k),
            By::Hash(h) => sqlx::query_as(BY_HASH_SQL).bind(list_id).bind(h),
        };
        q.fetch_all(c).await?
    });
    contacts(rows)?
        .pop()
        .map(|(_, c)| c)
        .ok_or(StoreError::NotFound)
}

/// The contacts in rows of [`contact_rows!`] (a contact's rows are adjacent), each with
/// its list's name.
pub(super) fn contacts(rows: Vec<PrefRow>) -> StoreResult<Vec<(String, Contact)>> {
    let mut out: Vec<(String, Contact)> = Vec::new();
    let mut current: Option<(String, ContactRow, Vec<TopicPreference>)> = None;
    for r in rows {
        if current
            .as_ref()
            .is_some_and(|(_, c, _)| c.id != r.contact.id)
        {
            let (list, row, prefs) = current.take().expect("checked");
            out.push((list, row.into_contact(prefs)?));
        }
        let (_, _, prefs) = current.get_or_insert((r.list_name, r.contact, Vec::new()));
        if let (Some(name), Some(opt_in)) = (&r.topic, r.opt_in) {
            prefs.push(preference(name, opt_in)?);
        }
    }
    if let Some((list, row, prefs)) = current {
        out.push((list, row.into_contact(prefs)?));
    }
    Ok(out)
}

/// Writes explicit preferences (`ids`: the list's topic ids by name).
async fn put_prefs(
    mut c: Conn<'_>,
    contact_id: i64,
    ids: &HashMap<String, i64>,
    prefs: &[(TopicName, SubscriptionStatus)],
) -> StoreResult<()> {
    for (topic, status) in prefs {
        let tid = *ids.get(topic.as_str()).ok_or(StoreError::NotFound)?;
        on_db!(c.re(), |c| {
            sqlx::query(
                "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in",
            )
            .bind(contact_id)
            .bind(tid)
            .bind(*status == SubscriptionStatus::OptIn)
            .execute(c)
            .await?;
        });
    }
    Ok(())
}

/// Applies a change in the caller's transaction (see [`ContactStore::update_contact`]).
pub(super) async fn update(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    list: &ContactList,
    email: &EmailAddress,
    change: &ContactChange,
    audit: &Audit,
) -> StoreResult<(Contact, Contact)> {
    let key = email.key();
    let old = read(c.re(), list.id, By::Key(&key)).await?;
    if let Some((mode, prefs)) = &change.preferences {
        if *mode == PrefMode::Replace {
            on_db!(c.re(), |c| {
                sqlx::query("DELETE FROM contact_topic_prefs WHERE contact_id = $1")
                    .bind(old.id)
                    .execute(c)
                    .await?;
            });
        }
        let ids = topic_ids(c.re(), list.id).await?;
        put_prefs(c.re(), old.id, &ids, prefs).await?;
    }
    let unsub = change.unsubscribe_all.unwrap_or(old.unsubscribe_all);
    let attrs = change
        .attributes
        .clone()
        .unwrap_or_else(|| old.attributes.clone());
    on_db!(c.re(), |c| {
        sqlx::query("UPDATE contacts SET unsubscribe_all = $1, attributes = $2 WHERE id = $3")
            .bind(unsub)
            .bind(&attrs)
            .bind(old.id)
            .execute(c)
            .await?;
    });
    let mut new = read(c.re(), list.id, By::Key(&key)).await?;
    let prefs_changed =
        new.unsubscribe_all != old.unsubscribe_all || new.preferences != old.preferences;
    if prefs_changed || new.attributes != old.attributes {
        let now = now_ms();
        on_db!(c.re(), |c| {
            sqlx::query("UPDATE contacts SET updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(old.id)
                .execute(c)
                .await?;
        });
        new.updated_at = now;
    }
    if prefs_changed {
        events::write(
            c,
            keyer,
            NewEvent::new("subscription", audit, serde_json::json!({}))
                .list(list.name.as_str())
                .topic(changed_topic(&old, &new).as_deref())
                .contact(new.email.as_str())
                .prefs(Some(&prefs_of(&old)), Some(&prefs_of(&new))),
        )
        .await?;
    }
    Ok((old, new))
}

#[async_trait::async_trait]
impl ContactStore for SqlStore {
    async fn count_contacts(&self, list_id: i64) -> StoreResult<i64> {
        let db = self.settled(Sees::All).await?;
        Ok(on_db!(db.read(), |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE list_id = $1")
                .bind(list_id)
                .fetch_one(p)
                .await?
        }))
    }

    async fn create_contact(
        &self,
        list: &ContactList,
        new: &NewContact,
        audit: &Audit,
    ) -> StoreResult<Contact> {
        let hash = email_hash(&new.email);
        let db = self.settled(Sees::Contact(list.id, &hash)).await?;
        let mut tx = db.write().begin().await?;
        let keyer = self.pools.keyer();
        let tomb = opt_outs::tombstone(tx.conn(), keyer, list.name.as_str(), &hash).await?;
        let mut unsubscribe_all = new.unsubscribe_all;
        let mut prefs = new.preferences.clone();
        if let Some(t) = &tomb {
            // A recorded opt-out wins over whatever the caller asked for.
            unsubscribe_all |= t.unsubscribe_all;
            for topic in &t.opted_out_topics {
                if list.topic(topic.as_str()).is_none() {
                    continue;
                }
                prefs.retain(|(n, _)| n != topic);
                prefs.push((topic.clone(), SubscriptionStatus::OptOut));
            }
        }
        let now = now_ms();
        let id: i64 = on_db!(tx.conn(), |c| {
            sqlx::query_scalar(
                "INSERT INTO contacts (list_id, email, email_key, email_hash, unsubscribe_all, \
                 attributes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            )
            .bind(list.id)
            .bind(new.email.as_str())
            .bind(new.email.key())
            .bind(&hash)
            .bind(unsubscribe_all)
            .bind(&new.attributes)
            .bind(now)
            .fetch_one(c)
            .await?
        });
        let ids = topic_ids(tx.conn(), list.id).await?;
        put_prefs(tx.conn(), id, &ids, &prefs).await?;
        if let Some(t) = &tomb {
            // What the contact now holds leaves the tombstone; opt-outs of topics the
            // list does not have stay for a topic of that name.
            opt_outs::put(tx.conn(), keyer, list.name.as_str(), &hash, &t.beyond(list)).await?;
        }
        let contact = read(tx.conn(), list.id, By::Key(&new.email.key())).await?;
        events::write(
            tx.conn(),
            self.pools.keyer(),
            NewEvent::new(
                "contact.created",
                audit,
                serde_json::json!({ "tombstoneApplied": tomb.is_some() }),
            )
            .list(list.name.as_str())
            .contact(contact.email.as_str())
            .prefs(None, Some(&prefs_of(&contact))),
        )
        .await?;
        tx.commit().await?;
        Ok(contact)
    }

    async fn get_contact(&self, list: &ContactList, email: &EmailAddress) -> StoreResult<Contact> {
        let db = self
            .settled(Sees::Contact(list.id, &email_hash(email)))
            .await?;
        let mut c = db.read().acquire().await?;
        read(c.conn(), list.id, By::Key(&email.key())).await
    }

    async fn get_contact_by_hash(&self, list: &ContactList, hash: &[u8]) -> StoreResult<Contact> {
        let db = self.settled(Sees::Contact(list.id, hash)).await?;
        if let Some(inline) = &self.inline {
            let rows = inline.contact_by_hash(list.id, hash)?;
            return contacts(rows)?
                .pop()
                .map(|(_, c)| c)
                .ok_or(StoreError::NotFound);
        }
        let mut c = db.read().acquire().await?;
        read(c.conn(), list.id, By::Hash(hash)).await
    }

    async fn update_contact(
        &self,
        list: &ContactList,
        email: &EmailAddress,
        change: &ContactChange,
        audit: &Audit,
    ) -> StoreResult<(Contact, Contact)> {
        let db = self
            .settled(Sees::Contact(list.id, &email_hash(email)))
            .await?;
        let mut tx = db.write().begin().await?;
        let r = update(tx.conn(), self.pools.keyer(), list, email, change, audit).await?;
        tx.commit().await?;
        Ok(r)
    }

    async fn delete_contact(
        &self,
        list: &ContactList,
        email: &EmailAddress,
        audit: &Audit,
    ) -> StoreResult<()> {
        let db = self
            .settled(Sees::Contact(list.id, &email_hash(email)))
            .await?;
        let mut tx = db.write().begin().await?;
        let old = read(tx.conn(), list.id, By::Key(&email.key())).await?;
        let tomb = Tombstone {
            unsubscribe_all: old.unsubscribe_all,
            opted_out_topics: old
                .preferences
                .iter()
                .filter(|p| p.status == SubscriptionStatus::OptOut)
                .map(|p| p.topic.clone())
                .collect(),
        };
        if !tomb.is_empty() {
            let adds = [(email_hash(&old.email), tomb.clone())];
            opt_outs::merge(tx.conn(), self.pools.keyer(), list.name.as_str(), &adds).await?;
        }
        on_db!(tx.conn(), |c| {
            sqlx::query("DELETE FROM contact_topic_prefs WHERE contact_id = $1")
                .bind(old.id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM contacts WHERE id = $1")
                .bind(old.id)
                .execute(c)
                .await?;
        });
        events::write(
            tx.conn(),
            self.pools.keyer(),
            NewEvent::new(
                "contact.deleted",
                audit,
                serde_json::json!({ "tombstone": !tomb.is_empty() }),
            )
            .list(list.name.as_str())
            .contact(old.email.as_str())
            .prefs(Some(&prefs_of(&old)), None),
        )
        .await?;
        tx.commit().await
    }

    async fn list_contacts(
        &self,
        list: &ContactList,
        filter: &ContactFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Contact>> {
        let db = self.settled(Sees::All).await?;
        let mut conn = db.read().acquire().await?;
        let mut c = conn.conn();
        let topic = match &filter.topic {
            Some(tf) => {
                let t = list.topic(tf.topic.as_str()).ok_or(StoreError::NotFound)?;
                let id: Option<i64> = on_db!(c.re(), |c| {
                    sqlx::query_scalar("SELECT id FROM topics WHERE list_id = $1 AND name = $2")
                        .bind(list.id)
                        .bind(tf.topic.as_str())
                        .fetch_optional(c)
                        .await?
                });
                let id = id.ok_or(StoreError::NotFound)?;
                Some((
                    id,
                    t.default_status == SubscriptionStatus::OptIn,
                    tf.use_default,
                ))
            }
            None => None,
        };
        let rows = page(c.re(), list.id, filter, topic, after_id, limit).await?;
        let mut out: Vec<Contact> = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(r.into_contact(Vec::new())?);
        }
        let (Some(first), Some(last)) = (
            out.iter().map(|c| c.id).min(),
            out.iter().map(|c| c.id).max(),
        ) else {
            return Ok(out);
        };
        // Step 2: their explicit preferences. Pages in id order: one primary-key range
        // scan; pages in address order (ids scattered): the ids themselves. A scalar
        // subquery for the name keeps the plan on the primary key; as a join, SQLite
        // (without statistics) walked every preference of each topic.
        let head = "SELECT p.contact_id, \
                    (SELECT t.name FROM topics t WHERE t.id = p.topic_id) AS name, p.opt_in \
                    FROM contact_topic_prefs p WHERE";
        let prefs: Vec<(i64, Option<String>, bool)> = if filter.email_prefix.is_none() {
            let sql = format!(
                "{head} p.contact_id >= $1 AND p.contact_id <= $2 ORDER BY p.contact_id, name"
            );
            on_db!(c, |c| {
                sqlx::query_as(&sql)
                    .bind(first)
                    .bind(last)
                    .fetch_all(c)
                    .await?
            })
        } else {
            let sql = format!(
                "{head} p.contact_id IN ({}) ORDER BY p.contact_id, name",
                placeholders(1, out.len())
            );
            on_db!(c, |c| {
                let mut q = sqlx::query_as(&sql);
                for contact in &out {
                    q = q.bind(contact.id);
                }
                q.fetch_all(c).await?
            })
        };
        let index: HashMap<i64, usize> = out.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        for (cid, name, opt_in) in prefs {
            // A preference whose topic is gone (left by a race with a topic's delete on
            // PostgreSQL, which has no foreign keys here) is no one's.
            if let (Some(&i), Some(name)) = (index.get(&cid), name) {
                out[i].preferences.push(preference(&name, opt_in)?);
            }
        }
        Ok(out)
    }
}

/// The contacts of one ListContacts page, without preferences. `topic`: the filtered
/// topic's id, whether its default is OPT_IN, and UseDefaultIfPreferenceUnavailable.
async fn page(
    mut c: Conn<'_>,
    list_id: i64,
    filter: &ContactFilter,
    topic: Option<(i64, bool, bool)>,
    after_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<ContactRow>> {
    let cols = "c.id, c.email, c.unsubscribe_all, c.attributes, c.created_at, c.updated_at, \
                c.paused_until";
    let join = if topic.is_some() {
        " LEFT JOIN contact_topic_prefs f ON f.contact_id = c.id AND f.topic_id = $4"
    } else {
        ""
    };
    let cond = filter_sql(filter.status, topic.map(|(_, d, u)| (d, u)));
    let sparse = topic.and_then(|(tid, d, u)| Some((tid, sparse_branches(filter.status, (d, u))?)));
    if let Some(p) = &filter.email_prefix {
        // Prefix search: a range of the (list_id, email_key) index in key order, keyset on
        // the key; the topic condition is checked per row.
        let sql = format!(
            "SELECT {cols} FROM contacts c{join} WHERE c.list_id = $1 \
             AND c.email_key >= $5 AND c.email_key < $6 \
             AND c.email_key > $2{cond} ORDER BY c.email_key LIMIT $3"
        );
        return Ok(on_db!(c, |c| {
            sqlx::query_as(&sql)
                .bind(list_id)
                .bind(filter.after_key.clone().unwrap_or_default())
                .bind(limit as i64)
                .bind(topic.map(|t| t.0).unwrap_or(0))
                .bind(p.clone())
                .bind(format!("{p}\u{10FFFF}"))
                .fetch_all(c)
                .await?
        }));
    }
    if let Some((tid, branches)) = sparse {
        // A filter only explicit preferences (or UnsubscribeAll) can satisfy: each branch
        // walks an index holding just its matches in contact id order, so a page costs
        // its own rows even when matches are rare. (`c.id > $2` as well: without it
        // PostgreSQL merge-joins from the list's first contact.)
        let mut merged: Vec<ContactRow> = Vec::new();
        for b in branches {
            let (sql, uses_topic) = match b {
                Branch::Pref(opt_in, extra) => (
                    format!(
                        "SELECT {cols} FROM contact_topic_prefs f \
                         JOIN contacts c ON c.id = f.contact_id \
                         WHERE f.topic_id = $4 AND f.opt_in = {opt_in} AND f.contact_id > $2 \
                         AND c.id > $2 AND c.list_id = $1{extra} \
                         ORDER BY f.contact_id LIMIT $3"
                    ),
                    true,
                ),
                Branch::Unsub => (
                    format!(
                        "SELECT {cols} FROM contacts c WHERE c.list_id = $1 \
                         AND c.unsubscribe_all = TRUE AND c.id > $2 ORDER BY c.id LIMIT $3"
                    ),
                    false,
                ),
                Branch::Paused => (
                    format!(
                        "SELECT {cols} FROM contacts c WHERE c.list_id = $1 \
                         AND c.paused_until IS NOT NULL AND c.id > $2 ORDER BY c.id LIMIT $3"
                    ),
                    false,
                ),
            };
            let rows: Vec<ContactRow> = on_db!(c.re(), |c| {
                let mut q = sqlx::query_as(&sql)
                    .bind(list_id)
                    .bind(after_id.unwrap_or(0))
                    .bind(limit as i64);
                if uses_topic {
                    q = q.bind(tid);
                }
                q.fetch_all(c).await?
            });
            merged.extend(rows);
        }
        merged.sort_by_key(|r| r.id);
        merged.dedup_by_key(|r| r.id);
        merged.truncate(limit as usize);
        return Ok(merged);
    }
    // The page of contacts, walking (list_id, id) in order.
    let sql = format!(
        "SELECT {cols} FROM contacts c{join} WHERE c.list_id = $1 AND c.id > $2{cond} \
         ORDER BY c.id LIMIT $3"
    );
    Ok(on_db!(c, |c| {
        let mut q = sqlx::query_as(&sql)
            .bind(list_id)
            .bind(after_id.unwrap_or(0))
            .bind(limit as i64);
        if let Some(t) = topic {
            q = q.bind(t.0);
        }
        q.fetch_all(c).await?
    }))
}

/// The WHERE conditions (after `c.list_id = $1 AND c.id > $2`) of a ListContacts filter
/// in terms of effective status. `f` is the contact's row for the filtered topic (`$4`),
/// LEFT JOINed by primary key, so every condition is checked per contact by index
/// look-ups while walking contacts in id order: no plan ever scans all preferences.
/// `topic` is `(default is OPT_IN, UseDefaultIfPreferenceUnavailable)`.
fn filter_sql(status: Option<SubscriptionStatus>, topic: Option<(bool, bool)>) -> &'static str {
    use SubscriptionStatus::*;
    // A paused contact (`paused_until` set) counts as OPT_OUT everywhere, as UnsubscribeAll
    // does: the sweeper clears the column once the pause is over.
    match (status, topic) {
        (None, None) => "",
        (Some(OptOut), None) => " AND (c.unsubscribe_all = TRUE OR c.paused_until IS NOT NULL)",
        (Some(OptIn), None) => " AND c.unsubscribe_all = FALSE AND c.paused_until IS NULL",
        (None, Some((_, true))) => "",
        (None, Some((_, false))) => " AND f.opt_in IS NOT NULL",
        // Without defaults only explicit preferences count; with an OPT_OUT default a
        // missing preference is not OPT_IN either.
        (Some(OptIn), Some((false, _))) | (Some(OptIn), Some((true, false))) => {
            " AND c.unsubscribe_all = FALSE AND c.paused_until IS NULL AND f.opt_in = TRUE"
        }
        (Some(OptIn), Some((true, true))) => {
            " AND c.unsubscribe_all = FALSE AND c.paused_until IS NULL \
             AND (f.opt_in IS NULL OR f.opt_in = TRUE)"
        }
        (Some(OptOut), Some((_, false))) => {
            " AND (f.opt_in = FALSE OR ((c.unsubscribe_all = TRUE OR c.paused_until IS NOT NULL) \
             AND f.opt_in IS NOT NULL))"
        }
        (Some(OptOut), Some((true, true))) => {
            " AND (c.unsubscribe_all = TRUE OR c.paused_until IS NOT NULL OR f.opt_in = FALSE)"
        }
        (Some(OptOut), Some((false, true))) => {
            " AND (c.unsubscribe_all = TRUE OR c.paused_until IS NOT NULL OR f.opt_in IS NULL \
             OR f.opt_in = FALSE)"
        }
    }
}

/// One index walk of a sparse ListContacts filter (see [`sparse_branches`]).
enum Branch {
    /// Preferences of the topic with this `opt_in`, in contact order, joined to their
    /// contact, with an extra condition on the contact.
    Pref(&'static str, &'static str),
    /// Contacts with UnsubscribeAll (the partial index), in id order.
    Unsub,
    /// Paused contacts (the partial index), in id order.
    Paused,
}

/// For filters only an explicit preference or UnsubscribeAll can satisfy, index walks
/// whose union is exactly the filter's matches, each in contact id order; `None` for
/// filters most contacts satisfy (walking the list in id order finds a page quickly).
/// `topic` is `(default is OPT_IN, UseDefaultIfPreferenceUnavailable)`.
fn sparse_branches(status: Option<SubscriptionStatus>, topic: (bool, bool)) -> Option<Vec<Branch>> {
    use SubscriptionStatus::*;
    Some(match (status, topic) {
        (Some(OptIn), (false, _)) | (Some(OptIn), (true, false)) => {
            vec![Branch::Pref(
                "TRUE",
                " AND c.unsubscribe_all = FALSE AND c.paused_until IS NULL",
            )]
        }
        (Some(OptOut), (true, true)) => {
            vec![Branch::Pref("FALSE", ""), Branch::Unsub, Branch::Paused]
        }
        (Some(OptOut), (_, false)) => vec![
            Branch::Pref("FALSE", ""),
            Branch::Pref(
                "TRUE",
                " AND (c.unsubscribe_all = TRUE OR c.paused_until IS NOT NULL)",
            ),
        ],
        (None, (_, false)) => vec![Branch::Pref("FALSE", ""), Branch::Pref("TRUE", "")],
        _ => return None,
    })
}
