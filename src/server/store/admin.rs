//! Dashboard sign-in attempts, counted in the database so the limits hold across
//! instances.

use super::db::{Db, on_db};
use super::{SqlStore, StoreResult};

/// Sign-in attempts counted over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCounts {
    /// For this account (normalised address, known or not) from this client.
    pub account_client: i64,
    /// From this client (keyed hash of its address), whatever the account.
    pub client: i64,
}

/// Sign-in attempt storage; a part of `Store`.
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
}

#[async_trait::async_trait]
impl AdminStore for SqlStore {
    async fn record_login_attempt(
        &self,
        account: &str,
        ip_hash: &str,
        now: i64,
        since: i64,
        max: FailureCounts,
    ) -> StoreResult<bool> {
        let mut tx = self.pools.write().begin().await?;
        if let Db::Postgres(c) = tx.conn() {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("optbox-login:{ip_hash}"))
                .execute(c)
                .await?;
        }
        let counts: (i64, i64) = on_db!(tx.conn(), |c| {
            sqlx::query("DELETE FROM login_failures WHERE created_at < $1")
                .bind(since)
                .execute(&mut *c)
                .await?;
            let account_client: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM login_failures \
                 WHERE account = $1 AND ip_hash = $2 AND created_at >= $3",
            )
            .bind(account)
            .bind(ip_hash)
            .bind(since)
            .fetch_one(&mut *c)
            .await?;
            let client: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM login_failures WHERE ip_hash = $1 AND created_at >= $2",
            )
            .bind(ip_hash)
            .bind(since)
            .fetch_one(c)
            .await?;
            (account_client, client)
        });
        if counts.0 >= max.account_client || counts.1 >= max.client {
            return Ok(false);
        }
        on_db!(tx.conn(), |c| {
            sqlx::query(
                "INSERT INTO login_failures (account, ip_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(account)
            .bind(ip_hash)
            .bind(now)
            .execute(c)
            .await?;
        });
        tx.commit().await?;
        Ok(true)
    }

    async fn clear_login_failures(&self, account: &str, ip_hash: &str) -> StoreResult<()> {
        on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM login_failures WHERE account = $1 AND ip_hash = $2")
                .bind(account)
                .bind(ip_hash)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn unlock_account(&self, account: &str) -> StoreResult<u64> {
        Ok(on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM login_failures WHERE account = $1")
                .bind(account)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }
}
