//! Dashboard administration storage: failed sign-ins (rate limiting across instances)
//! and the user table beyond sign-in (listing, role changes, removal).

use super::{StoreResult, UserRecord};

/// Failed sign-ins counted over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCounts {
    /// For this account (normalised address, known or not).
    pub account: i64,
    /// From this client (keyed IP hash).
    pub client: i64,
}

/// Admin storage; a supertrait of `Store`, implemented per backend by `impl_admin!`.
#[async_trait::async_trait]
pub trait AdminStore {
    /// Records a failed sign-in at `now` and forgets failures older than `forget_before`.
    async fn record_login_failure(
        &self,
        account: &str,
        ip_hash: &str,
        now: i64,
        forget_before: i64,
    ) -> StoreResult<()>;
    /// Failures since `since` for the account and for the client.
    async fn login_failures(
        &self,
        account: &str,
        ip_hash: &str,
        since: i64,
    ) -> StoreResult<FailureCounts>;
    /// Forgets the account's failures (after a successful sign-in).
    async fn clear_login_failures(&self, account: &str) -> StoreResult<()>;
    /// Every user, by address.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Changes a user's role; `NotFound` if there is no such user.
    async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<UserRecord>;
    /// Removes a user; `NotFound` if there is no such user.
    async fn delete_user(&self, id: i64) -> StoreResult<()>;
}

/// `AdminStore` for a backend; the SQL is the same on both.
macro_rules! impl_admin {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl AdminStore for $store {
            async fn record_login_failure(
                &self,
                account: &str,
                ip_hash: &str,
                now: i64,
                forget_before: i64,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await?;
                sqlx::query("DELETE FROM login_failures WHERE created_at < $1")
                    .bind(forget_before)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO login_failures (account, ip_hash, created_at) VALUES ($1, $2, $3)",
                )
                .bind(account)
                .bind(ip_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn login_failures(
                &self,
                account: &str,
                ip_hash: &str,
                since: i64,
            ) -> StoreResult<FailureCounts> {
                let account: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM login_failures WHERE account = $1 AND created_at >= $2",
                )
                .bind(account)
                .bind(since)
                .fetch_one(&self.read)
                .await?;
                let client: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM login_failures WHERE ip_hash = $1 AND created_at >= $2",
                )
                .bind(ip_hash)
                .bind(since)
                .fetch_one(&self.read)
                .await?;
                Ok(FailureCounts { account, client })
            }

            async fn clear_login_failures(&self, account: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM login_failures WHERE account = $1")
                    .bind(account)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
                let rows = sqlx::query(
                    "SELECT id, email, role, password_hash, created_at FROM users ORDER BY email",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::user_from).collect()
            }

            async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<UserRecord> {
                let r = sqlx::query(
                    "UPDATE users SET role = $1 WHERE id = $2 RETURNING id, email, role, password_hash, created_at",
                )
                .bind(role)
                .bind(id)
                .fetch_optional(&self.write)
                .await?
                .ok_or(StoreError::NotFound)?;
                Self::user_from(&r)
            }

            async fn delete_user(&self, id: i64) -> StoreResult<()> {
                let n = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }
        }
    };
}

pub(super) use impl_admin;
