//! Uploaded list logos (`list_logos`): at most one per list, removed with the list by the
//! foreign key. The service checks size and type before anything gets here.

use super::StoreResult;

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

/// Logo storage; a supertrait of `Store`, implemented per backend by `impl_logos!`.
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

/// `LogoStore` for a backend; the SQL is the same on both.
macro_rules! impl_logos {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::server::store::LogoStore for $store {
            async fn put_list_logo(
                &self,
                list_id: i64,
                content_type: &str,
                bytes: &[u8],
                version: &str,
            ) -> StoreResult<()> {
                // Through the list row, so a list deleted meanwhile is `NotFound`, not a
                // foreign-key error. (SQLite needs the WHERE to read `ON CONFLICT` right.)
                let n = sqlx::query(
                    "INSERT INTO list_logos (list_id, content_type, bytes, version, updated_at) \
                     SELECT id, $2, $3, $4, $5 FROM contact_lists WHERE id = $1 \
                     ON CONFLICT (list_id) DO UPDATE SET content_type = excluded.content_type, \
                     bytes = excluded.bytes, version = excluded.version, updated_at = excluded.updated_at",
                )
                .bind(list_id)
                .bind(content_type)
                .bind(bytes)
                .bind(version)
                .bind(crate::server::store::now_ms())
                .execute(&self.write)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn get_list_logo(
                &self,
                list_id: i64,
            ) -> StoreResult<Option<crate::server::store::ListLogo>> {
                let row = sqlx::query(
                    "SELECT content_type, bytes, version, updated_at FROM list_logos WHERE list_id = $1",
                )
                .bind(list_id)
                .fetch_optional(&self.read)
                .await?;
                row.map(|r| {
                    Ok(crate::server::store::ListLogo {
                        list_id,
                        content_type: r.try_get("content_type")?,
                        bytes: r.try_get("bytes")?,
                        version: r.try_get("version")?,
                        updated_at: r.try_get("updated_at")?,
                    })
                })
                .transpose()
            }

            async fn delete_list_logo(&self, list_id: i64) -> StoreResult<bool> {
                let n = sqlx::query("DELETE FROM list_logos WHERE list_id = $1")
                    .bind(list_id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }
        }
    };
}

pub(super) use impl_logos;
