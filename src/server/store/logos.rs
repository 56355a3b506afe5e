//! Uploaded list logos (`list_logos`): at most one per list, removed with the list by the
//! foreign key. The service checks size and type before anything gets here.

use super::db::on_db;
use super::{SqlStore, StoreResult, now_ms};
use crate::server::store::found;

/// A list's logo as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLogo {
    pub list_id: i64,
    /// Decided from the bytes when uploaded (`image/png`, `image/jpeg`, …).
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// A hash of the bytes: the cache key in the logo's URL and its ETag.
    pub version: String,
    pub updated_at: i64,
}

/// Logo storage; a part of `Store`.
#[async_trait::async_trait]
pub trait LogoStore {
    /// Stores or replaces the logo of list `list_id`; `NotFound` when there is no such list.
    async fn put_list_logo(
        &self,
        list_id: i64,
        content_type: &str,
        bytes: &[u8],
        version: &str,
    ) -> StoreResult<()>;
    /// The logo of list `list_id`, if it has one.
    async fn get_list_logo(&self, list_id: i64) -> StoreResult<Option<ListLogo>>;
    /// Removes the logo; false when the list had none.
    async fn delete_list_logo(&self, list_id: i64) -> StoreResult<bool>;
}

#[async_trait::async_trait]
impl LogoStore for SqlStore {
    async fn put_list_logo(
        &self,
        list_id: i64,
        content_type: &str,
        bytes: &[u8],
        version: &str,
    ) -> StoreResult<()> {
        // Through the list row, so a list deleted meanwhile is `NotFound`, not a
        // foreign-key error. (SQLite needs the WHERE to read `ON CONFLICT` right.)
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query(
                "INSERT INTO list_logos (list_id, content_type, bytes, version, updated_at) \
                 SELECT id, $2, $3, $4, $5 FROM contact_lists WHERE id = $1 \
                 ON CONFLICT (list_id) DO UPDATE SET content_type = excluded.content_type, \
                 bytes = excluded.bytes, version = excluded.version, \
                 updated_at = excluded.updated_at",
            )
            .bind(list_id)
            .bind(content_type)
            .bind(bytes)
            .bind(version)
            .bind(now_ms())
            .execute(p)
            .await?
            .rows_affected()
        });
        found(n)
    }

    async fn get_list_logo(&self, list_id: i64) -> StoreResult<Option<ListLogo>> {
        let row: Option<(String, Vec<u8>, String, i64)> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT content_type, bytes, version, updated_at FROM list_logos \
                 WHERE list_id = $1",
            )
            .bind(list_id)
            .fetch_optional(p)
            .await?
        });
        Ok(
            row.map(|(content_type, bytes, version, updated_at)| ListLogo {
                list_id,
                content_type,
                bytes,
                version,
                updated_at,
            }),
        )
    }

    async fn delete_list_logo(&self, list_id: i64) -> StoreResult<bool> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM list_logos WHERE list_id = $1")
                .bind(list_id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}
