//! Applying a batch of RFC 8058 opt-outs in one transaction (both modes use it), with the
//! one-click log's position recorded in the same transaction.

use super::super::contacts::{self, By, ContactChange, PrefMode};
use super::super::db::{Conn, Pools, on_db};
use super::super::events::{self, ContactKeyer, Subscription};
use super::super::lists::topic_ids;
use super::super::opt_outs::{self, OptOut};
use super::super::sql::{ContactRow, placeholders, preference, prefs_of, to_json, value_rows};
use super::super::{StoreError, StoreResult, now_ms};
use crate::domain::{Contact, SubscriptionStatus, Tombstone, TopicPreference};
use std::collections::{BTreeSet, HashMap};

/// Applies `items` in one transaction; each item succeeds or fails on its own, and the
/// outer error means nothing was committed. The batch is applied set-based; if that
/// fails as a whole, again item by item, each in a savepoint.
pub(super) async fn apply(
    pools: &Pools,
    items: &[OptOut],
    log_seq: Option<u64>,
) -> StoreResult<Vec<StoreResult<()>>> {
    if items.is_empty() && log_seq.is_none() {
        return Ok(Vec::new());
    }
    let mut tx = pools.write().begin().await?;
    match bulk(tx.conn(), pools.keyer(), items).await {
        Ok(results) => {
            record_position(tx.conn(), log_seq).await?;
            tx.commit().await?;
            return Ok(results);
        }
        Err(e) => {
            // One bad item must not fail the others: again, item by item.
            tracing::warn!(error = %e, items = items.len(), "one-click batch failed; retrying item by item");
            tx.rollback().await?;
        }
    }
    let mut tx = pools.write().begin().await?;
    let mut c = tx.conn();
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        // A savepoint per item: one failure rolls back only itself.
        let mut sp = c.begin().await?;
        match one(sp.conn(), pools.keyer(), item).await {
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
    record_position(c, log_seq).await?;
    tx.commit().await?;
    Ok(results)
}

/// How far the one-click log has been applied (0 when never).
pub(super) async fn applied_position(pools: &Pools) -> StoreResult<u64> {
    let seq: Option<i64> = on_db!(pools.write(), |p| {
        sqlx::query_scalar("SELECT applied_seq FROM one_click_log WHERE id = 1")
            .fetch_optional(p)
            .await?
    });
    Ok(seq.unwrap_or(0).max(0) as u64)
}

/// Records how far the one-click log is applied, in the transaction that applies it.
async fn record_position(c: Conn<'_>, log_seq: Option<u64>) -> StoreResult<()> {
    if let Some(seq) = log_seq {
        on_db!(c, |c| {
            sqlx::query(
                "INSERT INTO one_click_log (id, applied_seq) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET applied_seq = excluded.applied_seq",
            )
            .bind(seq as i64)
            .execute(c)
            .await?;
        });
    }
    Ok(())
}

/// One opt-out inside a transaction: the contact found by hash, or a tombstone when
/// there is none.
async fn one(mut c: Conn<'_>, keyer: &ContactKeyer, item: &OptOut) -> StoreResult<()> {
    match contacts::read(c.re(), item.list.id, By::Hash(&item.hash)).await {
        Ok(found) => {
            let change = match &item.topic {
                Some(t) => ContactChange {
                    unsubscribe_all: None,
                    preferences: Some((
                        PrefMode::Merge,
                        vec![(t.clone(), SubscriptionStatus::OptOut)],
                    )),
                    attributes: None,
                },
                None => ContactChange {
                    unsubscribe_all: Some(true),
                    preferences: None,
                    attributes: None,
                },
            };
            contacts::update(c, keyer, &item.list, &found.email, &change, &item.audit)
                .await
                .map(|_| ())
        }
        Err(StoreError::NotFound) => {
            let tomb = match &item.topic {
                Some(t) => Tombstone {
                    unsubscribe_all: false,
                    opted_out_topics: vec![t.clone()],
                },
                None => Tombstone {
                    unsubscribe_all: true,
                    opted_out_topics: vec![],
                },
            };
            opt_outs::record(c, keyer, &item.list, &item.hash, &tomb, &item.audit).await
        }
        Err(e) => Err(e),
    }
}

/// A contact of the batch with one of its explicit preferences (or none).
#[derive(sqlx::FromRow)]
struct HashedRow {
    #[sqlx(flatten)]
    contact: ContactRow,
    email_hash: Vec<u8>,
    topic: Option<String>,
    opt_in: Option<bool>,
}

/// What the decisions of one list's opt-outs write.
#[derive(Default)]
struct Writes<'a> {
    events: Vec<Subscription<'a>>,
    /// Contacts changed.
    touched: BTreeSet<i64>,
    /// Contacts newly unsubscribed from everything.
    unsub: BTreeSet<i64>,
    /// (contact, topic) preferences newly OPT_OUT.
    prefs: BTreeSet<(i64, i64)>,
    /// Tombstones changed (by address hash; written under their keys).
    tombs: BTreeSet<Vec<u8>>,
}

