//! The PostgreSQL backend for scale-out: any number of optbox instances share one
//! database; background work is shared through row locks.

use super::admin::impl_admin;
use super::import::impl_import;
use super::logos::impl_logos;
use super::mail::impl_mail;
use super::mail_queue::impl_mail_queue;
use super::shared::{self, impl_store};
use super::webhooks::{self, impl_webhooks};
use super::*;
use crate::domain::{Topic, TopicPreference};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use std::time::Duration;

/// The PostgreSQL store. Reads and writes share one pool.
pub struct PgStore {
    read: PgPool,
    write: PgPool,
    lists: super::shared::ListCache,
    pending: std::sync::Arc<super::pending::Pending>,
}

impl PgStore {
    pub async fn open(url: &str, migrate: bool) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| OpenError::Connect {
                url: redact_url(url),
                cause: e.to_string(),
            })?;
        if migrate {
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .map_err(|e| OpenError::Migrate {
                    url: redact_url(url),
                    cause: e.to_string(),
                })?;
        }
        Ok(Self {
            read: pool.clone(),
            write: pool,
            lists: Default::default(),
            pending: Default::default(),
        })
    }

    fn database_file_impl(&self) -> Option<&std::path::Path> {
        None
    }

    fn session_backend(&self) -> crate::server::sessions::SessionBackend {
        crate::server::sessions::SessionBackend::Postgres(
            tower_sessions_sqlx_store::PostgresStore::new(self.write.clone()),
        )
    }
}

impl_store!(PgStore, sqlx::PgConnection, Backend::Postgres);
impl_import!(PgStore, sqlx::PgConnection);
impl_webhooks!(PgStore, sqlx::PgConnection, " FOR UPDATE SKIP LOCKED");

/// Bulk writes of an import batch: one statement per batch over arrays (`UNNEST`), so
/// PostgreSQL parses and plans one small statement instead of thousands of parameters.
impl PgStore {
    /// A connection for an import batch (the schema has no foreign keys to turn off).
    async fn bulk_begin(
        &self,
        _list_id: i64,
    ) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        Ok(self.write.acquire().await?)
    }

    async fn bulk_end(&self, _conn: &mut sqlx::pool::PoolConnection<sqlx::Postgres>) {}

    // The look-ups of an import batch, one statement each over an array; the rows are
    // read by `impl_import!`.
    async fn bulk_contacts_by_key(
        conn: &mut sqlx::PgConnection,
        list_id: i64,
        keys: &[String],
    ) -> StoreResult<Vec<PgRow>> {
        Ok(sqlx::query(
            "SELECT id, email, email_key, unsubscribe_all, attributes FROM contacts \
             WHERE list_id = $1 AND email_key = ANY($2)",
        )
        .bind(list_id)
        .bind(keys)
        .fetch_all(&mut *conn)
        .await?)
    }

    async fn bulk_prefs_of(conn: &mut sqlx::PgConnection, ids: &[i64]) -> StoreResult<Vec<PgRow>> {
        Ok(sqlx::query(
            "SELECT contact_id, topic_id, opt_in FROM contact_topic_prefs WHERE contact_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?)
    }

    async fn bulk_tombstones(
        conn: &mut sqlx::PgConnection,
        list_name: &str,
        hashes: &[&[u8]],
    ) -> StoreResult<Vec<PgRow>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query(
            "SELECT email_hash, unsubscribe_all, topics FROM tombstones \
             WHERE list_name = $1 AND email_hash = ANY($2)",
        )
        .bind(list_name)
        .bind(hashes)
        .fetch_all(&mut *conn)
        .await?)
    }

    async fn bulk_insert_contacts(
        conn: &mut sqlx::PgConnection,
        list_id: i64,
        rows: &[super::import::NewContactRow<'_>],
        now: i64,
    ) -> StoreResult<std::collections::HashMap<String, i64>> {
        if rows.is_empty() {
            return Ok(Default::default());
        }
        let emails: Vec<&str> = rows.iter().map(|r| r.email).collect();
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let hashes: Vec<&[u8]> = rows.iter().map(|r| r.hash).collect();
        let unsub: Vec<bool> = rows.iter().map(|r| r.unsubscribe_all).collect();
        let attrs: Vec<&str> = rows.iter().map(|r| r.attributes.as_str()).collect();
        let out = sqlx::query(
            "INSERT INTO contacts (list_id, email, email_key, email_hash, unsubscribe_all, attributes, created_at, updated_at) \
             SELECT $1, e, k, h, u, a, $7, $7 FROM UNNEST($2::text[], $3::text[], $4::bytea[], $5::bool[], $6::text[]) AS t(e, k, h, u, a) \
             RETURNING id, email_key",
        )
        .bind(list_id)
        .bind(&emails)
        .bind(&keys)
        .bind(&hashes)
        .bind(&unsub)
        .bind(&attrs)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        out.iter()
            .map(|r| Ok((r.try_get("email_key")?, r.try_get("id")?)))
            .collect()
    }

    async fn bulk_upsert_prefs(
        conn: &mut sqlx::PgConnection,
        rows: &[(i64, i64, bool)],
        upsert: bool,
    ) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let contacts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let topics: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let opt_in: Vec<bool> = rows.iter().map(|r| r.2).collect();
        let insert = "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) \
                      SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bool[])";
        let upserting = format!(
            "{insert} ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in"
        );
        sqlx::query(if upsert { &upserting } else { insert })
            .bind(&contacts)
            .bind(&topics)
            .bind(&opt_in)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
impl_mail!(PgStore, sqlx::PgConnection);
impl_mail_queue!(PgStore, sqlx::PgConnection, " FOR UPDATE SKIP LOCKED");
impl_admin!(PgStore);
impl_logos!(PgStore);
