//! Dashboard administration storage: sign-in attempts (rate limiting across instances)
//! and the user table beyond sign-in (listing, role changes, removal).

use super::{StoreResult, UserRecord};

/// Sign-in attempts counted over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCounts {
    /// For this account (normalised address, known or not) from this client.
    pub account_client: i64,
    /// From this client (keyed hash of its address), whatever the account.
    pub client: i64,
}

/// Admin storage; a supertrait of `Store`, implemented per backend by `impl_admin!`.
#[async_trait::async_trait]
pub trait AdminStore {
    /// Records a sign-in attempt at `now` before its password is checked (it counts as
    /// failed until it succeeds), unless the attempts since `since` already reach a limit
    /// of `max` (for the account from this client, or from this client at all); then
    /// nothing is recorded and `false` is returned. Attempts older than `since` are
    /// forgotten. The check and the insert are one step per client (the single writer on
    /// SQLite, a transaction-scoped advisory lock on the client on PostgreSQL), so
    /// concurrent guesses cannot all pass a count taken before any of them was recorded.
    async fn record_login_attempt(
        &self,
        account: &str,
        ip_hash: &str,
        now: i64,
        since: i64,
        max: FailureCounts,
    ) -> StoreResult<bool>;
    /// Forgets the attempts of an account from one client (after a successful sign-in).
    async fn clear_login_failures(&self, account: &str, ip_hash: &str) -> StoreResult<()>;
    /// Forgets every recorded attempt for an account (`optbox admin unlock`); returns how
    /// many there were.
    async fn unlock_account(&self, account: &str) -> StoreResult<u64>;
    /// Every user, by address.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Changes a user's role (and, if it differs, the session epoch); `NotFound` if
    /// there is no such user.
    async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<UserRecord>;
    /// Removes a user; `NotFound` if there is no such user.
    async fn delete_user(&self, id: i64) -> StoreResult<()>;
}

/// `AdminStore` for a backend; the SQL is the same on both.
macro_rules! impl_admin {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl AdminStore for $store {
            async fn record_login_attempt(
                &self,
                account: &str,
                ip_hash: &str,
                now: i64,
                since: i64,
                max: FailureCounts,
            ) -> StoreResult<bool> {
                let mut tx = self.write.begin().await?;
                if crate::server::store::Store::backend(self) == crate::server::store::Backend::Postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                        .bind(format!("optbox-login:{ip_hash}"))
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM login_failures WHERE created_at < $1")
                    .bind(since)
                    .execute(&mut *tx)
                    .await?;
                let account_client: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM login_failures WHERE account = $1 AND ip_hash = $2 AND created_at >= $3",
                )
                .bind(account)
                .bind(ip_hash)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
                let client: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM login_failures WHERE ip_hash = $1 AND created_at >= $2",
                )
                .bind(ip_hash)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
                if account_client >= max.account_client || client >= max.client {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO login_failures (account, ip_hash, created_at) VALUES ($1, $2, $3)",
                )
                .bind(account)
                .bind(ip_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn clear_login_failures(&self, account: &str, ip_hash: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM login_failures WHERE account = $1 AND ip_hash = $2")
                    .bind(account)
                    .bind(ip_hash)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn unlock_account(&self, account: &str) -> StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM login_failures WHERE account = $1")
                    .bind(account)
                    .execute(&self.write)
                    .await?
                    .rows_affected())
            }

            async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
                let rows = sqlx::query(
                    "SELECT id, email, role, password_hash, created_at, session_epoch FROM users ORDER BY email",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::user_from).collect()
            }

            async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<UserRecord> {
                // A new role ends the user's sessions (a new epoch); the same role keeps them.
                let r = sqlx::query(
                    "UPDATE users SET session_epoch = CASE WHEN role = $1 THEN session_epoch ELSE session_epoch + 1 END, role = $1 WHERE id = $2 RETURNING id, email, role, password_hash, created_at, session_epoch",
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
