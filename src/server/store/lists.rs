//! Contact lists, their topics, tags and branding; the recipient path's list cache.
//! Removing a topic or a list keeps its contacts' opt-outs as tombstones, and a topic
//! added under a name used before gets them back.

use super::contact_key::ContactKeyer;
use super::db::{Conn, Pools, on_db};
use super::one_click::Sees;
use super::opt_outs;
use super::sql::{parse_list_parts, status, to_json, topic_name};
use super::{SqlStore, StoreError, StoreResult, now_ms};
use crate::domain::{ContactList, ListDefinition, SubscriptionStatus, Tag, Topic};
use crate::server::store::found;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// A list with its topic and contact counts, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ListStats {
    pub name: String,
    pub topics: i64,
    pub contacts: i64,
}

/// Summary row for list pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ListSummary {
    pub name: String,
    pub updated_at: i64,
}

/// List storage; a part of `Store`.
#[async_trait::async_trait]
pub trait ListStore {
    /// Creates a list; `max_lists` is the strict-mode cap.
    async fn create_list(
        &self,
        name: &str,
        def: &ListDefinition,
        max_lists: Option<u32>,
    ) -> StoreResult<ContactList>;
    async fn get_list(&self, name: &str) -> StoreResult<ContactList>;
    /// `get_list` for the recipient path: may answer from memory, at most
    /// `LIST_CACHE_TTL` old for changes made by other processes (changes through this
    /// store are seen at once).
    async fn get_list_cached(&self, name: &str) -> StoreResult<Arc<ContactList>>;
    async fn get_list_by_id(&self, id: i64) -> StoreResult<ContactList>;
    /// Lists in name order after `after`.
    async fn list_lists(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<ListSummary>>;
    /// Replaces description, topics (matched by name, so preferences of kept topics
    /// survive), tags and branding.
    async fn update_list(&self, name: &str, def: &ListDefinition) -> StoreResult<ContactList>;
    async fn delete_list(&self, name: &str) -> StoreResult<()>;
    /// Lists in name order with topic and contact counts, in one query.
    async fn list_stats(&self, limit: u32) -> StoreResult<Vec<ListStats>>;
    /// Replaces a list's tags (TagResource / UntagResource).
    async fn set_list_tags(&self, name: &str, tags: &[Tag]) -> StoreResult<()>;
}

#[derive(sqlx::FromRow)]
struct ListRow {
    id: i64,
    name: String,
    description: String,
    tags: String,
    branding: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct TopicRow {
    name: String,
    display_name: String,
    description: String,
    default_opt_in: bool,
    hidden: bool,
}

/// How a list is looked up.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    Id(i64),
    Name(&'a str),
}

/// A list with its topics.
async fn read(mut c: Conn<'_>, key: Key<'_>) -> StoreResult<ContactList> {
    let q = "SELECT id, name, description, tags, branding, created_at, updated_at \
             FROM contact_lists";
    let row: Option<ListRow> = on_db!(c.re(), |c| match key {
        Key::Id(id) => {
            sqlx::query_as(&format!("{q} WHERE id = $1"))
                .bind(id)
                .fetch_optional(c)
                .await?
        }
        Key::Name(n) => {
            sqlx::query_as(&format!("{q} WHERE name = $1"))
                .bind(n)
                .fetch_optional(c)
                .await?
        }
    });
    let row = row.ok_or(StoreError::NotFound)?;
    let (name, tags, branding) = parse_list_parts(&row.name, &row.tags, &row.branding)?;
    let topics: Vec<TopicRow> = on_db!(c, |c| {
        sqlx::query_as(
            "SELECT name, display_name, description, default_opt_in, hidden FROM topics \
             WHERE list_id = $1 ORDER BY position",
        )
        .bind(row.id)
        .fetch_all(c)
        .await?
    });
    let topics = topics
        .into_iter()
        .map(|t| {
            Ok(Topic {
                name: topic_name(&t.name)?,
                display_name: t.display_name,
                description: t.description,
                default_status: status(t.default_opt_in),
                hidden: t.hidden,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(ContactList {
        id: row.id,
        name,
        description: row.description,
        topics,
        tags,
        branding,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A list by id, read now (not from the cache).
pub(super) async fn by_id(pools: &Pools, id: i64) -> StoreResult<ContactList> {
    let mut c = pools.read().acquire().await?;
    read(c.conn(), Key::Id(id)).await
}

/// A list's topic ids by name.
pub(super) async fn topic_ids(c: Conn<'_>, list_id: i64) -> StoreResult<HashMap<String, i64>> {
    let rows: Vec<(i64, String)> = on_db!(c, |c| {
        sqlx::query_as("SELECT id, name FROM topics WHERE list_id = $1")
            .bind(list_id)
            .fetch_all(c)
            .await?
    });
    Ok(rows.into_iter().map(|(id, name)| (name, id)).collect())
}

/// Makes the list's topics `topics`. A removed topic's opt-outs go to their contacts'
/// tombstones, and a topic added under a name used before gets them back: removing a
/// topic and adding it again subscribes nobody.
async fn write_topics(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    list_id: i64,
    list_name: &str,
    topics: &[Topic],
) -> StoreResult<()> {
    let existing = topic_ids(c.re(), list_id).await?;
    for (name, &id) in &existing {
        if !topics.iter().any(|t| t.name.as_str() == name) {
            let held = opt_outs::held(c.re(), list_id, Some(id)).await?;
            opt_outs::merge(c.re(), keyer, list_name, &held).await?;
            // Preferences carry no foreign keys on PostgreSQL (see the migration
            // `contacts_without_foreign_keys`): the store removes them.
            on_db!(c.re(), |c| {
                sqlx::query("DELETE FROM contact_topic_prefs WHERE topic_id = $1")
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                sqlx::query("DELETE FROM topics WHERE id = $1")
                    .bind(id)
                    .execute(c)
                    .await?;
            });
        }
    }
    for (pos, t) in topics.iter().enumerate() {
        let opt_in = t.default_status == SubscriptionStatus::OptIn;
        if let Some(&id) = existing.get(t.name.as_str()) {
            on_db!(c.re(), |c| {
                sqlx::query(
                    "UPDATE topics SET display_name = $1, description = $2, \
                     default_opt_in = $3, hidden = $4, position = $5 WHERE id = $6",
                )
                .bind(&t.display_name)
                .bind(&t.description)
                .bind(opt_in)
                .bind(t.hidden)
                .bind(pos as i32)
                .bind(id)
                .execute(c)
                .await?;
            });
        } else {
            let id: i64 = on_db!(c.re(), |c| {
                sqlx::query_scalar(
                    "INSERT INTO topics (list_id, name, display_name, description, \
                     default_opt_in, hidden, position) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(list_id)
                .bind(t.name.as_str())
                .bind(&t.display_name)
                .bind(&t.description)
                .bind(opt_in)
                .bind(t.hidden)
                .bind(pos as i32)
                .fetch_one(c)
                .await?
            });
            opt_outs::restore_topic(c.re(), keyer, list_id, list_name, &t.name, id).await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl ListStore for SqlStore {
    async fn create_list(
        &self,
        name: &str,
        def: &ListDefinition,
        max_lists: Option<u32>,
    ) -> StoreResult<ContactList> {
        let mut tx = self.pools.write().begin().await?;
        if let Some(max) = max_lists {
            let n: i64 = on_db!(tx.conn(), |c| {
                sqlx::query_scalar("SELECT COUNT(*) FROM contact_lists")
                    .fetch_one(c)
                    .await?
            });
            if n >= max as i64 {
                return Err(StoreError::LimitReached);
            }
        }
        let now = now_ms();
        let id: i64 = on_db!(tx.conn(), |c| {
            sqlx::query_scalar(
                "INSERT INTO contact_lists (name, description, tags, branding, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(name)
            .bind(&def.description)
            .bind(to_json(&def.tags))
            .bind(to_json(&def.branding))
            .bind(now)
            .fetch_one(c)
            .await?
        });
        write_topics(tx.conn(), self.pools.keyer(), id, name, &def.topics).await?;
        let list = read(tx.conn(), Key::Id(id)).await?;
        tx.commit().await?;
        self.lists.invalidate();
        Ok(list)
    }

    async fn get_list(&self, name: &str) -> StoreResult<ContactList> {
        let mut c = self.pools.read().acquire().await?;
        read(c.conn(), Key::Name(name)).await
    }

    async fn get_list_cached(&self, name: &str) -> StoreResult<Arc<ContactList>> {
        match self.lists.get(name) {
            Ok(list) => Ok(list),
            Err(generation) => {
                let list = Arc::new(self.get_list(name).await?);
                self.lists.put(generation, &list);
                Ok(list)
            }
        }
    }

    async fn get_list_by_id(&self, id: i64) -> StoreResult<ContactList> {
        by_id(&self.pools, id).await
    }

    async fn list_lists(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<ListSummary>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT name, updated_at FROM contact_lists WHERE name > $1 \
                 ORDER BY name LIMIT $2",
            )
            .bind(after.unwrap_or(""))
            .bind(limit as i64)
            .fetch_all(p)
            .await?
        }))
    }

    async fn update_list(&self, name: &str, def: &ListDefinition) -> StoreResult<ContactList> {
        // Opt-outs acknowledged before a topic's removal are applied first.
        let db = self.settled(Sees::All).await?;
        let mut tx = db.write().begin().await?;
        let id: Option<i64> = on_db!(tx.conn(), |c| {
            sqlx::query_scalar(
                "UPDATE contact_lists SET description = $1, tags = $2, branding = $3, \
                 updated_at = $4 WHERE name = $5 RETURNING id",
            )
            .bind(&def.description)
            .bind(to_json(&def.tags))
            .bind(to_json(&def.branding))
            .bind(now_ms())
            .bind(name)
            .fetch_optional(c)
            .await?
        });
        let id = id.ok_or(StoreError::NotFound)?;
        write_topics(tx.conn(), self.pools.keyer(), id, name, &def.topics).await?;
        let list = read(tx.conn(), Key::Id(id)).await?;
        tx.commit().await?;
        self.lists.invalidate();
        Ok(list)
    }

    async fn delete_list(&self, name: &str) -> StoreResult<()> {
        let db = self.settled(Sees::All).await?;
        let mut tx = db.write().begin().await?;
        // The list's opt-outs outlive it: a list created again under this name gets them
        // back as its contacts are added.
        let id: Option<i64> = on_db!(tx.conn(), |c| {
            sqlx::query_scalar("SELECT id FROM contact_lists WHERE name = $1")
                .bind(name)
                .fetch_optional(c)
                .await?
        });
        if let Some(id) = id {
            let held = opt_outs::held(tx.conn(), id, None).await?;
            opt_outs::merge(tx.conn(), self.pools.keyer(), name, &held).await?;
        }
        // Contacts and preferences carry no foreign keys on PostgreSQL (see the migration
        // `contacts_without_foreign_keys`). Every preference of a list's contacts names
        // one of the list's topics.
        let n: u64 = on_db!(tx.conn(), |c| {
            sqlx::query(
                "DELETE FROM contact_topic_prefs WHERE topic_id IN \
                 (SELECT t.id FROM topics t JOIN contact_lists l ON l.id = t.list_id \
                 WHERE l.name = $1)",
            )
            .bind(name)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "DELETE FROM contacts WHERE list_id IN \
                 (SELECT id FROM contact_lists WHERE name = $1)",
            )
            .bind(name)
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM contact_lists WHERE name = $1")
                .bind(name)
                .execute(c)
                .await?
                .rows_affected()
        });
        tx.commit().await?;
        self.lists.invalidate();
        found(n)
    }

    async fn list_stats(&self, limit: u32) -> StoreResult<Vec<ListStats>> {
        let db = self.settled(Sees::All).await?;
        Ok(on_db!(db.read(), |p| {
            sqlx::query_as(
                "SELECT l.name, \
                   (SELECT COUNT(*) FROM topics t WHERE t.list_id = l.id) AS topics, \
                   (SELECT COUNT(*) FROM contacts c WHERE c.list_id = l.id) AS contacts \
                 FROM contact_lists l ORDER BY l.name LIMIT $1",
            )
            .bind(limit as i64)
            .fetch_all(p)
            .await?
        }))
    }

    async fn set_list_tags(&self, name: &str, tags: &[Tag]) -> StoreResult<()> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query("UPDATE contact_lists SET tags = $1 WHERE name = $2")
                .bind(to_json(&tags))
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        self.lists.invalidate();
        found(n)
    }
}

/// How long a list read through [`ListCache`] may be reused. Writes through the same
/// store invalidate at once; this bounds staleness for writes by other processes sharing
/// the database (other instances on PostgreSQL, the CLI).
pub const LIST_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Lists (with topics and branding) read on the recipient path, kept for
/// [`LIST_CACHE_TTL`]. A generation counter keeps a read that raced an invalidation from
/// being stored.
#[derive(Default)]
pub(crate) struct ListCache {
    inner: std::sync::Mutex<ListCacheInner>,
}

#[derive(Default)]
struct ListCacheInner {
    generation: u64,
    lists: HashMap<String, (std::time::Instant, Arc<ContactList>)>,
}

impl ListCache {
    /// Bounds memory if a deployment has very many lists.
    const MAX_ENTRIES: usize = 1024;

    fn lock(&self) -> std::sync::MutexGuard<'_, ListCacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh cached copy, or the generation to pass to [`ListCache::put`].
    pub fn get(&self, name: &str) -> Result<Arc<ContactList>, u64> {
        let g = self.lock();
        match g.lists.get(name) {
            Some((at, list)) if at.elapsed() < LIST_CACHE_TTL => Ok(list.clone()),
            _ => Err(g.generation),
        }
    }

    pub fn put(&self, generation: u64, list: &Arc<ContactList>) {
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
