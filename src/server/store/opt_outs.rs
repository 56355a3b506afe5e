//! Opt-outs that outlive their contact: tombstones, keyed by list name and address hash.
//! A deleted contact, a deleted list or a removed topic leaves its opt-outs here; an
//! opt-out of an address with no contact is recorded here; and a contact added again
//! (or a topic of the same name) gets them back.

use super::db::{Conn, on_db};
use super::events::{self, ContactKeyer, NewEvent};
use super::one_click::Sees;
use super::sql::{placeholders, to_json, tombstone_from, topic_name};
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
        tombstone(c.conn(), list.name.as_str(), hash).await
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

/// An address's tombstone, if it has one.
pub(super) async fn tombstone(
    c: Conn<'_>,
    list_name: &str,
    hash: &[u8],
) -> StoreResult<Option<Tombstone>> {
    let row: Option<(bool, String)> = on_db!(c, |c| {
        sqlx::query_as(
            "SELECT unsubscribe_all, topics FROM tombstones \
             WHERE list_name = $1 AND email_hash = $2",
        )
        .bind(list_name)
        .bind(hash)
        .fetch_optional(c)
        .await?
    });
    row.map(|(unsub, topics)| tombstone_from(unsub, &topics))
        .transpose()
}

/// The tombstones of many addresses (as many as one statement takes), by address hash.
pub(super) async fn tombstones(
    c: Conn<'_>,
    list_name: &str,
    hashes: &[&[u8]],
) -> StoreResult<HashMap<Vec<u8>, Tombstone>> {
    if hashes.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = c.fast(format!(
        "SELECT email_hash, unsubscribe_all, topics FROM tombstones \
         WHERE list_name = $1 AND email_hash IN ({})",
        placeholders(2, hashes.len())
    ));
    let rows: Vec<TombRow> = on_db!(c, |c| {
        let mut q = sqlx::query_as(&sql).bind(list_name);
        for h in hashes {
            q = q.bind(*h);
        }
        q.fetch_all(c).await?
    });
    rows.into_iter()
        .map(|r| Ok((r.email_hash, tombstone_from(r.unsubscribe_all, &r.topics)?)))
        .collect()
}

/// Writes an address's tombstone as it is given; an empty one removes the row.
pub(super) async fn put(
    c: Conn<'_>,
    list_name: &str,
    hash: &[u8],
    t: &Tombstone,
) -> StoreResult<()> {
    if t.is_empty() {
        on_db!(c, |c| {
            sqlx::query("DELETE FROM tombstones WHERE list_name = $1 AND email_hash = $2")
                .bind(list_name)
                .bind(hash)
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
        .bind(hash)
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
    list_name: &str,
    adds: &[(Vec<u8>, Tombstone)],
) -> StoreResult<()> {
    const CHUNK: usize = 400;
    for chunk in adds.chunks(CHUNK) {
        let mut merged: HashMap<&[u8], Tombstone> = HashMap::with_capacity(chunk.len());
        for (h, t) in chunk {
            let m = merged
                .get(h.as_slice())
                .map(|m| m.merged(t))
                .unwrap_or_else(|| t.clone());
            merged.insert(h.as_slice(), m);
        }
        let hashes: Vec<&[u8]> = merged.keys().copied().collect();
        for (h, old) in tombstones(c.re(), list_name, &hashes).await? {
            if let Some(m) = merged.get_mut(h.as_slice()) {
                *m = m.merged(&old);
            }
        }
        let rows: Vec<(&[u8], &Tombstone)> = merged
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(h, t)| (*h, t))
            .collect();
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
            for (h, t) in &rows {
                q = q
                    .bind(*h)
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

#[derive(sqlx::FromRow)]
struct RestoreRow {
    id: i64,
    email_hash: Vec<u8>,
    unsubscribe_all: bool,
    topics: String,
}

/// A topic added to a list gets back the opt-outs its contacts gave to an earlier topic
/// of the same name (kept in their tombstones when it was removed); those entries leave
/// the tombstones.
pub(super) async fn restore_topic(
    mut c: Conn<'_>,
    list_id: i64,
    list_name: &str,
    topic: &TopicName,
    topic_id: i64,
) -> StoreResult<()> {
    // Topic names are `[A-Za-z0-9_-]`: the quoted name is a JSON string as stored; `_`
    // may match more than it should, so every row is checked.
    let rows: Vec<RestoreRow> = on_db!(c.re(), |c| {
        sqlx::query_as(
            "SELECT c.id, t.email_hash, t.unsubscribe_all, t.topics FROM tombstones t \
             JOIN contacts c ON c.list_id = $1 AND c.email_hash = t.email_hash \
             WHERE t.list_name = $2 AND t.topics LIKE $3",
        )
        .bind(list_id)
        .bind(list_name)
        .bind(format!("%\"{}\"%", topic.as_str()))
        .fetch_all(c)
        .await?
    });
    for r in rows {
        let mut tomb = tombstone_from(r.unsubscribe_all, &r.topics)?;
        if !tomb.opted_out_topics.contains(topic) {
            continue;
        }
        on_db!(c.re(), |c| {
            sqlx::query(
                "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) \
                 VALUES ($1, $2, FALSE) \
                 ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = FALSE",
            )
            .bind(r.id)
            .bind(topic_id)
            .execute(c)
            .await?;
        });
        tomb.opted_out_topics.retain(|t| t != topic);
        put(c.re(), list_name, &r.email_hash, &tomb).await?;
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
    let old = tombstone(c.re(), list.name.as_str(), hash)
        .await?
        .unwrap_or_default();
    let merged = old.merged(tomb);
    if merged != old {
        put(c.re(), list.name.as_str(), hash, &merged).await?;
        events::write(
            c,
            keyer,
            NewEvent {
                kind: "subscription",
                audit: Some(audit),
                list_name: Some(list.name.as_str()),
                topic_name: tomb.opted_out_topics.first().map(|t| t.as_str()),
                contact_email: None,
                old: None,
                new: None,
                detail: serde_json::json!({ "tombstone": merged, "contact": "unknown" }),
            },
        )
        .await?;
    }
    Ok(())
}
