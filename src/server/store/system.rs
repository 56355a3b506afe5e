//! The database itself: which engine, whether it answers, planner statistics, the
//! server's own secrets, and the background work a server starts and stops with the
//! store.

use super::db::on_db;
use super::one_click::OneClickLogError;
use super::{Backend, SqlStore, StoreError, StoreResult, now_ms};

/// Queue depths and sizes the metrics report (`/metrics`), read at each scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Relay queue rows waiting for the upstream (`queued`).
    pub relay_queued: i64,
    /// Webhook deliveries waiting, and given up (dead letters).
    pub webhooks_pending: i64,
    pub webhooks_dead: i64,
    /// Import jobs created or processing, and the lines they have done.
    pub imports_active: i64,
    pub import_lines_done: i64,
    /// Addresses on the suppression list.
    pub suppressed: i64,
    /// Acknowledged one-click opt-outs not yet applied (SQLite's log; 0 elsewhere).
    pub one_click_backlog: u64,
}

/// The store as a whole; a part of `Store`.
#[async_trait::async_trait]
pub trait SystemStore {
    fn backend(&self) -> Backend;
    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Refreshes the planner's statistics of the contact tables (PostgreSQL `ANALYZE`;
    /// nothing on SQLite, whose plans do not depend on them). A bulk import calls it as
    /// a list grows, so lookups keep using the right index.
    async fn refresh_statistics(&self) -> StoreResult<()>;
    /// Returns the secret stored under `name`, storing `candidate` first if there is none.
    /// Concurrent callers all get the same value.
    async fn secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
    /// The database file (SQLite on disk), beside which the one-click log lives.
    fn database_file(&self) -> Option<&std::path::Path>;
    /// Starts what a server needs beyond the tables: on SQLite on disk, the one-click log
    /// (it takes the log's lock and applies what an earlier run acknowledged but did not
    /// apply). Until then, and on PostgreSQL, one-click opt-outs are group-committed.
    /// Starting again does nothing.
    async fn start(&self) -> Result<(), OneClickLogError>;
    /// Applies the one-click opt-outs acknowledged so far before the server stops (what
    /// is left after the wait is applied at the next start).
    async fn stop(&self) -> StoreResult<()>;
    /// Writes a consistent copy of a SQLite database in use to `dest` (which must not
    /// exist), as a database file `optbox serve` opens directly: first the one-click log
    /// beside it (`dest-oneclick.log`: the opt-outs acknowledged but not yet applied, which
    /// the copy's first start applies), then the tables (`VACUUM INTO`, one read
    /// transaction). Returns the records of the log copied. `Refused` on PostgreSQL.
    async fn backup(&self, dest: &std::path::Path) -> StoreResult<usize>;
    /// The queue depths and sizes of [`Gauges`] (indexed counts; the suppression list is
    /// counted whole).
    async fn gauges(&self) -> StoreResult<Gauges>;
}

#[async_trait::async_trait]
impl SystemStore for SqlStore {
    fn backend(&self) -> Backend {
        self.pools.backend()
    }

    async fn ping(&self) -> StoreResult<()> {
        on_db!(self.pools.read(), |p| {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    async fn refresh_statistics(&self) -> StoreResult<()> {
        if self.backend() == Backend::Postgres {
            on_db!(self.pools.write(), |p| {
                sqlx::query("ANALYZE contacts, contact_topic_prefs, tombstones")
                    .execute(p)
                    .await?;
            });
        }
        Ok(())
    }

    async fn secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        Ok(on_db!(self.pools.write(), |p| {
            sqlx::query(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(candidate)
            .bind(now_ms())
            .execute(p)
            .await?;
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(p)
                .await?
        }))
    }

    fn database_file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    async fn start(&self) -> Result<(), OneClickLogError> {
        self.one_click
            .start(&self.pools, self.file.as_deref())
            .await
    }

    async fn stop(&self) -> StoreResult<()> {
        self.one_click.stop().await
    }

    async fn gauges(&self) -> StoreResult<Gauges> {
        let (
            relay_queued,
            webhooks_pending,
            webhooks_dead,
            imports_active,
            import_lines_done,
            suppressed,
        ): (i64, i64, i64, i64, i64, i64) = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT \
                     (SELECT COUNT(*) FROM mail_queue WHERE state = 'queued'), \
                     (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'), \
                     (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'dead'), \
                     (SELECT COUNT(*) FROM import_jobs WHERE status IN ('CREATED', 'PROCESSING')), \
                     (SELECT COALESCE(SUM(lines_done), 0) FROM import_jobs \
                      WHERE status IN ('CREATED', 'PROCESSING')), \
                     (SELECT COUNT(*) FROM suppressions)",
            )
            .fetch_one(p)
            .await?
        });
        Ok(Gauges {
            relay_queued,
            webhooks_pending,
            webhooks_dead,
            imports_active,
            import_lines_done,
            suppressed,
            one_click_backlog: self.one_click.backlog(),
        })
    }

    async fn backup(&self, dest: &std::path::Path) -> StoreResult<usize> {
        let Some(file) = self.file.as_deref() else {
            return Err(StoreError::Refused(
                "only a SQLite database file can be backed up by optbox (PostgreSQL: pg_dump)"
                    .into(),
            ));
        };
        let io = |what: &str, e: std::io::Error| StoreError::Refused(format!("{what}: {e}"));
        if dest.exists() {
            return Err(StoreError::Refused(format!(
                "{} exists: a backup never overwrites a file",
                dest.display()
            )));
        }
        // The log first: an opt-out acknowledged before now is either in it, or applied
        // to the tables before the copy of the tables below begins.
        let log = super::one_click::log_path(file);
        let mut carried = 0;
        if log.exists() {
            let mut copy = None;
            for _ in 0..20 {
                let bytes =
                    std::fs::read(&log).map_err(|e| io("cannot read the one-click log", e))?;
                if let Some(n) = super::one_click::whole_copy(&bytes) {
                    copy = Some((bytes, n));
                    break;
                }
                // The writer was mid-batch: read it again.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let Some((bytes, n)) = copy else {
                return Err(StoreError::Refused(
                    "the one-click log kept changing under the copy: try again".into(),
                ));
            };
            let out = super::one_click::log_path(dest);
            std::fs::write(&out, &bytes)
                .and_then(|_| std::fs::File::open(&out)?.sync_all())
                .map_err(|e| io("cannot write the one-click log copy", e))?;
            carried = n;
        }
        let target = dest.to_string_lossy().into_owned();
        on_db!(self.pools.read(), |p| {
            sqlx::query("VACUUM INTO $1")
                .bind(&target)
                .execute(p)
                .await?;
        });
        Ok(carried)
    }
}
