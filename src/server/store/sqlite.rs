//! The embedded SQLite backend: WAL journal, full fsync on commit, one writer connection
//! (SQLite serialises writers anyway; one connection avoids busy retries) and a pool of
//! readers.

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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// The SQLite store.
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    lists: shared::ListCache,
    pending: std::sync::Arc<super::pending::Pending>,
    /// `None` in memory.
    file: Option<std::path::PathBuf>,
    /// Set while the writer connection may have foreign keys off (an import batch,
    /// [`SqliteStore::bulk_begin`]); the next acquisition turns them back on.
    foreign_keys_off: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Checkpoints the background task has started (tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    checkpoints_run: std::sync::Arc<std::sync::atomic::AtomicU64>,
    _checkpointer: Checkpointer,
}

/// WAL checkpoints off the writer's thread. By default the connection that commits
/// copies the WAL back into the database whenever the WAL passes 1,000 pages, so under a
/// stream of opt-outs the single writer spent a large share of its time checkpointing.
/// Here a connection of its own runs a PASSIVE checkpoint (it never blocks the writer or
/// the readers) every `CHECKPOINT_EVERY`, on the other core; a page changed by many
/// commits in between is copied once. The writer still checkpoints by itself if the WAL
/// ever passes `WRITER_CHECKPOINT_PAGES` (64 MiB), so the WAL stays bounded even if this
/// task falls behind. The task ends with the store. On an idle server each tick only
/// reads the WAL index.
///
/// While a burst of one-click POSTs is being answered ([`Pending::quiet`]) it skips its
/// ticks: a checkpoint ends with an fsync of the database file, and the log's next
/// fdatasync would wait behind those megabytes.
///
/// [`Pending::quiet`]: super::pending::Pending::quiet
struct Checkpointer(tokio::task::AbortHandle);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
const WRITER_CHECKPOINT_PAGES: &str = "16384";

