//! The SQL both backends share. SQLite (3.35+) and PostgreSQL accept the same text for
//! everything here — `$N` placeholders, `RETURNING`, `ON CONFLICT … DO UPDATE` — so the
//! statements are written once and instantiated per backend by `impl_store!`. What truly
//! differs (pool set-up, pragmas, migrations) stays in `sqlite.rs` and `postgres.rs`.

use super::{Audit, StoreError, StoreResult};
use crate::domain::{
    Branding, Contact, EmailAddress, ListName, Preferences, SubscriptionStatus, Tag, Tombstone,
    Topic, TopicName, TopicPreference,
};

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("corrupt {what} in the database"))
}

pub(super) fn status(opt_in: bool) -> SubscriptionStatus {
    if opt_in {
        SubscriptionStatus::OptIn
    } else {
        SubscriptionStatus::OptOut
    }
}

pub(super) fn parse_topic(
    name: String,
    display_name: String,
    description: String,
    default_opt_in: bool,
    hidden: bool,
) -> Result<Topic, StoreError> {
    Ok(Topic {
        name: TopicName::parse(&name).map_err(|_| corrupt("topic name"))?,
        display_name,
        description,
        default_status: status(default_opt_in),
        hidden,
    })
}

pub(super) fn parse_list_parts(
    name: &str,
    tags: &str,
    branding: &str,
) -> Result<(ListName, Vec<Tag>, Branding), StoreError> {
    Ok((
        ListName::parse(name).map_err(|_| corrupt("list name"))?,
        serde_json::from_str(tags).map_err(|_| corrupt("tags"))?,
        serde_json::from_str(branding).map_err(|_| corrupt("branding"))?,
    ))
}

pub(super) fn contact_from(
    id: i64,
    email: &str,
    unsubscribe_all: bool,
    attributes: String,
    created_at: i64,
    updated_at: i64,
    preferences: Vec<TopicPreference>,
) -> Result<Contact, StoreError> {
    Ok(Contact {
        id,
        email: EmailAddress::parse(email).map_err(|_| corrupt("address"))?,
        unsubscribe_all,
        preferences,
        attributes,
        created_at,
        updated_at,
    })
}

pub(super) fn prefs_of(c: &Contact) -> Preferences {
    Preferences {
        unsubscribe_all: c.unsubscribe_all,
        topics: c.preferences.clone(),
    }
}

/// The one topic a change touched, if exactly one did.
pub(super) fn changed_topic(old: &Contact, new: &Contact) -> Option<String> {
    let mut names: Vec<&str> = old
        .preferences
        .iter()
        .chain(new.preferences.iter())
        .map(|p| p.topic.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let changed: Vec<&str> = names
        .into_iter()
        .filter(|n| old.explicit(n) != new.explicit(n))
        .collect();
    (changed.len() == 1).then(|| changed[0].to_owned())
}

/// An event about to be written inside a store transaction.
pub(super) struct NewEvent<'a> {
    pub kind: &'a str,
    pub audit: Option<&'a Audit>,
    pub list_name: Option<&'a str>,
    pub topic_name: Option<&'a str>,
    pub contact_email: Option<&'a str>,
    pub old: Option<&'a Preferences>,
    pub new: Option<&'a Preferences>,
    pub detail: serde_json::Value,
}

/// `$start, $start+1, …` — `n` placeholders for an `IN (…)` list.
/// `$1, $2, …` rewritten as `?` when they appear exactly in that order (so binding
/// order is unchanged); otherwise the statement as it is. For SQLite: sqlx looks up
/// the name of every numbered parameter, and SQLite's lookup walks a list, which makes
/// a statement with thousands of `$N` parameters quadratic to bind.
pub(super) fn positional(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut expect, mut i, mut last) = (1usize, 0usize, 0usize);
    while i < b.len() {
        if b[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > start {
                if sql[start..j].parse::<usize>().ok() != Some(expect) {
                    return sql.to_owned();
                }
                expect += 1;
                out.push_str(&sql[last..i]);
                out.push('?');
                last = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&sql[last..]);
    out
}

/// How long a list read through [`ListCache`] may be reused. Writes through the same
/// store invalidate at once; this bounds staleness for writes by other processes sharing
/// the database (other instances on PostgreSQL, the CLI).
pub const LIST_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Lists (with topics and branding) read on the recipient path, kept for
/// [`LIST_CACHE_TTL`]. A generation counter keeps a read that raced an invalidation from
/// being stored.
#[derive(Default)]
pub(super) struct ListCache {
    inner: std::sync::Mutex<ListCacheInner>,
}

#[derive(Default)]
struct ListCacheInner {
    generation: u64,
    lists: std::collections::HashMap<
        String,
        (
            std::time::Instant,
            std::sync::Arc<crate::domain::ContactList>,
        ),
    >,
}

impl ListCache {
    /// Bounds memory if a deployment has very many lists.
    const MAX_ENTRIES: usize = 1024;

    fn lock(&self) -> std::sync::MutexGuard<'_, ListCacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh cached copy, or the generation to pass to [`ListCache::put`].
    pub fn get(&self, name: &str) -> Result<std::sync::Arc<crate::domain::ContactList>, u64> {
        let g = self.lock();
        match g.lists.get(name) {
            Some((at, list)) if at.elapsed() < LIST_CACHE_TTL => Ok(list.clone()),
            _ => Err(g.generation),
        }
    }

    pub fn put(&self, generation: u64, list: &std::sync::Arc<crate::domain::ContactList>) {
        let mut g = self.lock();
        if g.generation != generation {
            return;
        }
        if g.lists.len() >= Self::MAX_ENTRIES {
            g.lists.clear();
        }
        g.lists.insert(
            list.name.as_str().to_owned(),
            (std::time::Instant::now(), list.clone()),
        );
    }

    /// Called after every list write of this store.
    pub fn invalidate(&self) {
        let mut g = self.lock();
        g.generation += 1;
        g.lists.clear();
    }
}

pub(super) fn placeholders(start: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(start + i).to_string());
    }
    s
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A tombstone row's columns as the domain type.
pub(super) fn tombstone_from(unsubscribe_all: bool, topics: &str) -> StoreResult<Tombstone> {
    Ok(Tombstone {
        unsubscribe_all,
        opted_out_topics: serde_json::from_str(topics).map_err(|_| corrupt("tombstone"))?,
    })
}

/// The WHERE conditions (after `c.list_id = $1 AND c.id > $2`) of a ListContacts filter
/// in terms of effective status. `f` is the contact's row for the filtered topic (`$4`),
/// LEFT JOINed by primary key, so every condition is checked per contact by index
/// look-ups while walking contacts in id order: no plan ever scans all preferences.
/// `topic` is `(default is OPT_IN, UseDefaultIfPreferenceUnavailable)`.
pub(super) fn filter_sql(
    status: Option<SubscriptionStatus>,
    topic: Option<(bool, bool)>,
) -> &'static str {
    use SubscriptionStatus::*;
    match (status, topic) {
        (None, None) => "",
        (Some(OptOut), None) => " AND c.unsubscribe_all = TRUE",
        (Some(OptIn), None) => " AND c.unsubscribe_all = FALSE",
        (None, Some((_, true))) => "",
        (None, Some((_, false))) => " AND f.opt_in IS NOT NULL",
        // Without defaults only explicit preferences count; with an OPT_OUT default a
        // missing preference is not OPT_IN either.
        (Some(OptIn), Some((false, _))) | (Some(OptIn), Some((true, false))) => {
            " AND c.unsubscribe_all = FALSE AND f.opt_in = TRUE"
        }
        (Some(OptIn), Some((true, true))) => {
            " AND c.unsubscribe_all = FALSE AND (f.opt_in IS NULL OR f.opt_in = TRUE)"
        }
        (Some(OptOut), Some((_, false))) => {
            " AND (f.opt_in = FALSE OR (c.unsubscribe_all = TRUE AND f.opt_in IS NOT NULL))"
        }
        (Some(OptOut), Some((true, true))) => " AND (c.unsubscribe_all = TRUE OR f.opt_in = FALSE)",
        (Some(OptOut), Some((false, true))) => {
            " AND (c.unsubscribe_all = TRUE OR f.opt_in IS NULL OR f.opt_in = FALSE)"
        }
    }
}

