//! Opt-outs that outlive their contact: tombstones, keyed by list name and the keyed
//! hash of the address ([`ContactKeyer::tombstone`]). A deleted contact, a deleted list
//! or a removed topic leaves its opt-outs here; an opt-out of an address with no contact
//! is recorded here; and a contact added again (or a topic of the same name) gets them
//! back.
//!
//! Callers speak of addresses by their address hash ([`email_hash`](super::email_hash),
//! what contacts and links carry); the functions here key it, so `tombstones` never
//! holds a value a guessed address can be checked against without the database's key.
//! Tombstones written before they were keyed wait in `tombstones_unkeyed` until the
//! store opens ([`key_unkeyed`]).

use super::db::{Conn, Db, Pools, on_db};
use super::events::{self, ContactKeyer, NewEvent};
use super::one_click::Sees;
use super::sql::{placeholders, to_json, tombstone_from, topic_name, value_rows};
use super::{Audit, SqlStore, StoreResult, now_ms};
use crate::domain::{ContactList, Tombstone, TopicName};
use std::collections::HashMap;
use std::sync::Arc;

/// One RFC 8058 opt-out: the token's list, address hash and topic (none: everything).
#[derive(Debug, Clone)]
pub struct OptOut {
    pub list: Arc<ContactList>,
    pub hash: Vec<u8>,
    pub topic: Option<TopicName>,
    pub audit: Audit,
}

/// Tombstone storage; a part of `Store`.
#[async_trait::async_trait]
pub trait OptOutStore {
    async fn get_tombstone(
        &self,
        list: &ContactList,
        hash: &[u8],
    ) -> StoreResult<Option<Tombstone>>;
    /// Records an opt-out for an address that has no contact (merged into any tombstone).
    async fn record_tombstone(
        &self,
        list: &ContactList,
        hash: &[u8],
        tomb: &Tombstone,
        audit: &Audit,
    ) -> StoreResult<()>;
}

#[async_trait::async_trait]
impl OptOutStore for SqlStore {
    async fn get_tombstone(
        &self,
        list: &ContactList,
        hash: &[u8],
    ) -> StoreResult<Option<Tombstone>> {
        let db = self.settled(Sees::Contact(list.id, hash)).await?;
        let mut c = db.read().acquire().await?;
        tombstone(c.conn(), self.pools.keyer(), list.name.as_str(), hash).await
    }

    async fn record_tombstone(
        &self,
        list: &ContactList,
        hash: &[u8],
        tomb: &Tombstone,
        audit: &Audit,
    ) -> StoreResult<()> {
        let db = self.settled(Sees::Contact(list.id, hash)).await?;
        let mut tx = db.write().begin().await?;
        record(tx.conn(), self.pools.keyer(), list, hash, tomb, audit).await?;
        tx.commit().await
    }
}

#[derive(sqlx::FromRow)]
struct TombRow {
    email_hash: Vec<u8>,
    unsubscribe_all: bool,
    topics: String,
}

/// An address's tombstone (by its address hash), if it has one.
pub(super) async fn tombstone(
    c: Conn<'_>,
    keyer: &ContactKeyer,
    list_name: &str,
    hash: &[u8],
) -> StoreResult<Option<Tombstone>> {
    let key = keyer.tombstone(hash)?;
    let row: Option<(bool, String)> = on_db!(c, |c| {
        sqlx::query_as(
            "SELECT unsubscribe_all, topics FROM tombstones \
             WHERE list_name = $1 AND email_hash = $2",
        )
        .bind(list_name)
        .bind(&key)
        .fetch_optional(c)
        .await?
    });
    row.map(|(unsub, topics)| tombstone_from(unsub, &topics))
        .transpose()
}

/// The tombstones of many addresses (as many as one statement takes), by address hash.
pub(super) async fn tombstones(
    c: Conn<'_>,
    keyer: &ContactKeyer,
    list_name: &str,
    hashes: &[&[u8]],
) -> StoreResult<HashMap<Vec<u8>, Tombstone>> {
    let keys = keyer.tombstones(hashes.iter().copied())?;
    let hash_of: HashMap<&[u8], &[u8]> = keys
        .iter()
        .map(Vec::as_slice)
        .zip(hashes.iter().copied())
        .collect();
    let mut out = HashMap::with_capacity(hashes.len());
    for (key, t) in by_keys(c, list_name, &keys).await? {
        if let Some(hash) = hash_of.get(key.as_slice()) {
            out.insert(hash.to_vec(), t);
        }
    }
    Ok(out)
}