/// A batch of RFC 8058 opt-outs, set-based: per list one read of the batch's contacts
/// with their preferences (and of tombstones for addresses without a contact), the
/// decisions in memory in arrival order (an opt-out already in place writes nothing),
/// then a few multi-row statements. Same outcome and events as [`one`] item by item; an
/// error fails the whole batch (the caller then retries item by item).
async fn bulk(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    items: &[OptOut],
) -> StoreResult<Vec<StoreResult<()>>> {
    let now = now_ms();
    let mut results: Vec<StoreResult<()>> = items.iter().map(|_| Ok(())).collect();
    let mut list_ids: Vec<i64> = items.iter().map(|i| i.list.id).collect();
    list_ids.sort_unstable();
    list_ids.dedup();
    for list_id in list_ids {
        let mine: Vec<usize> = (0..items.len())
            .filter(|&k| items[k].list.id == list_id)
            .collect();
        let list = &items[mine[0]].list;
        let mut hashes: Vec<&[u8]> = mine.iter().map(|&k| items[k].hash.as_slice()).collect();
        hashes.sort_unstable();
        hashes.dedup();

        let mut contacts = contacts_by_hash(c.re(), list_id, &hashes).await?;
        let missing: Vec<&[u8]> = hashes
            .iter()
            .copied()
            .filter(|h| !contacts.contains_key(*h))
            .collect();
        let mut tombs = if missing.is_empty() {
            HashMap::new()
        } else {
            opt_outs::tombstones(c.re(), keyer, list.name.as_str(), &missing).await?
        };
        let topic_ids = if mine.iter().any(|&k| items[k].topic.is_some()) {
            topic_ids(c.re(), list_id).await?
        } else {
            HashMap::new()
        };

        // Decisions, in arrival order, against the state so far.
        let mut w = Writes::default();
        for &k in &mine {
            let item = &items[k];
            if let Some(contact) = contacts.get_mut(&item.hash) {
                if let Err(e) = decide_contact(contact, item, &topic_ids, now, &mut w) {
                    results[k] = Err(e);
                }
            } else {
                decide_tombstone(&mut tombs, item, &mut w);
            }
        }
        write(c.re(), keyer, list.name.as_str(), now, &tombs, &w).await?;
    }
    Ok(results)
}

/// The batch's contacts of one list with their explicit preferences, by address hash.
async fn contacts_by_hash(
    c: Conn<'_>,
    list_id: i64,
    hashes: &[&[u8]],
) -> StoreResult<HashMap<Vec<u8>, Contact>> {
    let sql = c.fast(format!(
        "SELECT c.id, c.email, c.email_hash, c.unsubscribe_all, c.attributes, c.created_at, \
         c.updated_at, c.paused_until, t.name AS topic, p.opt_in \
         FROM contacts c LEFT JOIN contact_topic_prefs p ON p.contact_id = c.id \
         LEFT JOIN topics t ON t.id = p.topic_id \
         WHERE c.list_id = $1 AND c.email_hash IN ({}) ORDER BY c.id, t.name",
        placeholders(2, hashes.len())
    ));
    let rows: Vec<HashedRow> = on_db!(c, |c| {
        let mut q = sqlx::query_as(&sql).bind(list_id);
        for h in hashes {
            q = q.bind(*h);
        }
        q.fetch_all(c).await?
    });
    let mut contacts: HashMap<Vec<u8>, Contact> = HashMap::new();
    for r in rows {
        let c = match contacts.entry(r.email_hash) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(r.contact.into_contact(Vec::new())?)
            }
        };
        if let (Some(name), Some(opt_in)) = (r.topic, r.opt_in) {
            c.preferences.push(preference(&name, opt_in)?);
        }
    }
    Ok(contacts)
}