impl SqliteStore {
    pub async fn open(url: &str, migrate: bool) -> Result<Self, OpenError> {
        let fail = |e: &dyn std::fmt::Display| OpenError::Connect {
            url: url.to_owned(),
            cause: e.to_string(),
        };
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| fail(&e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Each connection runs on a thread of its own. The writer's and the checkpointer's
        // are named (`optbox-w0`, `optbox-c0`; the number tells stores of one process
        // apart), so `top -H` and `/proc/PID/task/*/comm` show what each costs; the
        // readers keep sqlx's name.
        static STORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = opts.get_filename().to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        // The one writer keeps up to 32 MiB of pages cached (SQLite's default is 2 MiB):
        // bulk imports insert into indexes keyed by address and hash, in random order.
        // An import batch turns foreign keys off on it (`bulk_begin`) and back on when it
        // ends; should it not get there (an error, a cancelled import), the next user of
        // the connection turns them back on first.
        let foreign_keys_off = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fk_flag = foreign_keys_off.clone();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .before_acquire(move |conn, _| {
                let off = fk_flag.swap(false, std::sync::atomic::Ordering::AcqRel);
                Box::pin(async move {
                    if off {
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(
                opts.clone()
                    .thread_name(move |_| format!("optbox-w{n}"))
                    .pragma("cache_size", "-32768")
                    // Statement journals of multi-row upserts in memory, not temp files.
                    .pragma("temp_store", "memory")
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES),
            )
            .await
            .map_err(|e| fail(&e))?;
        if migrate {
            sqlx::migrate!("migrations/sqlite")
                .run(&write)
                .await
                .map_err(|e| OpenError::Migrate {
                    url: url.to_owned(),
                    cause: e.to_string(),
                })?;
        }
        let checkpoints = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.clone().thread_name(move |_| format!("optbox-c{n}")))
            .await
            .map_err(|e| fail(&e))?;
        let pending: std::sync::Arc<super::pending::Pending> = Default::default();
        let quiet = pending.clone();
        let checkpoints_run = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = checkpoints_run.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if quiet.quiet() {
                    continue;
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&checkpoints)
                    .await
                {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        });
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.read_only(true))
            .await
            .map_err(|e| fail(&e))?;
        Ok(Self {
            read,
            write,
            lists: Default::default(),
            pending,
            file: sqlite_file(url),
            checkpoints_run,
            foreign_keys_off,
            _checkpointer: Checkpointer(task.abort_handle()),
        })
    }

    fn database_file_impl(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    fn session_backend(&self) -> crate::server::sessions::SessionBackend {
        crate::server::sessions::SessionBackend::Sqlite(
            tower_sessions_sqlx_store::SqliteStore::new(self.write.clone()),
        )
    }
}

impl_store!(SqliteStore, sqlx::SqliteConnection, Backend::Sqlite);
impl_import!(SqliteStore, sqlx::SqliteConnection);
impl_webhooks!(SqliteStore, sqlx::SqliteConnection, "");

/// Bulk writes of an import batch: multi-row statements with positional parameters
/// (SQLite allows 32,766 parameters per statement).
///
/// They run without a statement journal. SQLite keeps one for any statement that writes
/// several rows and may abort half-way (an ABORT constraint, or an immediate foreign key),
/// copying every page the statement touches first, so that it can undo that statement
/// alone; for 500-row inserts into indexes reached in random order that was a fifth of
/// an import's time. Here a failed statement fails the
/// whole batch, whose transaction is rolled back anyway, so the inserts say `OR FAIL`,
/// and the batch runs with foreign keys off: it checks the list itself, reads the topic
/// ids in its transaction and deletes a contact's preferences before the contact.
impl SqliteStore {
    const BULK_ROWS: usize = 500;

    /// The writer connection for an import batch, with foreign keys off, once the list is
    /// known to exist. Nothing else writes while it is held (one writer connection).
    async fn bulk_begin(
        &self,
        list_id: i64,
    ) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        use std::sync::atomic::Ordering;
        let mut conn = self.write.acquire().await?;
        // Flagged first: a batch dropped at any point leaves the flag for the next user.
        self.foreign_keys_off.store(true, Ordering::Release);
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
        let exists = sqlx::query("SELECT 1 FROM contact_lists WHERE id = ?")
            .bind(list_id)
            .fetch_optional(&mut *conn)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(conn)
    }

    /// Foreign keys back on after a batch. The batch has committed by then, so a failure
    /// here does not fail it: the flag stays set and the next acquisition tries again.
    async fn bulk_end(&self, conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>) {
        use std::sync::atomic::Ordering;
        match sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut **conn)
            .await
        {
            Ok(_) => self.foreign_keys_off.store(false, Ordering::Release),
            Err(e) => {
                tracing::warn!(error = %e, "turning foreign keys back on after an import batch failed; the next write retries")
            }
        }
    }

    // The look-ups of an import batch, in chunks of `BULK_ROWS` parameters; the rows are
    // read by `impl_import!`.
    async fn bulk_contacts_by_key(
        conn: &mut sqlx::SqliteConnection,
        list_id: i64,
        keys: &[String],
    ) -> StoreResult<Vec<SqliteRow>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(Self::BULK_ROWS) {
            let sql = Self::with_in_list(
                "SELECT id, email, email_key, unsubscribe_all, attributes FROM contacts WHERE list_id = $1 AND email_key",
                2,
                chunk.len(),
            );
            let mut q = sqlx::query(&sql).bind(list_id);
            for k in chunk {
                q = q.bind(k);
            }
            out.extend(q.fetch_all(&mut *conn).await?);
        }
        Ok(out)
    }