/// One index walk of a sparse ListContacts filter (see `sparse_branches`).
pub(super) enum Branch {
    /// Preferences of the topic with this `opt_in`, in contact order, joined to their
    /// contact, with an extra condition on the contact.
    Pref(&'static str, &'static str),
    /// Contacts with UnsubscribeAll (the partial index), in id order.
    Unsub,
}

/// For filters only an explicit preference or UnsubscribeAll can satisfy, index walks
/// whose union is exactly the filter's matches, each in contact id order; `None` for
/// filters most contacts satisfy (walking the list in id order finds a page quickly).
/// `topic` is `(default is OPT_IN, UseDefaultIfPreferenceUnavailable)`.
pub(super) fn sparse_branches(
    status: Option<SubscriptionStatus>,
    topic: (bool, bool),
) -> Option<Vec<Branch>> {
    use SubscriptionStatus::*;
    Some(match (status, topic) {
        (Some(OptIn), (false, _)) | (Some(OptIn), (true, false)) => {
            vec![Branch::Pref("TRUE", " AND c.unsubscribe_all = FALSE")]
        }
        (Some(OptOut), (true, true)) => vec![Branch::Pref("FALSE", ""), Branch::Unsub],
        (Some(OptOut), (_, false)) => vec![
            Branch::Pref("FALSE", ""),
            Branch::Pref("TRUE", " AND c.unsubscribe_all = TRUE"),
        ],
        (None, (_, false)) => vec![Branch::Pref("FALSE", ""), Branch::Pref("TRUE", "")],
        _ => return None,
    })
}