/// An opt-out of a known contact: changes it in memory and notes the writes, unless it
/// is in place already.
fn decide_contact<'a>(
    c: &mut Contact,
    item: &'a OptOut,
    topic_ids: &HashMap<String, i64>,
    now: i64,
    w: &mut Writes<'a>,
) -> StoreResult<()> {
    let old = prefs_of(c);
    match &item.topic {
        Some(t) => {
            // The topic was removed from the list meanwhile.
            let &tid = topic_ids.get(t.as_str()).ok_or(StoreError::NotFound)?;
            match c.preferences.iter_mut().find(|p| p.topic == *t) {
                Some(p) if p.status == SubscriptionStatus::OptOut => return Ok(()),
                Some(p) => p.status = SubscriptionStatus::OptOut,
                None => {
                    let at = c
                        .preferences
                        .partition_point(|p| p.topic.as_str() < t.as_str());
                    c.preferences.insert(
                        at,
                        TopicPreference {
                            topic: t.clone(),
                            status: SubscriptionStatus::OptOut,
                        },
                    );
                }
            }
            w.prefs.insert((c.id, tid));
        }
        None => {
            if c.unsubscribe_all {
                return Ok(());
            }
            c.unsubscribe_all = true;
            w.unsub.insert(c.id);
        }
    }
    c.updated_at = now;
    w.touched.insert(c.id);
    w.events.push(Subscription {
        audit: &item.audit,
        topic: item.topic.as_ref().map(|t| t.as_str().to_owned()),
        email: Some(c.email.as_str().to_owned()),
        old: Some(to_json(&old)),
        new: Some(to_json(&prefs_of(c))),
        detail: "{}".into(),
    });
    Ok(())
}

/// An opt-out of an address without a contact: merged into its tombstone in memory,
/// unless it is there already.
fn decide_tombstone<'a>(
    tombs: &mut HashMap<Vec<u8>, Tombstone>,
    item: &'a OptOut,
    w: &mut Writes<'a>,
) {
    let old = tombs.get(&item.hash).cloned().unwrap_or_default();
    let mut merged = old.clone();
    match &item.topic {
        Some(t) if !merged.opted_out_topics.contains(t) => merged.opted_out_topics.push(t.clone()),
        Some(_) => {}
        None => merged.unsubscribe_all = true,
    }
    merged.opted_out_topics.sort();
    if merged == old {
        return;
    }
    w.events.push(Subscription {
        audit: &item.audit,
        topic: item.topic.as_ref().map(|t| t.as_str().to_owned()),
        email: None,
        old: None,
        new: None,
        detail: serde_json::json!({ "tombstone": merged, "contact": "unknown" }).to_string(),
    });
    w.tombs.insert(item.hash.clone());
    tombs.insert(item.hash.clone(), merged);
}

/// The writes of one list's decisions: a few multi-row statements, then the events (and
/// their webhook deliveries).
async fn write(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    list_name: &str,
    now: i64,
    tombs: &HashMap<Vec<u8>, Tombstone>,
    w: &Writes<'_>,
) -> StoreResult<()> {
    if !w.touched.is_empty() {
        let sql = if w.unsub.is_empty() {
            format!(
                "UPDATE contacts SET updated_at = $1 WHERE id IN ({})",
                placeholders(2, w.touched.len())
            )
        } else {
            format!(
                "UPDATE contacts SET updated_at = $1, \
                 unsubscribe_all = (unsubscribe_all OR id IN ({})) WHERE id IN ({})",
                placeholders(2, w.unsub.len()),
                placeholders(2 + w.unsub.len(), w.touched.len())
            )
        };
        let sql = c.fast(sql);
        on_db!(c.re(), |c| {
            let mut q = sqlx::query(&sql).bind(now);
            for id in w.unsub.iter().chain(w.touched.iter()) {
                q = q.bind(*id);
            }
            q.execute(c).await?;
        });
    }
    if !w.prefs.is_empty() {
        let values: Vec<String> = (0..w.prefs.len())
            .map(|i| format!("(${}, ${}, FALSE)", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = c.fast(format!(
            "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES {} \
             ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in",
            values.join(", ")
        ));
        on_db!(c.re(), |c| {
            let mut q = sqlx::query(&sql);
            for (cid, tid) in &w.prefs {
                q = q.bind(*cid).bind(*tid);
            }
            q.execute(c).await?;
        });
    }
    if !w.tombs.is_empty() {
        let keys = keyer.tombstones(w.tombs.iter().map(Vec::as_slice))?;
        let sql = c.fast(format!(
            "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, updated_at) \
             VALUES {} ON CONFLICT (list_name, email_hash) DO UPDATE SET \
             unsubscribe_all = excluded.unsubscribe_all, topics = excluded.topics, \
             updated_at = excluded.updated_at",
            value_rows(w.tombs.len(), 5)
        ));
        on_db!(c.re(), |c| {
            let mut q = sqlx::query(&sql);
            for (h, key) in w.tombs.iter().zip(&keys) {
                let t = &tombs[h];
                q = q
                    .bind(list_name)
                    .bind(key.as_slice())
                    .bind(t.unsubscribe_all)
                    .bind(to_json(&t.opted_out_topics))
                    .bind(now);
            }
            q.execute(c).await?;
        });
    }
    events::write_subscriptions(c, keyer, list_name, now, &w.events).await
}