    async fn bulk_prefs_of(
        conn: &mut sqlx::SqliteConnection,
        ids: &[i64],
    ) -> StoreResult<Vec<SqliteRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(Self::BULK_ROWS) {
            let sql = Self::with_in_list(
                "SELECT contact_id, topic_id, opt_in FROM contact_topic_prefs WHERE contact_id",
                1,
                chunk.len(),
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(&mut *conn).await?);
        }
        Ok(out)
    }

    async fn bulk_tombstones(
        conn: &mut sqlx::SqliteConnection,
        list_name: &str,
        hashes: &[&[u8]],
    ) -> StoreResult<Vec<SqliteRow>> {
        let mut out = Vec::new();
        for chunk in hashes.chunks(Self::BULK_ROWS) {
            let sql = Self::with_in_list(
                "SELECT email_hash, unsubscribe_all, topics FROM tombstones WHERE list_name = $1 AND email_hash",
                2,
                chunk.len(),
            );
            let mut q = sqlx::query(&sql).bind(list_name);
            for h in chunk {
                q = q.bind(*h);
            }
            out.extend(q.fetch_all(&mut *conn).await?);
        }
        Ok(out)
    }

    /// `head IN ($first, …)` with `n` parameters, in SQLite's positional form.
    fn with_in_list(head: &str, first: usize, n: usize) -> String {
        shared::positional(&format!("{head} IN ({})", shared::placeholders(first, n)))
    }

    /// New contacts get the ids after the largest one, in row order (what SQLite itself
    /// would choose), given explicitly: no `RETURNING` rows to read back.
    async fn bulk_insert_contacts(
        conn: &mut sqlx::SqliteConnection,
        list_id: i64,
        rows: &[super::import::NewContactRow<'_>],
        now: i64,
    ) -> StoreResult<std::collections::HashMap<String, i64>> {
        let mut ids = std::collections::HashMap::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok(ids);
        }
        let mut next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM contacts")
            .fetch_one(&mut *conn)
            .await?;
        for chunk in rows.chunks(Self::BULK_ROWS) {
            let mut sql = String::from(
                "INSERT OR FAIL INTO contacts (id, list_id, email, email_key, email_hash, unsubscribe_all, attributes, created_at, updated_at) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 {
                    ",(?,?,?,?,?,?,?,?,?)"
                } else {
                    "(?,?,?,?,?,?,?,?,?)"
                });
            }
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(next)
                    .bind(list_id)
                    .bind(r.email)
                    .bind(&r.key)
                    .bind(r.hash)
                    .bind(r.unsubscribe_all)
                    .bind(&r.attributes)
                    .bind(now)
                    .bind(now);
                ids.insert(r.key.clone(), next);
                next += 1;
            }
            q.execute(&mut *conn).await?;
        }
        Ok(ids)
    }

    async fn bulk_upsert_prefs(
        conn: &mut sqlx::SqliteConnection,
        rows: &[(i64, i64, bool)],
        upsert: bool,
    ) -> StoreResult<()> {
        for chunk in rows.chunks(Self::BULK_ROWS * 2) {
            let mut sql = String::from(
                "INSERT OR FAIL INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 { ",(?,?,?)" } else { "(?,?,?)" });
            }
            if upsert {
                sql.push_str(
                    " ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in",
                );
            }
            let mut q = sqlx::query(&sql);
            for (c, t, o) in chunk {
                q = q.bind(*c).bind(*t).bind(*o);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }
}
impl_mail!(SqliteStore, sqlx::SqliteConnection);
impl_mail_queue!(SqliteStore, sqlx::SqliteConnection, "");
impl_admin!(SqliteStore);
impl_logos!(SqliteStore);

/// The database file of a `sqlite:` URL; `None` for other schemes and in-memory databases.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let opts = SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_owned())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The names of this process's threads.
    fn thread_names() -> HashSet<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|c| c.trim_end().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn the_checkpointer_waits_while_the_store_is_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, true).await.unwrap();
        let runs = || {
            store
                .checkpoints_run
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let ticks = CHECKPOINT_EVERY * 4;
        store.pending.set_quiet(true);
        // A tick already under way may still count once.
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let before = runs();
        tokio::time::sleep(ticks).await;
        assert_eq!(runs(), before, "no checkpoint while a burst is answered");
        store.pending.set_quiet(false);
        tokio::time::sleep(ticks).await;
        assert!(
            runs() >= before + 2,
            "checkpoints again after it: {} -> {}",
            before,
            runs()
        );
    }

    #[tokio::test]
    async fn an_import_batch_that_stops_half_way_leaves_foreign_keys_on() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, true).await.unwrap();
        let list: i64 = sqlx::query_scalar(
            "INSERT INTO contact_lists (name, created_at, updated_at) VALUES ('l', 0, 0) RETURNING id",
        )
        .fetch_one(&store.write)
        .await
        .unwrap();
        let fk = "PRAGMA foreign_keys";
        let mut conn = store.bulk_begin(list).await.unwrap();
        let off: i64 = sqlx::query_scalar(fk).fetch_one(&mut *conn).await.unwrap();
        assert_eq!(off, 0, "a batch runs with foreign keys off");
        // Dropped without `bulk_end`, as a failed or cancelled batch is.
        drop(conn);
        let on: i64 = sqlx::query_scalar(fk)
            .fetch_one(&store.write)
            .await
            .unwrap();
        assert_eq!(on, 1, "the next user of the writer has them on again");
        // After a batch that ends, too; and a list that is gone is refused.
        let mut conn = store.bulk_begin(list).await.unwrap();
        store.bulk_end(&mut conn).await;
        drop(conn);
        let on: i64 = sqlx::query_scalar(fk)
            .fetch_one(&store.write)
            .await
            .unwrap();
        assert_eq!(on, 1);
        assert!(matches!(
            store.bulk_begin(list + 1).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn the_writer_and_checkpointer_threads_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let before = thread_names();
        let _store = SqliteStore::open(&url, true).await.unwrap();
        let after = thread_names();
        // Other tests may open stores meanwhile: this one's pair is among the new names.
        let new: Vec<&String> = after.difference(&before).collect();
        assert!(
            new.iter().any(|w| w
                .strip_prefix("optbox-w")
                .is_some_and(|n| { !n.is_empty() && after.contains(&format!("optbox-c{n}")) })),
            "no optbox-w<n>/optbox-c<n> pair among the new threads {new:?}"
        );
    }
}
