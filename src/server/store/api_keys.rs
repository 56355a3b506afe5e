//! SES-API credentials. A key's secret is derived from its salt and the server's
//! `api_key_master`; it is never stored.

use super::db::on_db;
use super::{SqlStore, StoreError, StoreResult, now_ms};
use crate::server::store::found;

/// An SES-API credential. The secret is derived from the salt and the server's
/// `api_key_master`, never stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub access_key_id: String,
    pub salt: Vec<u8>,
    pub description: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// What the key may do (a `KeyScope` as JSON); `None`: everything.
    pub scope: Option<String>,
}

/// API-key storage; a part of `Store`.
#[async_trait::async_trait]
pub trait ApiKeyStore {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key, revoked or not.
    async fn get_api_key(&self, access_key_id: &str) -> StoreResult<ApiKeyRecord>;
    /// All keys, newest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Marks a key revoked; `NotFound` when there is no such unrevoked key.
    async fn revoke_api_key(&self, access_key_id: &str) -> StoreResult<()>;
}

#[async_trait::async_trait]
impl ApiKeyStore for SqlStore {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        on_db!(self.pools.write(), |p| {
            sqlx::query(
                "INSERT INTO api_keys (access_key_id, salt, description, created_at, scope) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&key.access_key_id)
            .bind(&key.salt)
            .bind(&key.description)
            .bind(key.created_at)
            .bind(key.scope.as_deref())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    async fn get_api_key(&self, access_key_id: &str) -> StoreResult<ApiKeyRecord> {
        let key: Option<ApiKeyRecord> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT access_key_id, salt, description, created_at, revoked_at, scope \
                 FROM api_keys WHERE access_key_id = $1",
            )
            .bind(access_key_id)
            .fetch_optional(p)
            .await?
        });
        key.ok_or(StoreError::NotFound)
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT access_key_id, salt, description, created_at, revoked_at, scope \
                 FROM api_keys ORDER BY created_at DESC, access_key_id",
            )
            .fetch_all(p)
            .await?
        }))
    }

    async fn revoke_api_key(&self, access_key_id: &str) -> StoreResult<()> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 \
                 WHERE access_key_id = $2 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(access_key_id)
            .execute(p)
            .await?
            .rows_affected()
        });
        found(n)
    }
}