/// Generates `impl Store` for a backend from the shared SQL above.
macro_rules! impl_store {
    ($store:ty, $conn:ty, $backend:expr) => {
        impl $store {
            async fn q_list(
                conn: &mut $conn,
                id: Option<i64>,
                name: Option<&str>,
            ) -> StoreResult<ContactList> {
                let q = "SELECT id, name, description, tags, branding, created_at, updated_at FROM contact_lists";
                let row = match (id, name) {
                    (Some(id), _) => sqlx::query(&format!("{q} WHERE id = $1")).bind(id).fetch_optional(&mut *conn).await?,
                    (None, Some(n)) => sqlx::query(&format!("{q} WHERE name = $1")).bind(n).fetch_optional(&mut *conn).await?,
                    (None, None) => None,
                };
                let row = row.ok_or(StoreError::NotFound)?;
                let id: i64 = row.try_get("id")?;
                let (name, tags, branding) = shared::parse_list_parts(
                    &row.try_get::<String, _>("name")?,
                    &row.try_get::<String, _>("tags")?,
                    &row.try_get::<String, _>("branding")?,
                )?;
                let topics = sqlx::query(
                    "SELECT name, display_name, description, default_opt_in, hidden FROM topics WHERE list_id = $1 ORDER BY position",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|r| {
                    shared::parse_topic(
                        r.try_get("name")?,
                        r.try_get("display_name")?,
                        r.try_get("description")?,
                        r.try_get("default_opt_in")?,
                        r.try_get("hidden")?,
                    )
                })
                .collect::<StoreResult<Vec<_>>>()?;
                Ok(ContactList {
                    id,
                    name,
                    description: row.try_get("description")?,
                    topics,
                    tags,
                    branding,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            async fn q_topic_ids(conn: &mut $conn, list_id: i64) -> StoreResult<std::collections::HashMap<String, i64>> {
                let rows = sqlx::query("SELECT id, name FROM topics WHERE list_id = $1")
                    .bind(list_id)
                    .fetch_all(&mut *conn)
                    .await?;
                rows.into_iter()
                    .map(|r| Ok((r.try_get::<String, _>("name")?, r.try_get::<i64, _>("id")?)))
                    .collect()
            }

            async fn q_contact(
                conn: &mut $conn,
                list_id: i64,
                key: Option<&str>,
                hash: Option<&[u8]>,
            ) -> StoreResult<Contact> {
                // One statement: the contact and its explicit preferences (one row each,
                // or one row of NULLs), by the unique index, then primary keys.
                let q = "SELECT c.id, c.email, c.unsubscribe_all, c.attributes, c.created_at, c.updated_at, t.name AS topic, p.opt_in \
                         FROM contacts c LEFT JOIN contact_topic_prefs p ON p.contact_id = c.id LEFT JOIN topics t ON t.id = p.topic_id \
                         WHERE c.list_id = $1";
                let rows = match (key, hash) {
                    (Some(k), _) => sqlx::query(&format!("{q} AND c.email_key = $2 ORDER BY t.name")).bind(list_id).bind(k).fetch_all(&mut *conn).await?,
                    (None, Some(h)) => sqlx::query(&format!("{q} AND c.email_hash = $2 ORDER BY t.name")).bind(list_id).bind(h).fetch_all(&mut *conn).await?,
                    (None, None) => Vec::new(),
                };
                let row = rows.first().ok_or(StoreError::NotFound)?;
                let mut prefs = Vec::with_capacity(rows.len());
                for r in &rows {
                    if let (Some(name), Some(opt_in)) = (r.try_get::<Option<String>, _>("topic")?, r.try_get::<Option<bool>, _>("opt_in")?) {
                        prefs.push(TopicPreference {
                            topic: TopicName::parse(&name).map_err(|_| shared::corrupt("topic name"))?,
                            status: shared::status(opt_in),
                        });
                    }
                }
                shared::contact_from(
                    row.try_get("id")?,
                    &row.try_get::<String, _>("email")?,
                    row.try_get("unsubscribe_all")?,
                    row.try_get("attributes")?,
                    row.try_get("created_at")?,
                    row.try_get("updated_at")?,
                    prefs,
                )
            }

            async fn q_tombstone(conn: &mut $conn, list_name: &str, hash: &[u8]) -> StoreResult<Option<Tombstone>> {
                let row = sqlx::query("SELECT unsubscribe_all, topics FROM tombstones WHERE list_name = $1 AND email_hash = $2")
                    .bind(list_name)
                    .bind(hash)
                    .fetch_optional(&mut *conn)
                    .await?;
                row.map(|r| shared::tombstone_from(r.try_get("unsubscribe_all")?, &r.try_get::<String, _>("topics")?))
                    .transpose()
            }

            /// Writes an address's tombstone as it is given; an empty one removes the row.
            async fn q_put_tombstone(conn: &mut $conn, list_name: &str, hash: &[u8], t: &Tombstone) -> StoreResult<()> {
                if t.is_empty() {
                    sqlx::query("DELETE FROM tombstones WHERE list_name = $1 AND email_hash = $2")
                        .bind(list_name)
                        .bind(hash)
                        .execute(&mut *conn)
                        .await?;
                    return Ok(());
                }
                sqlx::query(
                    "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (list_name, email_hash) DO UPDATE SET unsubscribe_all = excluded.unsubscribe_all, topics = excluded.topics, updated_at = excluded.updated_at",
                )
                .bind(list_name)
                .bind(hash)
                .bind(t.unsubscribe_all)
                .bind(shared::to_json(&t.opted_out_topics))
                .bind(now_ms())
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Adds opt-outs to the tombstones of many addresses (each merged into what
            /// is recorded already): a few reads and multi-row upserts per chunk.
            async fn q_merge_tombstones(conn: &mut $conn, list_name: &str, adds: &[(Vec<u8>, Tombstone)]) -> StoreResult<()> {
                use std::collections::HashMap;
                const CHUNK: usize = 400;
                for chunk in adds.chunks(CHUNK) {
                    let mut merged: HashMap<&[u8], Tombstone> = HashMap::with_capacity(chunk.len());
                    for (h, t) in chunk {
                        let m = merged.get(h.as_slice()).map(|m| m.merged(t)).unwrap_or_else(|| t.clone());
                        merged.insert(h.as_slice(), m);
                    }
                    let hashes: Vec<&[u8]> = merged.keys().copied().collect();
                    let sql = format!(
                        "SELECT email_hash, unsubscribe_all, topics FROM tombstones WHERE list_name = $1 AND email_hash IN ({})",
                        shared::placeholders(2, hashes.len())
                    );
                    let mut q = sqlx::query(&sql).bind(list_name);
                    for h in &hashes {
                        q = q.bind(*h);
                    }
                    for r in q.fetch_all(&mut *conn).await? {
                        let h: Vec<u8> = r.try_get("email_hash")?;
                        let old = shared::tombstone_from(r.try_get("unsubscribe_all")?, &r.try_get::<String, _>("topics")?)?;
                        if let Some(m) = merged.get_mut(h.as_slice()) {
                            *m = m.merged(&old);
                        }
                    }
                    let rows: Vec<(&[u8], &Tombstone)> = merged.iter().filter(|(_, t)| !t.is_empty()).map(|(h, t)| (*h, t)).collect();
                    if rows.is_empty() {
                        continue;
                    }
                    let values: Vec<String> = (0..rows.len())
                        .map(|i| format!("($1, ${}, ${}, ${}, $2)", 3 * i + 3, 3 * i + 4, 3 * i + 5))
                        .collect();
                    let sql = format!(
                        "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, updated_at) VALUES {} \
                         ON CONFLICT (list_name, email_hash) DO UPDATE SET unsubscribe_all = excluded.unsubscribe_all, topics = excluded.topics, updated_at = excluded.updated_at",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(&sql).bind(list_name).bind(now_ms());
                    for (h, t) in rows {
                        q = q.bind(h).bind(t.unsubscribe_all).bind(shared::to_json(&t.opted_out_topics));
                    }
                    q.execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// The opt-outs that contacts of a list hold (all of them, or those of one
            /// topic), as tombstones: what must be kept when the list or topic goes.
            async fn q_held_opt_outs(conn: &mut $conn, list_id: i64, topic_id: Option<i64>) -> StoreResult<Vec<(Vec<u8>, Tombstone)>> {
                let rows = match topic_id {
                    None => sqlx::query(
                        "SELECT c.id, c.email_hash, c.unsubscribe_all, t.name AS topic FROM contacts c \
                         LEFT JOIN contact_topic_prefs p ON p.contact_id = c.id AND p.opt_in = FALSE \
                         LEFT JOIN topics t ON t.id = p.topic_id \
                         WHERE c.list_id = $1 AND (c.unsubscribe_all = TRUE OR t.id IS NOT NULL) ORDER BY c.id",
                    )
                    .bind(list_id)
                    .fetch_all(&mut *conn)
                    .await?,
                    Some(tid) => sqlx::query(
                        "SELECT c.id, c.email_hash, FALSE AS unsubscribe_all, t.name AS topic FROM contact_topic_prefs p \
                         JOIN contacts c ON c.id = p.contact_id JOIN topics t ON t.id = p.topic_id \
                         WHERE p.topic_id = $1 AND p.opt_in = FALSE AND c.list_id = $2 ORDER BY c.id",
                    )
                    .bind(tid)
                    .bind(list_id)
                    .fetch_all(&mut *conn)
                    .await?,
                };
                let mut out: Vec<(i64, Vec<u8>, Tombstone)> = Vec::new();
                for r in rows {
                    let id: i64 = r.try_get("id")?;
                    if out.last().is_none_or(|(last, _, _)| *last != id) {
                        out.push((id, r.try_get("email_hash")?, Tombstone { unsubscribe_all: r.try_get("unsubscribe_all")?, opted_out_topics: Vec::new() }));
                    }
                    if let Some(name) = r.try_get::<Option<String>, _>("topic")? {
                        let t = TopicName::parse(&name).map_err(|_| shared::corrupt("topic name"))?;
                        if let Some((_, _, tomb)) = out.last_mut() {
                            tomb.opted_out_topics.push(t);
                        }
                    }
                }
                Ok(out
                    .into_iter()
                    .map(|(_, h, mut t)| {
                        t.opted_out_topics.sort();
                        t.opted_out_topics.dedup();
                        (h, t)
                    })
                    .collect())
            }

            /// A topic added to a list gets back the opt-outs its contacts gave to an
            /// earlier topic of the same name (kept in their tombstones when it was
            /// removed); those entries leave the tombstones.
            async fn q_restore_topic_opt_outs(conn: &mut $conn, list_id: i64, list_name: &str, topic: &TopicName, topic_id: i64) -> StoreResult<()> {
                // Topic names are `[A-Za-z0-9_-]`: the quoted name is a JSON string as
                // stored; `_` may match more than it should, so every row is checked.
                let rows = sqlx::query(
                    "SELECT c.id, t.email_hash, t.unsubscribe_all, t.topics FROM tombstones t \
                     JOIN contacts c ON c.list_id = $1 AND c.email_hash = t.email_hash \
                     WHERE t.list_name = $2 AND t.topics LIKE $3",
                )
                .bind(list_id)
                .bind(list_name)
                .bind(format!("%\"{}\"%", topic.as_str()))
                .fetch_all(&mut *conn)
                .await?;
                for r in rows {
                    let mut tomb = shared::tombstone_from(r.try_get("unsubscribe_all")?, &r.try_get::<String, _>("topics")?)?;
                    if !tomb.opted_out_topics.contains(topic) {
                        continue;
                    }
                    let contact_id: i64 = r.try_get("id")?;
                    sqlx::query(
                        "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES ($1, $2, FALSE) \
                         ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = FALSE",
                    )
                    .bind(contact_id)
                    .bind(topic_id)
                    .execute(&mut *conn)
                    .await?;
                    tomb.opted_out_topics.retain(|t| t != topic);
                    let hash: Vec<u8> = r.try_get("email_hash")?;
                    Self::q_put_tombstone(conn, list_name, &hash, &tomb).await?;
                }
                Ok(())
            }

            async fn q_event(conn: &mut $conn, e: shared::NewEvent<'_>) -> StoreResult<()> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO events (created_at, kind, source, list_name, topic_name, contact_email, old_prefs, new_prefs, ip_hash, user_agent, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                )
                .bind(now_ms())
                .bind(e.kind)
                .bind(e.audit.map(|a| a.source.as_str()))
                .bind(e.list_name)
                .bind(e.topic_name)
                .bind(e.contact_email)
                .bind(e.old.map(shared::to_json))
                .bind(e.new.map(shared::to_json))
                .bind(e.audit.and_then(|a| a.ip_hash.clone()))
                .bind(e.audit.and_then(|a| a.user_agent.clone()))
                .bind(e.detail.to_string())
                .fetch_one(&mut *conn)
                .await?;
                // The webhook outbox rows commit (or roll back) with the event.
                Self::q_enqueue_webhooks(conn, id, e.kind, e.list_name, None).await?;
                Ok(())
            }

            async fn q_put_prefs(
                conn: &mut $conn,
                contact_id: i64,
                ids: &std::collections::HashMap<String, i64>,
                prefs: &[(TopicName, SubscriptionStatus)],
            ) -> StoreResult<()> {
                for (topic, status) in prefs {
                    let tid = *ids.get(topic.as_str()).ok_or(StoreError::NotFound)?;
                    sqlx::query(
                        "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES ($1, $2, $3) \
                         ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in",
                    )
                    .bind(contact_id)
                    .bind(tid)
                    .bind(*status == SubscriptionStatus::OptIn)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            /// Makes the list's topics `topics`. A removed topic's opt-outs go to their
            /// contacts' tombstones, and a topic added under a name used before gets
            /// them back: removing a topic and adding it again subscribes nobody.
            async fn q_write_topics(conn: &mut $conn, list_id: i64, list_name: &str, topics: &[Topic]) -> StoreResult<()> {
                let existing = Self::q_topic_ids(conn, list_id).await?;
                for (name, id) in &existing {
                    if !topics.iter().any(|t| t.name.as_str() == name) {
                        let held = Self::q_held_opt_outs(conn, list_id, Some(*id)).await?;
                        Self::q_merge_tombstones(conn, list_name, &held).await?;
                        // Preferences carry no foreign keys on PostgreSQL (see the
                        // migration `contacts_without_foreign_keys`): the store removes them.
                        sqlx::query("DELETE FROM contact_topic_prefs WHERE topic_id = $1").bind(*id).execute(&mut *conn).await?;
                        sqlx::query("DELETE FROM topics WHERE id = $1").bind(*id).execute(&mut *conn).await?;
                    }
                }
                for (pos, t) in topics.iter().enumerate() {
                    if let Some(id) = existing.get(t.name.as_str()) {
                        sqlx::query("UPDATE topics SET display_name = $1, description = $2, default_opt_in = $3, hidden = $4, position = $5 WHERE id = $6")
                            .bind(&t.display_name)
                            .bind(&t.description)
                            .bind(t.default_status == SubscriptionStatus::OptIn)
                            .bind(t.hidden)
                            .bind(pos as i32)
                            .bind(*id)
                            .execute(&mut *conn)
                            .await?;
                    } else {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO topics (list_id, name, display_name, description, default_opt_in, hidden, position) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        )
                        .bind(list_id)
                        .bind(t.name.as_str())
                        .bind(&t.display_name)
                        .bind(&t.description)
                        .bind(t.default_status == SubscriptionStatus::OptIn)
                        .bind(t.hidden)
                        .bind(pos as i32)
                        .fetch_one(&mut *conn)
                        .await?;
                        Self::q_restore_topic_opt_outs(conn, list_id, list_name, &t.name, id).await?;
                    }
                }
                Ok(())
            }

            async fn q_update_contact(tx: &mut $conn, list: &ContactList, email: &EmailAddress, change: &ContactChange, audit: &Audit) -> StoreResult<(Contact, Contact)> {
                let old = Self::q_contact(&mut *tx, list.id, Some(&email.key()), None).await?;
                if let Some((mode, prefs)) = &change.preferences {
                    if *mode == PrefMode::Replace {
                        sqlx::query("DELETE FROM contact_topic_prefs WHERE contact_id = $1")
                            .bind(old.id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let ids = Self::q_topic_ids(&mut *tx, list.id).await?;
                    Self::q_put_prefs(&mut *tx, old.id, &ids, prefs).await?;
                }
                let unsub = change.unsubscribe_all.unwrap_or(old.unsubscribe_all);
                let attrs = change.attributes.clone().unwrap_or_else(|| old.attributes.clone());
                sqlx::query("UPDATE contacts SET unsubscribe_all = $1, attributes = $2 WHERE id = $3")
                    .bind(unsub)
                    .bind(&attrs)
                    .bind(old.id)
                    .execute(&mut *tx)
                    .await?;
                let mut new = Self::q_contact(&mut *tx, list.id, Some(&email.key()), None).await?;
                let prefs_changed = new.unsubscribe_all != old.unsubscribe_all || new.preferences != old.preferences;
                if prefs_changed || new.attributes != old.attributes {
                    let now = now_ms();
                    sqlx::query("UPDATE contacts SET updated_at = $1 WHERE id = $2").bind(now).bind(old.id).execute(&mut *tx).await?;
                    new.updated_at = now;
                }
                if prefs_changed {
                    Self::q_event(&mut *tx, shared::NewEvent {
                        kind: "subscription",
                        audit: Some(audit),
                        list_name: Some(list.name.as_str()),
                        topic_name: shared::changed_topic(&old, &new).as_deref(),
                        contact_email: Some(new.email.as_str()),
                        old: Some(&shared::prefs_of(&old)),
                        new: Some(&shared::prefs_of(&new)),
                        detail: serde_json::json!({}),
                    })
                    .await?;
                }
                Ok((old, new))
            }


            async fn q_record_tombstone(tx: &mut $conn, list: &ContactList, hash: &[u8], tomb: &Tombstone, audit: &Audit) -> StoreResult<()> {
                let old = Self::q_tombstone(&mut *tx, list.name.as_str(), hash).await?.unwrap_or_default();
                let merged = old.merged(tomb);
                if merged != old {
                    Self::q_put_tombstone(&mut *tx, list.name.as_str(), hash, &merged).await?;
                    Self::q_event(&mut *tx, shared::NewEvent {
                        kind: "subscription",
                        audit: Some(audit),
                        list_name: Some(list.name.as_str()),
                        topic_name: tomb.opted_out_topics.first().map(|t| t.as_str()),
                        contact_email: None,
                        old: None,
                        new: None,
                        detail: serde_json::json!({ "tombstone": merged, "contact": "unknown" }),
                    })
                    .await?;
                }
                Ok(())
            }


            /// One RFC 8058 opt-out inside a transaction: the contact found by hash, or a
            /// tombstone when there is none.
            async fn q_opt_out(tx: &mut $conn, item: &OptOut) -> StoreResult<()> {
                match Self::q_contact(&mut *tx, item.list.id, None, Some(&item.hash)).await {
                    Ok(c) => {
                        let change = match &item.topic {
                            Some(t) => ContactChange {
                                unsubscribe_all: None,
                                preferences: Some((PrefMode::Merge, vec![(t.clone(), SubscriptionStatus::OptOut)])),
                                attributes: None,
                            },
                            None => ContactChange { unsubscribe_all: Some(true), preferences: None, attributes: None },
                        };
                        Self::q_update_contact(&mut *tx, &item.list, &c.email, &change, &item.audit).await.map(|_| ())
                    }
                    Err(StoreError::NotFound) => {
                        let tomb = match &item.topic {
                            Some(t) => Tombstone { unsubscribe_all: false, opted_out_topics: vec![t.clone()] },
                            None => Tombstone { unsubscribe_all: true, opted_out_topics: vec![] },
                        };
                        Self::q_record_tombstone(&mut *tx, &item.list, &item.hash, &tomb, &item.audit).await
                    }
                    Err(e) => Err(e),
                }
            }

            /// A batch of RFC 8058 opt-outs, set-based: per list one read of the batch's
            /// contacts with their preferences (and of tombstones for addresses without a
            /// contact), the decisions in memory in arrival order (an opt-out already in
            /// place writes nothing), then a few multi-row statements. Same outcome and
            /// events as `q_opt_out` item by item; an error fails the whole batch (the
            /// caller then retries item by item).
            /// Records how far the one-click log is applied, in the transaction that applies it.
            async fn q_log_applied(tx: &mut $conn, log_seq: Option<u64>) -> StoreResult<()> {
                if let Some(seq) = log_seq {
                    sqlx::query(
                        "INSERT INTO one_click_log (id, applied_seq) VALUES (1, $1) \
                         ON CONFLICT (id) DO UPDATE SET applied_seq = excluded.applied_seq",
                    )
                    .bind(seq as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                Ok(())
            }

            async fn q_opt_outs_bulk(tx: &mut $conn, sqlite: bool, items: &[OptOut]) -> StoreResult<Vec<StoreResult<()>>> {
                use std::collections::{BTreeSet, HashMap};
                let fast = |sql: String| if sqlite { shared::positional(&sql) } else { sql };
                let now = now_ms();
                let mut results: Vec<StoreResult<()>> = items.iter().map(|_| Ok(())).collect();
                let mut list_ids: Vec<i64> = items.iter().map(|i| i.list.id).collect();
                list_ids.sort_unstable();
                list_ids.dedup();
                for list_id in list_ids {
                    let mine: Vec<usize> = (0..items.len()).filter(|&k| items[k].list.id == list_id).collect();
                    let list = &items[mine[0]].list;
                    let mut hashes: Vec<&[u8]> = mine.iter().map(|&k| items[k].hash.as_slice()).collect();
                    hashes.sort_unstable();
                    hashes.dedup();

                    let sql = fast(format!(
                        "SELECT c.id, c.email, c.email_hash, c.unsubscribe_all, c.attributes, c.created_at, c.updated_at, t.name AS topic, p.opt_in \
                         FROM contacts c LEFT JOIN contact_topic_prefs p ON p.contact_id = c.id LEFT JOIN topics t ON t.id = p.topic_id \
                         WHERE c.list_id = $1 AND c.email_hash IN ({}) ORDER BY c.id, t.name",
                        shared::placeholders(2, hashes.len())
                    ));
                    let mut q = sqlx::query(&sql).bind(list_id);
                    for h in &hashes {
                        q = q.bind(*h);
                    }
                    let mut contacts: HashMap<Vec<u8>, Contact> = HashMap::new();
                    for r in q.fetch_all(&mut *tx).await? {
                        let hash: Vec<u8> = r.try_get("email_hash")?;
                        let c = match contacts.entry(hash) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(v) => v.insert(shared::contact_from(
                                r.try_get("id")?,
                                &r.try_get::<String, _>("email")?,
                                r.try_get("unsubscribe_all")?,
                                r.try_get("attributes")?,
                                r.try_get("created_at")?,
                                r.try_get("updated_at")?,
                                Vec::new(),
                            )?),
                        };
                        if let (Some(name), Some(opt_in)) = (r.try_get::<Option<String>, _>("topic")?, r.try_get::<Option<bool>, _>("opt_in")?) {
                            c.preferences.push(TopicPreference {
                                topic: TopicName::parse(&name).map_err(|_| shared::corrupt("topic name"))?,
                                status: shared::status(opt_in),
                            });
                        }
                    }
                    let missing: Vec<&[u8]> = hashes.iter().copied().filter(|h| !contacts.contains_key(*h)).collect();
                    let mut tombs: HashMap<Vec<u8>, Tombstone> = HashMap::new();
                    if !missing.is_empty() {
                        let sql = fast(format!(
                            "SELECT email_hash, unsubscribe_all, topics FROM tombstones WHERE list_name = $1 AND email_hash IN ({})",
                            shared::placeholders(2, missing.len())
                        ));
                        let mut q = sqlx::query(&sql).bind(list.name.as_str());
                        for h in &missing {
                            q = q.bind(*h);
                        }
                        for r in q.fetch_all(&mut *tx).await? {
                            tombs.insert(
                                r.try_get("email_hash")?,
                                shared::tombstone_from(r.try_get("unsubscribe_all")?, &r.try_get::<String, _>("topics")?)?,
                            );
                        }
                    }
                    let topic_ids = if mine.iter().any(|&k| items[k].topic.is_some()) {
                        Self::q_topic_ids(&mut *tx, list_id).await?
                    } else {
                        HashMap::new()
                    };

                    // Decisions, in arrival order, against the state so far.
                    struct Ev<'a> { audit: &'a Audit, topic: Option<String>, email: Option<String>, old: Option<String>, new: Option<String>, detail: String }
                    let mut events: Vec<Ev<'_>> = Vec::new();
                    let mut touched: BTreeSet<i64> = BTreeSet::new();
                    let mut unsub: BTreeSet<i64> = BTreeSet::new();
                    let mut prefs: BTreeSet<(i64, i64)> = BTreeSet::new();
                    let mut tomb_writes: BTreeSet<Vec<u8>> = BTreeSet::new();
                    for &k in &mine {
                        let item = &items[k];
                        if let Some(c) = contacts.get_mut(&item.hash) {
                            let old = shared::prefs_of(c);
                            match &item.topic {
                                Some(t) => {
                                    let Some(&tid) = topic_ids.get(t.as_str()) else {
                                        // The topic was removed from the list meanwhile.
                                        results[k] = Err(StoreError::NotFound);
                                        continue;
                                    };
                                    match c.preferences.iter_mut().find(|p| p.topic == *t) {
                                        Some(p) if p.status == SubscriptionStatus::OptOut => continue,
                                        Some(p) => p.status = SubscriptionStatus::OptOut,
                                        None => {
                                            let at = c.preferences.partition_point(|p| p.topic.as_str() < t.as_str());
                                            c.preferences.insert(at, TopicPreference { topic: t.clone(), status: SubscriptionStatus::OptOut });
                                        }
                                    }
                                    prefs.insert((c.id, tid));
                                }
                                None => {
                                    if c.unsubscribe_all {
                                        continue;
                                    }
                                    c.unsubscribe_all = true;
                                    unsub.insert(c.id);
                                }
                            }
                            c.updated_at = now;
                            touched.insert(c.id);
                            events.push(Ev {
                                audit: &item.audit,
                                topic: item.topic.as_ref().map(|t| t.as_str().to_owned()),
                                email: Some(c.email.as_str().to_owned()),
                                old: Some(shared::to_json(&old)),
                                new: Some(shared::to_json(&shared::prefs_of(c))),
                                detail: "{}".into(),
                            });
                        } else {
                            let old = tombs.get(&item.hash).cloned().unwrap_or_default();
                            let mut merged = old.clone();
                            match &item.topic {
                                Some(t) if !merged.opted_out_topics.contains(t) => merged.opted_out_topics.push(t.clone()),
                                Some(_) => {}
                                None => merged.unsubscribe_all = true,
                            }
                            merged.opted_out_topics.sort();
                            if merged == old {
                                continue;
                            }
                            events.push(Ev {
                                audit: &item.audit,
                                topic: item.topic.as_ref().map(|t| t.as_str().to_owned()),
                                email: None,
                                old: None,
                                new: None,
                                detail: serde_json::json!({ "tombstone": merged, "contact": "unknown" }).to_string(),
                            });
                            tomb_writes.insert(item.hash.clone());
                            tombs.insert(item.hash.clone(), merged);
                        }
                    }

                    // The writes: a few multi-row statements.
                    if !touched.is_empty() {
                        let sql = if unsub.is_empty() {
                            format!("UPDATE contacts SET updated_at = $1 WHERE id IN ({})", shared::placeholders(2, touched.len()))
                        } else {
                            format!(
                                "UPDATE contacts SET updated_at = $1, unsubscribe_all = (unsubscribe_all OR id IN ({})) WHERE id IN ({})",
                                shared::placeholders(2, unsub.len()),
                                shared::placeholders(2 + unsub.len(), touched.len())
                            )
                        };
                        let sql = fast(sql);
                        let mut q = sqlx::query(&sql).bind(now);
                        for id in unsub.iter().chain(touched.iter()) {
                            q = q.bind(*id);
                        }
                        q.execute(&mut *tx).await?;
                    }
                    if !prefs.is_empty() {
                        let values: Vec<String> = (0..prefs.len()).map(|i| format!("(${}, ${}, FALSE)", 2 * i + 1, 2 * i + 2)).collect();
                        let sql = fast(format!(
                            "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES {} \
                             ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in",
                            values.join(", ")
                        ));
                        let mut q = sqlx::query(&sql);
                        for (cid, tid) in &prefs {
                            q = q.bind(*cid).bind(*tid);
                        }
                        q.execute(&mut *tx).await?;
                    }
                    if !tomb_writes.is_empty() {
                        let values: Vec<String> = (0..tomb_writes.len())
                            .map(|i| format!("(${}, ${}, ${}, ${}, ${})", 5 * i + 1, 5 * i + 2, 5 * i + 3, 5 * i + 4, 5 * i + 5))
                            .collect();
                        let sql = fast(format!(
                            "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, updated_at) VALUES {} \
                             ON CONFLICT (list_name, email_hash) DO UPDATE SET unsubscribe_all = excluded.unsubscribe_all, topics = excluded.topics, updated_at = excluded.updated_at",
                            values.join(", ")
                        ));
                        let mut q = sqlx::query(&sql);
                        for h in &tomb_writes {
                            let t = &tombs[h];
                            q = q.bind(list.name.as_str()).bind(h.as_slice()).bind(t.unsubscribe_all).bind(shared::to_json(&t.opted_out_topics)).bind(now);
                        }
                        q.execute(&mut *tx).await?;
                    }
                    // Events (then their webhook outbox rows, in the same transaction).
                    const EVENT_CHUNK: usize = 500;
                    for chunk in events.chunks(EVENT_CHUNK) {
                        let values: Vec<String> = (0..chunk.len())
                            .map(|i| {
                                let b = 11 * i;
                                format!(
                                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                                    b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11
                                )
                            })
                            .collect();
                        let sql = fast(format!(
                            "INSERT INTO events (created_at, kind, source, list_name, topic_name, contact_email, old_prefs, new_prefs, ip_hash, user_agent, detail) \
                             VALUES {} RETURNING id",
                            values.join(", ")
                        ));
                        let mut q = sqlx::query_scalar::<_, i64>(&sql);
                        for e in chunk {
                            q = q
                                .bind(now)
                                .bind("subscription")
                                .bind(e.audit.source.as_str())
                                .bind(list.name.as_str())
                                .bind(e.topic.as_deref())
                                .bind(e.email.as_deref())
                                .bind(e.old.as_deref())
                                .bind(e.new.as_deref())
                                .bind(e.audit.ip_hash.as_deref())
                                .bind(e.audit.user_agent.as_deref())
                                .bind(e.detail.as_str());
                        }
                        let mut ids = q.fetch_all(&mut *tx).await?;
                        ids.sort_unstable();
                        // As `q_enqueue_webhooks` for kind `subscription` on this list.
                        let sql = fast(format!(
                            "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, next_attempt_at, created_at) \
                             SELECT w.id, e.id, 'pending', 0, e.created_at, e.created_at FROM events e, webhooks w \
                             WHERE e.id IN ({}) AND (w.event_types = '*' OR w.event_types LIKE '%,subscription,%') \
                             AND (w.list_name IS NULL OR w.list_name = e.list_name) ORDER BY e.id, w.id",
                            shared::placeholders(1, ids.len())
                        ));
                        let mut q = sqlx::query(&sql);
                        for id in &ids {
                            q = q.bind(*id);
                        }
                        q.execute(&mut *tx).await?;
                    }
                }
                Ok(results)
            }

            fn api_key_from(r: &<<$conn as sqlx::Connection>::Database as sqlx::Database>::Row) -> StoreResult<ApiKeyRecord> {
                Ok(ApiKeyRecord {
                    access_key_id: r.try_get("access_key_id")?,
                    salt: r.try_get("salt")?,
                    description: r.try_get("description")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            }

            fn user_from(r: &<<$conn as sqlx::Connection>::Database as sqlx::Database>::Row) -> StoreResult<UserRecord> {
                Ok(UserRecord {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    role: r.try_get("role")?,
                    password_hash: r.try_get("password_hash")?,
                    created_at: r.try_get("created_at")?,
                    session_epoch: r.try_get("session_epoch")?,
                })
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            fn sessions(&self) -> crate::server::sessions::SessionBackend {
                self.session_backend()
            }

            async fn refresh_statistics(&self) -> StoreResult<()> {
                if self.backend() == Backend::Postgres {
                    sqlx::query("ANALYZE contacts, contact_topic_prefs, tombstones").execute(&self.write).await?;
                }
                Ok(())
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn create_list(&self, name: &str, def: &ListDefinition, max_lists: Option<u32>) -> StoreResult<ContactList> {
                let mut tx = self.write.begin().await?;
                if let Some(max) = max_lists {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contact_lists").fetch_one(&mut *tx).await?;
                    if n >= max as i64 {
                        return Err(StoreError::LimitReached);
                    }
                }
                let now = now_ms();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO contact_lists (name, description, tags, branding, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                )
                .bind(name)
                .bind(&def.description)
                .bind(shared::to_json(&def.tags))
                .bind(shared::to_json(&def.branding))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                Self::q_write_topics(&mut tx, id, name, &def.topics).await?;
                let list = Self::q_list(&mut tx, Some(id), None).await?;
                tx.commit().await?;
                self.lists.invalidate();
                Ok(list)
            }

            async fn get_list(&self, name: &str) -> StoreResult<ContactList> {
                let mut c = self.read.acquire().await?;
                Self::q_list(&mut c, None, Some(name)).await
            }

            async fn get_list_cached(&self, name: &str) -> StoreResult<std::sync::Arc<ContactList>> {
                match self.lists.get(name) {
                    Ok(list) => Ok(list),
                    Err(generation) => {
                        let list = std::sync::Arc::new(self.get_list(name).await?);
                        self.lists.put(generation, &list);
                        Ok(list)
                    }
                }
            }

            async fn get_list_by_id(&self, id: i64) -> StoreResult<ContactList> {
                let mut c = self.read.acquire().await?;
                Self::q_list(&mut c, Some(id), None).await
            }

            async fn list_lists(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<ListSummary>> {
                let rows = sqlx::query("SELECT name, updated_at FROM contact_lists WHERE name > $1 ORDER BY name LIMIT $2")
                    .bind(after.unwrap_or(""))
                    .bind(limit as i64)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|r| Ok(ListSummary { name: r.try_get("name")?, updated_at: r.try_get("updated_at")? }))
                    .collect()
            }

            async fn update_list(&self, name: &str, def: &ListDefinition) -> StoreResult<ContactList> {
                // Opt-outs acknowledged before a topic's removal are applied first.
                self.pending.settle_all().await?;
                let mut tx = self.write.begin().await?;
                let id: i64 = sqlx::query_scalar(
                    "UPDATE contact_lists SET description = $1, tags = $2, branding = $3, updated_at = $4 WHERE name = $5 RETURNING id",
                )
                .bind(&def.description)
                .bind(shared::to_json(&def.tags))
                .bind(shared::to_json(&def.branding))
                .bind(now_ms())
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                Self::q_write_topics(&mut tx, id, name, &def.topics).await?;
                let list = Self::q_list(&mut tx, Some(id), None).await?;
                tx.commit().await?;
                self.lists.invalidate();
                Ok(list)
            }

            async fn delete_list(&self, name: &str) -> StoreResult<()> {
                self.pending.settle_all().await?;
                let mut tx = self.write.begin().await?;
                // The list's opt-outs outlive it: a list created again under this name
                // gets them back as its contacts are added.
                if let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM contact_lists WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                {
                    let held = Self::q_held_opt_outs(&mut tx, id, None).await?;
                    Self::q_merge_tombstones(&mut tx, name, &held).await?;
                }
                // Contacts and preferences carry no foreign keys on PostgreSQL (see the
                // migration `contacts_without_foreign_keys`). Every preference of a
                // list's contacts names one of the list's topics.
                sqlx::query(
                    "DELETE FROM contact_topic_prefs WHERE topic_id IN \
                     (SELECT t.id FROM topics t JOIN contact_lists l ON l.id = t.list_id WHERE l.name = $1)",
                )
                .bind(name)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM contacts WHERE list_id IN (SELECT id FROM contact_lists WHERE name = $1)")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                let n = sqlx::query("DELETE FROM contact_lists WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                self.lists.invalidate();
                if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn count_contacts(&self, list_id: i64) -> StoreResult<i64> {
                self.pending.settle_all().await?;
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE list_id = $1")
                    .bind(list_id)
                    .fetch_one(&self.read)
                    .await?)
            }

            async fn list_stats(&self, limit: u32) -> StoreResult<Vec<ListStats>> {
                self.pending.settle_all().await?;
                let rows = sqlx::query(
                    "SELECT l.name, \
                       (SELECT COUNT(*) FROM topics t WHERE t.list_id = l.id) AS topics, \
                       (SELECT COUNT(*) FROM contacts c WHERE c.list_id = l.id) AS contacts \
                     FROM contact_lists l ORDER BY l.name LIMIT $1",
                )
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| Ok(ListStats { name: r.try_get("name")?, topics: r.try_get("topics")?, contacts: r.try_get("contacts")? }))
                    .collect()
            }

            async fn create_contact(&self, list: &ContactList, new: &NewContact, audit: &Audit) -> StoreResult<Contact> {
                let hash = email_hash(&new.email);
                self.pending.settle_key(list.id, &hash).await?;
                let mut tx = self.write.begin().await?;
                let tomb = Self::q_tombstone(&mut tx, list.name.as_str(), &hash).await?;
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
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO contacts (list_id, email, email_key, email_hash, unsubscribe_all, attributes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                )
                .bind(list.id)
                .bind(new.email.as_str())
                .bind(new.email.key())
                .bind(&hash)
                .bind(unsubscribe_all)
                .bind(&new.attributes)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let ids = Self::q_topic_ids(&mut tx, list.id).await?;
                Self::q_put_prefs(&mut tx, id, &ids, &prefs).await?;
                if let Some(t) = &tomb {
                    // What the contact now holds leaves the tombstone; opt-outs of topics
                    // the list does not have stay for a topic of that name.
                    Self::q_put_tombstone(&mut tx, list.name.as_str(), &hash, &t.beyond(list)).await?;
                }
                let contact = Self::q_contact(&mut tx, list.id, Some(&new.email.key()), None).await?;
                Self::q_event(&mut tx, shared::NewEvent {
                    kind: "contact.created",
                    audit: Some(audit),
                    list_name: Some(list.name.as_str()),
                    topic_name: None,
                    contact_email: Some(contact.email.as_str()),
                    old: None,
                    new: Some(&shared::prefs_of(&contact)),
                    detail: serde_json::json!({ "tombstoneApplied": tomb.is_some() }),
                })
                .await?;
                tx.commit().await?;
                Ok(contact)
            }

            async fn get_contact(&self, list: &ContactList, email: &EmailAddress) -> StoreResult<Contact> {
                self.pending.settle_key(list.id, &email_hash(email)).await?;
                let mut c = self.read.acquire().await?;
                Self::q_contact(&mut c, list.id, Some(&email.key()), None).await
            }

            async fn get_contact_by_hash(&self, list: &ContactList, hash: &[u8]) -> StoreResult<Contact> {
                self.pending.settle_key(list.id, hash).await?;
                let mut c = self.read.acquire().await?;
                Self::q_contact(&mut c, list.id, None, Some(hash)).await
            }

            async fn update_contact(&self, list: &ContactList, email: &EmailAddress, change: &ContactChange, audit: &Audit) -> StoreResult<(Contact, Contact)> {
                self.pending.settle_key(list.id, &email_hash(email)).await?;
                let mut tx = self.write.begin().await?;
                let r = Self::q_update_contact(&mut tx, list, email, change, audit).await?;
                tx.commit().await?;
                Ok(r)
            }

            async fn delete_contact(&self, list: &ContactList, email: &EmailAddress, audit: &Audit) -> StoreResult<()> {
                self.pending.settle_key(list.id, &email_hash(email)).await?;
                let mut tx = self.write.begin().await?;
                let old = Self::q_contact(&mut tx, list.id, Some(&email.key()), None).await?;
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
                    Self::q_merge_tombstones(&mut tx, list.name.as_str(), &[(email_hash(&old.email), tomb.clone())]).await?;
                }
                sqlx::query("DELETE FROM contact_topic_prefs WHERE contact_id = $1").bind(old.id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM contacts WHERE id = $1").bind(old.id).execute(&mut *tx).await?;
                Self::q_event(&mut tx, shared::NewEvent {
                    kind: "contact.deleted",
                    audit: Some(audit),
                    list_name: Some(list.name.as_str()),
                    topic_name: None,
                    contact_email: Some(old.email.as_str()),
                    old: Some(&shared::prefs_of(&old)),
                    new: None,
                    detail: serde_json::json!({ "tombstone": !tomb.is_empty() }),
                })
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_contacts(&self, list: &ContactList, filter: &ContactFilter, after_id: Option<i64>, limit: u32) -> StoreResult<Vec<Contact>> {
                self.pending.settle_all().await?;
                let mut conn = self.read.acquire().await?;
                let topic = match &filter.topic {
                    Some(tf) => {
                        let t = list.topic(tf.topic.as_str()).ok_or(StoreError::NotFound)?;
                        let id: i64 = sqlx::query_scalar("SELECT id FROM topics WHERE list_id = $1 AND name = $2")
                            .bind(list.id)
                            .bind(tf.topic.as_str())
                            .fetch_optional(&mut *conn)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                        Some((id, t.default_status == SubscriptionStatus::OptIn, tf.use_default))
                    }
                    None => None,
                };
                let cols = "c.id, c.email, c.unsubscribe_all, c.attributes, c.created_at, c.updated_at";
                let rows = match (&filter.email_prefix, topic) {
                    // Prefix search: a range of the (list_id, email_key) index in key order,
                    // keyset on the key; the topic condition is checked per row.
                    (Some(p), _) => {
                        let cond = shared::filter_sql(filter.status, topic.map(|(_, d, u)| (d, u)));
                        let join = if topic.is_some() {
                            " LEFT JOIN contact_topic_prefs f ON f.contact_id = c.id AND f.topic_id = $4"
                        } else {
                            ""
                        };
                        let sql = format!(
                            "SELECT {cols} FROM contacts c{join} WHERE c.list_id = $1 AND c.email_key >= $5 AND c.email_key < $6 \
                             AND c.email_key > $2{cond} ORDER BY c.email_key LIMIT $3"
                        );
                        sqlx::query(&sql)
                            .bind(list.id)
                            .bind(filter.after_key.clone().unwrap_or_default())
                            .bind(limit as i64)
                            .bind(topic.map(|t| t.0).unwrap_or(0))
                            .bind(p.clone())
                            .bind(format!("{p}\u{10FFFF}"))
                            .fetch_all(&mut *conn)
                            .await?
                    }
                    (None, Some((tid, d, u))) if shared::sparse_branches(filter.status, (d, u)).is_some() => {
                        // (`c.id > $2` as well: without it PostgreSQL merge-joins from the
                        // list's first contact, 370 ms for a page deep in 1M.)
                        // A filter only explicit preferences (or UnsubscribeAll) can satisfy:
                        // each branch walks an index holding just its matches in contact id
                        // order, so a page costs its own rows even when matches are rare.
                        let mut merged: Vec<_> = Vec::new();
                        for b in shared::sparse_branches(filter.status, (d, u)).unwrap_or_default() {
                            let (sql, uses_topic) = match b {
                                shared::Branch::Pref(opt_in, extra) => (
                                    format!(
                                        "SELECT {cols} FROM contact_topic_prefs f JOIN contacts c ON c.id = f.contact_id \
                                         WHERE f.topic_id = $4 AND f.opt_in = {opt_in} AND f.contact_id > $2 AND c.id > $2 AND c.list_id = $1{extra} \
                                         ORDER BY f.contact_id LIMIT $3"
                                    ),
                                    true,
                                ),
                                shared::Branch::Unsub => (
                                    format!(
                                        "SELECT {cols} FROM contacts c WHERE c.list_id = $1 AND c.unsubscribe_all = TRUE AND c.id > $2 \
                                         ORDER BY c.id LIMIT $3"
                                    ),
                                    false,
                                ),
                            };
                            let mut q = sqlx::query(&sql).bind(list.id).bind(after_id.unwrap_or(0)).bind(limit as i64);
                            if uses_topic {
                                q = q.bind(tid);
                            }
                            merged.extend(q.fetch_all(&mut *conn).await?);
                        }
                        let mut keyed = Vec::with_capacity(merged.len());
                        for r in merged {
                            keyed.push((r.try_get::<i64, _>("id")?, r));
                        }
                        keyed.sort_by_key(|(id, _)| *id);
                        keyed.dedup_by_key(|(id, _)| *id);
                        keyed.truncate(limit as usize);
                        keyed.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
                    }
                    _ => {
                        let cond = shared::filter_sql(filter.status, topic.map(|(_, d, u)| (d, u)));
                        let join = if topic.is_some() {
                            " LEFT JOIN contact_topic_prefs f ON f.contact_id = c.id AND f.topic_id = $4"
                        } else {
                            ""
                        };
                        // The page of contacts, walking (list_id, id) in order.
                        let sql = format!(
                            "SELECT {cols} FROM contacts c{join} WHERE c.list_id = $1 AND c.id > $2{cond} ORDER BY c.id LIMIT $3"
                        );
                        let mut q = sqlx::query(&sql).bind(list.id).bind(after_id.unwrap_or(0)).bind(limit as i64);
                        if let Some(t) = topic {
                            q = q.bind(t.0);
                        }
                        q.fetch_all(&mut *conn).await?
                    }
                };
                let mut out: Vec<Contact> = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(shared::contact_from(
                        r.try_get("id")?,
                        &r.try_get::<String, _>("email")?,
                        r.try_get("unsubscribe_all")?,
                        r.try_get("attributes")?,
                        r.try_get("created_at")?,
                        r.try_get("updated_at")?,
                        Vec::new(),
                    )?);
                }
                let (Some(first), Some(last)) = (out.iter().map(|c| c.id).min(), out.iter().map(|c| c.id).max()) else {
                    return Ok(out);
                };
                // Step 2: their explicit preferences. Pages in id order: one primary-key
                // range scan; pages in address order (ids scattered): the ids themselves.
                // A scalar subquery for the name keeps the plan on the primary key; as a
                // join, SQLite (without statistics) walked every preference of each topic.
                let head = "SELECT p.contact_id, (SELECT t.name FROM topics t WHERE t.id = p.topic_id) AS name, p.opt_in \
                            FROM contact_topic_prefs p WHERE";
                let prefs = if filter.email_prefix.is_none() {
                    sqlx::query(&format!("{head} p.contact_id >= $1 AND p.contact_id <= $2 ORDER BY p.contact_id, name"))
                        .bind(first)
                        .bind(last)
                        .fetch_all(&mut *conn)
                        .await?
                } else {
                    let sql = format!(
                        "{head} p.contact_id IN ({}) ORDER BY p.contact_id, name",
                        shared::placeholders(1, out.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for c in &out {
                        q = q.bind(c.id);
                    }
                    q.fetch_all(&mut *conn).await?
                };
                let index: std::collections::HashMap<i64, usize> =
                    out.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
                for r in prefs {
                    let cid: i64 = r.try_get("contact_id")?;
                    // A preference whose topic is gone (left by a race with a topic's
                    // delete on PostgreSQL, which has no foreign keys here) is no one's.
                    if let (Some(&i), Some(name)) = (index.get(&cid), r.try_get::<Option<String>, _>("name")?) {
                        out[i].preferences.push(TopicPreference {
                            topic: TopicName::parse(&name).map_err(|_| shared::corrupt("topic name"))?,
                            status: shared::status(r.try_get("opt_in")?),
                        });
                    }
                }
                Ok(out)
            }

            async fn get_tombstone(&self, list: &ContactList, hash: &[u8]) -> StoreResult<Option<Tombstone>> {
                self.pending.settle_key(list.id, hash).await?;
                let mut c = self.read.acquire().await?;
                Self::q_tombstone(&mut c, list.name.as_str(), hash).await
            }

            async fn record_tombstone(&self, list: &ContactList, hash: &[u8], tomb: &Tombstone, audit: &Audit) -> StoreResult<()> {
                self.pending.settle_key(list.id, hash).await?;
                let mut tx = self.write.begin().await?;
                Self::q_record_tombstone(&mut tx, list, hash, tomb, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn apply_opt_outs(&self, items: &[OptOut], log_seq: Option<u64>) -> StoreResult<Vec<StoreResult<()>>> {
                if items.is_empty() && log_seq.is_none() {
                    return Ok(Vec::new());
                }
                let sqlite = self.backend() == Backend::Sqlite;
                let mut tx = self.write.begin().await?;
                match Self::q_opt_outs_bulk(&mut tx, sqlite, items).await {
                    Ok(results) => {
                        Self::q_log_applied(&mut tx, log_seq).await?;
                        tx.commit().await?;
                        return Ok(results);
                    }
                    Err(e) => {
                        // One bad item must not fail the others: again, item by item.
                        tracing::warn!(error = %e, items = items.len(), "one-click batch failed; retrying item by item");
                        tx.rollback().await?;
                    }
                }
                let mut tx = self.write.begin().await?;
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    // A savepoint per item: one failure rolls back only itself.
                    let mut sp = sqlx::Connection::begin(&mut *tx).await?;
                    match Self::q_opt_out(&mut sp, item).await {
                        Ok(()) => {
                            sp.commit().await?;
                            results.push(Ok(()));
                        }
                        Err(e) => {
                            sp.rollback().await?;
                            results.push(Err(e));
                        }
                    }
                }
                Self::q_log_applied(&mut tx, log_seq).await?;
                tx.commit().await?;
                Ok(results)
            }

            async fn one_click_log_applied(&self) -> StoreResult<u64> {
                let seq: Option<i64> = sqlx::query_scalar("SELECT applied_seq FROM one_click_log WHERE id = 1")
                    .fetch_optional(&self.write)
                    .await?;
                Ok(seq.unwrap_or(0).max(0) as u64)
            }

            fn pending(&self) -> &std::sync::Arc<crate::server::store::pending::Pending> {
                &self.pending
            }

            fn database_file(&self) -> Option<&std::path::Path> {
                self.database_file_impl()
            }

            async fn list_events(&self, list_name: Option<&str>, kind: Option<&str>, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<EventRecord>> {
                self.query_events(&EventQuery {
                    list: list_name.map(str::to_owned),
                    kind: kind.map(str::to_owned),
                    before_id,
                    limit,
                    ..Default::default()
                })
                .await
            }

            async fn create_user(&self, email: &str, role: &str, password_hash: &str) -> StoreResult<UserRecord> {
                let r = sqlx::query(
                    "INSERT INTO users (email, role, password_hash, created_at, session_epoch) VALUES ($1, $2, $3, $4, $5) RETURNING id, email, role, password_hash, created_at, session_epoch",
                )
                .bind(email)
                .bind(role)
                .bind(password_hash)
                .bind(now_ms())
                // A random first epoch: a session can only match the user it was made for.
                .bind(i64::from(rand::random::<u32>()))
                .fetch_one(&self.write)
                .await?;
                Self::user_from(&r)
            }

            async fn get_user_by_email(&self, email: &str) -> StoreResult<UserRecord> {
                let r = sqlx::query("SELECT id, email, role, password_hash, created_at, session_epoch FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Self::user_from(&r)
            }

            async fn get_user(&self, id: i64) -> StoreResult<UserRecord> {
                let r = sqlx::query("SELECT id, email, role, password_hash, created_at, session_epoch FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Self::user_from(&r)
            }

            async fn count_users(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.read).await?)
            }

            async fn set_list_tags(&self, name: &str, tags: &[crate::domain::Tag]) -> StoreResult<()> {
                let n = sqlx::query("UPDATE contact_lists SET tags = $1 WHERE name = $2")
                    .bind(shared::to_json(&tags))
                    .bind(name)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                self.lists.invalidate();
                if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
                sqlx::query("INSERT INTO api_keys (access_key_id, salt, description, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&key.access_key_id)
                    .bind(&key.salt)
                    .bind(&key.description)
                    .bind(key.created_at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn get_api_key(&self, access_key_id: &str) -> StoreResult<ApiKeyRecord> {
                let r = sqlx::query("SELECT access_key_id, salt, description, created_at, revoked_at FROM api_keys WHERE access_key_id = $1")
                    .bind(access_key_id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Self::api_key_from(&r)
            }

            async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
                let rows = sqlx::query("SELECT access_key_id, salt, description, created_at, revoked_at FROM api_keys ORDER BY created_at DESC, access_key_id")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::api_key_from).collect()
            }

            async fn revoke_api_key(&self, access_key_id: &str) -> StoreResult<()> {
                let n = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE access_key_id = $2 AND revoked_at IS NULL")
                    .bind(now_ms())
                    .bind(access_key_id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn create_import_job(&self, job: &ImportJob) -> StoreResult<()> {
                self.create_import_job_impl(job).await
            }

            async fn get_import_job(&self, job_id: &str) -> StoreResult<ImportJob> {
                self.get_import_job_impl(job_id).await
            }

            async fn list_import_jobs(&self, before: Option<i64>, limit: u32) -> StoreResult<Vec<(i64, ImportJob)>> {
                self.list_import_jobs_impl(before, limit).await
            }

            async fn resumable_import(&self, list_name: &str, action: ImportAction, source: &str, source_size: i64) -> StoreResult<Option<ImportJob>> {
                self.resumable_import_impl(list_name, action, source, source_size).await
            }

            async fn import_batch(
                &self,
                list: &ContactList,
                action: ImportAction,
                rows: &[ImportRow],
                override_opt_outs: bool,
                audit: &Audit,
                progress: Option<BatchProgress<'_>>,
            ) -> StoreResult<ImportCounts> {
                // An import decides against opt-outs (tombstones, UnsubscribeAll): every
                // acknowledged one is applied first.
                self.pending.settle_all().await?;
                match self.import_batch_impl(list, action, rows, override_opt_outs, audit, progress, true).await {
                    Err(StoreError::Conflict) => {
                        self.import_batch_impl(list, action, rows, override_opt_outs, audit, progress, false).await
                    }
                    done => done,
                }
            }

            async fn claim_import_job(&self, job_id: &str, me: &str, stale_before: i64, dead_owner: Option<&str>) -> StoreResult<bool> {
                self.claim_import_job_impl(job_id, me, stale_before, dead_owner).await
            }

            async fn finish_import_job(&self, job_id: &str, status: JobStatus, error: Option<&str>, audit: &Audit) -> StoreResult<ImportJob> {
                self.finish_import_job_impl(job_id, status, error, audit).await
            }

            async fn secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
                sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(candidate)
                    .bind(now_ms())
                    .execute(&self.write)
                    .await?;
                Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.write)
                    .await?)
            }
        }
    };
}
pub(super) use impl_store;

#[cfg(test)]
mod positional_tests {
    use super::positional;

    #[test]
    fn numbered_parameters_in_order_become_positional() {
        assert_eq!(
            positional("SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)"),
            "SELECT a FROM t WHERE x = ? AND y IN (?, ?)"
        );
        assert_eq!(
            positional("VALUES ($1, $2), ($3, $4)"),
            "VALUES (?, ?), (?, ?)"
        );
    }

    #[test]
    fn anything_else_is_left_alone() {
        for sql in ["x = $2 AND y = $1", "x = $1 AND y = $1", "($1, $3)"] {
            assert_eq!(positional(sql), sql);
        }
        assert_eq!(positional("no parameters"), "no parameters");
    }
}