/// The tombstones kept under these keys (as many as one statement takes), by key.
async fn by_keys(
    c: Conn<'_>,
    list_name: &str,
    keys: &[Vec<u8>],
) -> StoreResult<Vec<(Vec<u8>, Tombstone)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = c.fast(format!(
        "SELECT email_hash, unsubscribe_all, topics FROM tombstones \
         WHERE list_name = $1 AND email_hash IN ({})",
        placeholders(2, keys.len())
    ));
    let rows: Vec<TombRow> = on_db!(c, |c| {
        let mut q = sqlx::query_as(&sql).bind(list_name);
        for k in keys {
            q = q.bind(k.as_slice());
        }
        q.fetch_all(c).await?
    });
    rows.into_iter()
        .map(|r| Ok((r.email_hash, tombstone_from(r.unsubscribe_all, &r.topics)?)))
        .collect()
}

/// Writes an address's tombstone (by its address hash) as it is given; an empty one
/// removes the row.
pub(super) async fn put(
    c: Conn<'_>,
    keyer: &ContactKeyer,
    list_name: &str,
    hash: &[u8],
    t: &Tombstone,
) -> StoreResult<()> {
    put_keyed(c, list_name, &keyer.tombstone(hash)?, t).await
}

/// [`put`], by the tombstone's key.
async fn put_keyed(c: Conn<'_>, list_name: &str, key: &[u8], t: &Tombstone) -> StoreResult<()> {
    if t.is_empty() {
        on_db!(c, |c| {
            sqlx::query("DELETE FROM tombstones WHERE list_name = $1 AND email_hash = $2")
                .bind(list_name)
                .bind(key)
                .execute(c)
                .await?;
        });
        return Ok(());
    }
    on_db!(c, |c| {
        sqlx::query(
            "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (list_name, email_hash) DO UPDATE SET \
             unsubscribe_all = excluded.unsubscribe_all, topics = excluded.topics, \
             updated_at = excluded.updated_at",
        )
        .bind(list_name)
        .bind(key)
        .bind(t.unsubscribe_all)
        .bind(to_json(&t.opted_out_topics))
        .bind(now_ms())
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Adds opt-outs to the tombstones of many addresses (each merged into what is recorded
/// already): a few reads and multi-row upserts per chunk.
pub(super) async fn merge(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    list_name: &str,
    adds: &[(Vec<u8>, Tombstone)],
) -> StoreResult<()> {
    const CHUNK: usize = 400;
    for chunk in adds.chunks(CHUNK) {
        // By key: what the chunk adds, merged with what is kept.
        let keys = keyer.tombstones(chunk.iter().map(|(h, _)| h.as_slice()))?;
        let mut merged: HashMap<Vec<u8>, Tombstone> = HashMap::with_capacity(chunk.len());
        for (key, (_, t)) in keys.into_iter().zip(chunk) {
            let m = merged
                .get(&key)
                .map(|m| m.merged(t))
                .unwrap_or_else(|| t.clone());
            merged.insert(key, m);
        }
        let keys: Vec<Vec<u8>> = merged.keys().cloned().collect();
        for (key, old) in by_keys(c.re(), list_name, &keys).await? {
            if let Some(m) = merged.get_mut(&key) {
                *m = m.merged(&old);
            }
        }
        let rows: Vec<(&Vec<u8>, &Tombstone)> =
            merged.iter().filter(|(_, t)| !t.is_empty()).collect();
        if rows.is_empty() {
            continue;
        }
        let values: Vec<String> = (0..rows.len())
            .map(|i| format!("($1, ${}, ${}, ${}, $2)", 3 * i + 3, 3 * i + 4, 3 * i + 5))
            .collect();
        let sql = format!(
            "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, updated_at) \
             VALUES {} ON CONFLICT (list_name, email_hash) DO UPDATE SET \
             unsubscribe_all = excluded.unsubscribe_all, topics = excluded.topics, \
             updated_at = excluded.updated_at",
            values.join(", ")
        );
        on_db!(c.re(), |c| {
            let mut q = sqlx::query(&sql).bind(list_name).bind(now_ms());
            for (k, t) in &rows {
                q = q
                    .bind(k.as_slice())
                    .bind(t.unsubscribe_all)
                    .bind(to_json(&t.opted_out_topics));
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct HeldRow {
    id: i64,
    email_hash: Vec<u8>,
    unsubscribe_all: bool,
    topic: Option<String>,
}

/// The opt-outs that contacts of a list hold (all of them, or those of one topic), as
/// tombstones: what must be kept when the list or topic goes.
pub(super) async fn held(
    c: Conn<'_>,
    list_id: i64,
    topic_id: Option<i64>,
) -> StoreResult<Vec<(Vec<u8>, Tombstone)>> {
    let rows: Vec<HeldRow> = on_db!(c, |c| match topic_id {
        None => {
            sqlx::query_as(
                "SELECT c.id, c.email_hash, c.unsubscribe_all, t.name AS topic FROM contacts c \
                 LEFT JOIN contact_topic_prefs p ON p.contact_id = c.id AND p.opt_in = FALSE \
                 LEFT JOIN topics t ON t.id = p.topic_id \
                 WHERE c.list_id = $1 AND (c.unsubscribe_all = TRUE OR t.id IS NOT NULL) \
                 ORDER BY c.id",
            )
            .bind(list_id)
            .fetch_all(c)
            .await?
        }
        Some(tid) => {
            sqlx::query_as(
                "SELECT c.id, c.email_hash, FALSE AS unsubscribe_all, t.name AS topic \
                 FROM contact_topic_prefs p \
                 JOIN contacts c ON c.id = p.contact_id JOIN topics t ON t.id = p.topic_id \
                 WHERE p.topic_id = $1 AND p.opt_in = FALSE AND c.list_id = $2 ORDER BY c.id",
            )
            .bind(tid)
            .bind(list_id)
            .fetch_all(c)
            .await?
        }
    });
    let mut out: Vec<(i64, Vec<u8>, Tombstone)> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|(last, _, _)| *last != r.id) {
            let tomb = Tombstone {
                unsubscribe_all: r.unsubscribe_all,
                opted_out_topics: Vec::new(),
            };
            out.push((r.id, r.email_hash, tomb));
        }
        if let Some(name) = r.topic {
            let t = topic_name(&name)?;
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

/// A topic added to a list gets back the opt-outs its contacts gave to an earlier topic
/// of the same name (kept in their tombstones when it was removed); those entries leave
/// the tombstones. A tombstone's key cannot be joined with a contact's address hash in
/// SQL: the list's tombstones naming the topic are read first (usually none), then the
/// keys of the list's contacts computed page by page until each tombstone has found its
/// contact (or none is left).
pub(super) async fn restore_topic(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    list_id: i64,
    list_name: &str,
    topic: &TopicName,
    topic_id: i64,
) -> StoreResult<()> {
    const PAGE: i64 = 5_000;
    // Topic names are `[A-Za-z0-9_-]`: the quoted name is a JSON string as stored; `_`
    // may match more than it should, so every row is checked.
    let rows: Vec<TombRow> = on_db!(c.re(), |c| {
        sqlx::query_as(
            "SELECT email_hash, unsubscribe_all, topics FROM tombstones \
             WHERE list_name = $1 AND topics LIKE $2",
        )
        .bind(list_name)
        .bind(format!("%\"{}\"%", topic.as_str()))
        .fetch_all(c)
        .await?
    });
    let mut waiting: HashMap<Vec<u8>, Tombstone> = HashMap::new();
    for r in rows {
        let tomb = tombstone_from(r.unsubscribe_all, &r.topics)?;
        if tomb.opted_out_topics.contains(topic) {
            waiting.insert(r.email_hash, tomb);
        }
    }
    let mut after = 0i64;
    while !waiting.is_empty() {
        let page: Vec<(i64, Vec<u8>)> = on_db!(c.re(), |c| {
            sqlx::query_as(
                "SELECT id, email_hash FROM contacts WHERE list_id = $1 AND id > $2 \
                 ORDER BY id LIMIT $3",
            )
            .bind(list_id)
            .bind(after)
            .bind(PAGE)
            .fetch_all(c)
            .await?
        });
        let Some(&(last, _)) = page.last() else {
            break;
        };
        after = last;
        let keys = keyer.tombstones(page.iter().map(|(_, h)| h.as_slice()))?;
        for ((id, _), key) in page.iter().zip(keys) {
            let Some(mut tomb) = waiting.remove(&key) else {
                continue;
            };
            on_db!(c.re(), |c| {
                sqlx::query(
                    "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) \
                     VALUES ($1, $2, FALSE) \
                     ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = FALSE",
                )
                .bind(id)
                .bind(topic_id)
                .execute(c)
                .await?;
            });
            tomb.opted_out_topics.retain(|t| t != topic);
            put_keyed(c.re(), list_name, &key, &tomb).await?;
        }
    }
    Ok(())
}

/// Merges an opt-out into an address's tombstone and, when that changed it, writes the
/// `subscription` event, in the caller's transaction.
pub(super) async fn record(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    list: &ContactList,
    hash: &[u8],
    tomb: &Tombstone,
    audit: &Audit,
) -> StoreResult<()> {
    let old = tombstone(c.re(), keyer, list.name.as_str(), hash)
        .await?
        .unwrap_or_default();
    let merged = old.merged(tomb);
    if merged != old {
        put(c.re(), keyer, list.name.as_str(), hash, &merged).await?;
        events::write(
            c,
            keyer,
            NewEvent::new(
                "subscription",
                audit,
                serde_json::json!({ "tombstone": merged, "contact": "unknown" }),
            )
            .list(list.name.as_str())
            .topic(tomb.opted_out_topics.first().map(|t| t.as_str())),
        )
        .await?;
    }
    Ok(())
}

/// A tombstone written before tombstones were keyed (by its address hash).
#[derive(sqlx::FromRow)]
struct UnkeyedRow {
    list_name: String,
    email_hash: Vec<u8>,
    unsubscribe_all: bool,
    topics: String,
    updated_at: i64,
}

/// Whether tombstones written before they were keyed are still waiting to be moved.
async fn unkeyed_table(pools: &Pools) -> StoreResult<bool> {
    Ok(on_db!(pools.write(), |p| {
        sqlx::query_scalar::<_, bool>(match pools.backend() {
            super::Backend::Sqlite => {
                "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = 'tombstones_unkeyed')"
            }
            super::Backend::Postgres => "SELECT to_regclass('tombstones_unkeyed') IS NOT NULL",
        })
        .fetch_one(p)
        .await?
    }))
}

/// Moves the tombstones written before they were keyed into `tombstones`, under their
/// keys, and then drops the table they waited in (`tombstones_unkeyed`: the migration
/// `keyed_tombstones` renamed the old table to it). Called when the store opens, before
/// anything reads tombstones; once done it is one catalogue read.
///
/// Each batch leaves the old table and enters the new one in one transaction, merged
/// into a tombstone kept under the same key already (the opt-outs of both, the later
/// `updated_at`), so an interrupted move resumes at the next opening and a row is never
/// in both or in neither. Several PostgreSQL instances opening at once share the work
/// (each batch locks its rows, `SKIP LOCKED`); the table is dropped under an exclusive
/// lock once it is empty, so no instance returns while a batch of another is still
/// uncommitted. Returns how many tombstones this call moved.
pub(super) async fn key_unkeyed(pools: &Pools) -> StoreResult<u64> {
    const BATCH: i64 = 1_000;
    let pg = pools.backend() == super::Backend::Postgres;
    let take = format!(
        "DELETE FROM tombstones_unkeyed WHERE (list_name, email_hash) IN \
         (SELECT list_name, email_hash FROM tombstones_unkeyed LIMIT $1{}) \
         RETURNING list_name, email_hash, unsubscribe_all, topics, updated_at",
        if pg { " FOR UPDATE SKIP LOCKED" } else { "" }
    );
    let mut moved = 0;
    loop {
        if !unkeyed_table(pools).await? {
            return Ok(moved);
        }
        let mut tx = pools.write().begin().await?;
        let taken: StoreResult<Vec<UnkeyedRow>> = async {
            Ok(on_db!(tx.conn(), |c| {
                sqlx::query_as(&take).bind(BATCH).fetch_all(c).await?
            }))
        }
        .await;
        let rows = match taken {
            Ok(rows) => rows,
            // Dropped meanwhile by another instance that moved the rest.
            Err(e) => {
                tx.rollback().await.ok();
                if unkeyed_table(pools).await? {
                    return Err(e);
                }
                return Ok(moved);
            }
        };
        if rows.is_empty() {
            if pg {
                // Empty, or the rest taken by instances still moving it: the exclusive
                // lock waits for them; what they left is taken in the next round.
                tx.commit().await?;
                let mut tx = pools.write().begin().await?;
                let Db::Postgres(c) = tx.conn() else {
                    unreachable!("on PostgreSQL")
                };
                let left: StoreResult<bool> = async {
                    sqlx::query("LOCK TABLE tombstones_unkeyed IN ACCESS EXCLUSIVE MODE")
                        .execute(&mut *c)
                        .await?;
                    let left = sqlx::query("SELECT 1 FROM tombstones_unkeyed LIMIT 1")
                        .fetch_optional(&mut *c)
                        .await?
                        .is_some();
                    if !left {
                        sqlx::query("DROP TABLE tombstones_unkeyed")
                            .execute(&mut *c)
                            .await?;
                    }
                    Ok(left)
                }
                .await;
                match left {
                    Ok(false) => {
                        tx.commit().await?;
                        return Ok(moved);
                    }
                    Ok(true) => tx.rollback().await?,
                    Err(e) => {
                        tx.rollback().await.ok();
                        if unkeyed_table(pools).await? {
                            return Err(e);
                        }
                        return Ok(moved);
                    }
                }
            } else {
                // SQLite's one writer holds the database since the `DELETE`: empty.
                on_db!(tx.conn(), |c| {
                    sqlx::query("DROP TABLE tombstones_unkeyed")
                        .execute(c)
                        .await?;
                });
                tx.commit().await?;
                return Ok(moved);
            }
            continue;
        }
        moved += rows.len() as u64;
        key_rows(tx.conn(), pools.keyer(), pg, rows).await?;
        tx.commit().await?;
    }
}

/// A tombstone on its way from `tombstones_unkeyed` into `tombstones`.
struct Keyed {
    list: String,
    key: Vec<u8>,
    tomb: Tombstone,
    updated_at: i64,
}

/// Writes tombstones taken from `tombstones_unkeyed` under their keys, each merged into
/// a tombstone kept under that key already, in the caller's transaction.
async fn key_rows(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    pg: bool,
    rows: Vec<UnkeyedRow>,
) -> StoreResult<()> {
    let keys = keyer.tombstones(rows.iter().map(|r| r.email_hash.as_slice()))?;
    let mut all: Vec<Keyed> = Vec::with_capacity(rows.len());
    let mut index: HashMap<(String, Vec<u8>), usize> = HashMap::with_capacity(rows.len());
    for (r, key) in rows.into_iter().zip(keys) {
        let tomb = tombstone_from(r.unsubscribe_all, &r.topics)?;
        match index.entry((r.list_name.clone(), key.clone())) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let k = &mut all[*e.get()];
                k.tomb = k.tomb.merged(&tomb);
                k.updated_at = k.updated_at.max(r.updated_at);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(all.len());
                all.push(Keyed {
                    list: r.list_name,
                    key,
                    tomb,
                    updated_at: r.updated_at,
                });
            }
        }
    }
    // New keys in one statement per chunk; a key kept already is merged row by row
    // (rare: a tombstone written under its key before this one was moved).
    let mut inserted: std::collections::HashSet<(String, Vec<u8>)> = Default::default();
    for chunk in all.chunks(500) {
        let sql = c.fast(format!(
            "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, updated_at) \
             VALUES {} ON CONFLICT (list_name, email_hash) DO NOTHING \
             RETURNING list_name, email_hash",
            value_rows(chunk.len(), 5)
        ));
        let done: Vec<(String, Vec<u8>)> = on_db!(c.re(), |c| {
            let mut q = sqlx::query_as(&sql);
            for k in chunk {
                q = q
                    .bind(k.list.as_str())
                    .bind(k.key.as_slice())
                    .bind(k.tomb.unsubscribe_all)
                    .bind(to_json(&k.tomb.opted_out_topics))
                    .bind(k.updated_at);
            }
            q.fetch_all(c).await?
        });
        inserted.extend(done);
    }
    let lock = if pg { " FOR UPDATE" } else { "" };
    let read = format!(
        "SELECT unsubscribe_all, topics, updated_at FROM tombstones \
         WHERE list_name = $1 AND email_hash = $2{lock}"
    );
    for k in all {
        if inserted.contains(&(k.list.clone(), k.key.clone())) {
            continue;
        }
        let kept: Option<(bool, String, i64)> = on_db!(c.re(), |c| {
            sqlx::query_as(&read)
                .bind(k.list.as_str())
                .bind(k.key.as_slice())
                .fetch_optional(c)
                .await?
        });
        let (tomb, at) = match kept {
            Some((unsub, topics, at)) => (
                k.tomb.merged(&tombstone_from(unsub, &topics)?),
                at.max(k.updated_at),
            ),
            None => (k.tomb, k.updated_at),
        };
        on_db!(c.re(), |c| {
            sqlx::query(
                "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, \
                 updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (list_name, email_hash) DO UPDATE SET \
                 unsubscribe_all = excluded.unsubscribe_all, topics = excluded.topics, \
                 updated_at = excluded.updated_at",
            )
            .bind(k.list.as_str())
            .bind(k.key.as_slice())
            .bind(tomb.unsubscribe_all)
            .bind(to_json(&tomb.opted_out_topics))
            .bind(at)
            .execute(c)
            .await?;
        });
    }
    Ok(())
}
