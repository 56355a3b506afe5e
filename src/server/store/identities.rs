//! Sending identities (`email_identities`): SES's CreateEmailIdentity and friends. The
//! service checks the names before anything gets here.

use super::db::on_db;
use super::{SqlStore, StoreError, StoreResult, now_ms};

/// A registered identity.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IdentityRecord {
    /// Lower-cased: a domain, or an address.
    pub identity: String,
    /// `DOMAIN` or `EMAIL_ADDRESS`.
    pub kind: String,
    pub created_at: i64,
    /// The configuration set of its mail when the sender names none.
    #[sqlx(default)]
    pub configuration_set: Option<String>,
    /// Its tags, JSON `[[key, value], …]`.
    #[sqlx(default)]
    pub tags: String,
}

const COLUMNS: &str = "identity, kind, created_at, configuration_set, tags";

/// Identity storage; a part of `Store`.
#[async_trait::async_trait]
pub trait IdentityStore {
    /// `Conflict` when it exists.
    async fn create_identity(
        &self,
        identity: &str,
        kind: &str,
        configuration_set: Option<&str>,
        tags: &[(String, String)],
    ) -> StoreResult<IdentityRecord>;
    async fn get_identity(&self, identity: &str) -> StoreResult<IdentityRecord>;
    /// False when there was no such identity.
    async fn delete_identity(&self, identity: &str) -> StoreResult<bool>;
    /// By name, after `after`.
    async fn list_identities(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<IdentityRecord>>;
    /// Whether mail from `address` (lower-cased) may be sent: the address or its domain is
    /// registered.
    async fn identity_allows(&self, address: &str) -> StoreResult<bool>;
    /// The default configuration set for mail from `address` (lower-cased): its own, or
    /// else its domain's.
    async fn default_configuration_set(&self, address: &str) -> StoreResult<Option<String>>;
}

#[async_trait::async_trait]
impl IdentityStore for SqlStore {
    async fn create_identity(
        &self,
        identity: &str,
        kind: &str,
        configuration_set: Option<&str>,
        tags: &[(String, String)],
    ) -> StoreResult<IdentityRecord> {
        let sql = format!(
            "INSERT INTO email_identities (identity, kind, created_at, configuration_set, tags) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (identity) DO NOTHING RETURNING {COLUMNS}"
        );
        let tags = serde_json::to_string(tags).expect("strings serialise");
        let row: Option<IdentityRecord> = on_db!(self.pools.write(), |p| {
            sqlx::query_as(&sql)
                .bind(identity)
                .bind(kind)
                .bind(now_ms())
                .bind(configuration_set)
                .bind(&tags)
                .fetch_optional(p)
                .await?
        });
        row.ok_or(StoreError::Conflict)
    }

    async fn get_identity(&self, identity: &str) -> StoreResult<IdentityRecord> {
        let row: Option<IdentityRecord> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM email_identities WHERE identity = $1"
            ))
            .bind(identity)
            .fetch_optional(p)
            .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    async fn delete_identity(&self, identity: &str) -> StoreResult<bool> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM email_identities WHERE identity = $1")
                .bind(identity)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    async fn list_identities(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<IdentityRecord>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM email_identities WHERE identity > $1 \
                 ORDER BY identity LIMIT $2"
            ))
            .bind(after.unwrap_or(""))
            .bind(limit.clamp(1, 1000) as i64)
            .fetch_all(p)
            .await?
        }))
    }

    async fn identity_allows(&self, address: &str) -> StoreResult<bool> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        let n: i64 = on_db!(self.pools.read(), |p| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM email_identities WHERE identity = $1 OR identity = $2",
            )
            .bind(address)
            .bind(domain)
            .fetch_one(p)
            .await?
        });
        Ok(n > 0)
    }

    async fn default_configuration_set(&self, address: &str) -> StoreResult<Option<String>> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        let rows: Vec<(String, String)> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT identity, configuration_set FROM email_identities \
                 WHERE (identity = $1 OR identity = $2) AND configuration_set IS NOT NULL",
            )
            .bind(address)
            .bind(domain)
            .fetch_all(p)
            .await?
        });
        let own = rows.iter().find(|(i, _)| i == address);
        Ok(own.or(rows.first()).map(|(_, s)| s.clone()))
    }
}
