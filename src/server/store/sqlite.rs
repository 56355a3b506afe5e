//! The embedded SQLite backend: WAL journal, full fsync on commit, one writer connection
//! (SQLite serialises writers anyway; one connection avoids busy retries) and a pool of
//! readers.

use super::db::{Db, Pools, SqlitePools};
use super::one_click::{OneClick, Pending};
use super::sqlite_inline::InlineReads;
use super::{OpenError, SqlStore, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// WAL checkpoints off the writer's thread. By default the connection that commits
/// copies the WAL back into the database whenever the WAL passes 1,000 pages, so under a
/// stream of opt-outs the single writer spent a large share of its time checkpointing.
/// Here a connection of its own runs a PASSIVE checkpoint (it never blocks the writer or
/// the readers) every `CHECKPOINT_EVERY`, off the writer's thread; a page changed by many
/// commits in between is copied once. The writer still checkpoints by itself if the WAL
/// ever passes `WRITER_CHECKPOINT_PAGES` (64 MiB), so the WAL stays bounded even if this
/// task falls behind. The task ends with the store. On an idle server each tick only
/// reads the WAL index.
///
/// While a burst of one-click POSTs is being answered ([`Pending::quiet`]) it skips its
/// ticks: a checkpoint ends with an fsync of the database file, and the log's next
/// fdatasync would wait behind those megabytes.
///
/// [`Pending::quiet`]: super::one_click::Pending::quiet
pub(crate) struct Checkpointer {
    task: tokio::task::AbortHandle,
    /// Checkpoints the task has started (tests read it).
    #[cfg_attr(not(test), allow(dead_code))]
    runs: Arc<AtomicU64>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
const WRITER_CHECKPOINT_PAGES: &str = "16384";

/// Opens (and with `migrate`, migrates) a SQLite database.
pub(super) async fn open(url: &str, migrate: bool) -> Result<SqlStore, OpenError> {
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| OpenError::Connect {
        url: url.to_owned(),
        source: e,
    };
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|e| fail(e.into()))?
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
        std::fs::create_dir_all(dir).map_err(|e| fail(e.into()))?;
    }
    // The one writer keeps up to 32 MiB of pages cached (SQLite's default is 2 MiB):
    // bulk imports insert into indexes keyed by address and hash, in random order.
    // An import batch turns foreign keys off on it (`import::sqlite::begin`) and back on when it
    // ends; should it not get there (an error, a cancelled import), the next user of
    // the connection turns them back on first.
    let foreign_keys_off = Arc::new(AtomicBool::new(false));
    let fk_flag = foreign_keys_off.clone();
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .before_acquire(move |conn, _| {
            let off = fk_flag.swap(false, Ordering::AcqRel);
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
                // Deleted and overwritten cells are zeroed in their pages (an erasure
                // turns this fully on, freed pages too: `privacy.rs`).
                .pragma("secure_delete", "FAST")
                .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES),
        )
        .await
        .map_err(|e| fail(e.into()))?;
    if migrate {
        sqlx::migrate!("migrations/sqlite")
            .run(&write)
            .await
            .map_err(|source| OpenError::Migrate {
                url: url.to_owned(),
                source,
            })?;
    }
    let checkpoints = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts.clone().thread_name(move |_| format!("optbox-c{n}")))
        .await
        .map_err(|e| fail(e.into()))?;
    let one_click = OneClick::default();
    let quiet: Arc<Pending> = one_click.own_pending();
    let checkpoints_run = Arc::new(AtomicU64::new(0));
    let counted = checkpoints_run.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if quiet.quiet() {
                continue;
            }
            counted.fetch_add(1, Ordering::Relaxed);
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
        .map_err(|e| fail(e.into()))?;
    // Two connections per core: a tokio worker holds one only for a statement.
    let file = sqlite_file(url);
    let inline = match &file {
        Some(f) => {
            let n = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
            Some(InlineReads::open(f, n).map_err(|e| fail(e.into()))?)
        }
        None => None,
    };
    Ok(SqlStore {
        pools: Pools(
            Db::Sqlite(SqlitePools {
                read,
                write,
                foreign_keys_off,
            }),
            Default::default(),
        ),
        lists: Default::default(),
        mail_intake: Default::default(),
        one_click,
        file,
        inline,
        checkpointer: Some(Checkpointer {
            task: task.abort_handle(),
            runs: checkpoints_run,
        }),
    })
}

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

    /// `.cargo/config.toml` builds SQLite without STAT4 (which re-plans a statement for
    /// every new bound value) and without memory statistics (a global mutex).
    #[tokio::test]
    async fn sqlite_is_built_for_point_reads() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = open(&url, true).await.unwrap();
        let Db::Sqlite(p) = &store.pools.0 else {
            unreachable!()
        };
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&p.read)
            .await
            .unwrap();
        assert!(!options.iter().any(|o| o == "ENABLE_STAT4"), "{options:?}");
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    #[tokio::test]
    async fn the_checkpointer_waits_while_the_store_is_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = open(&url, true).await.unwrap();
        let runs = || {
            store
                .checkpointer
                .as_ref()
                .unwrap()
                .runs
                .load(Ordering::Relaxed)
        };
        let ticks = CHECKPOINT_EVERY * 4;
        let pending = store.one_click.own_pending();
        pending.set_quiet(true);
        // A tick already under way may still count once.
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let before = runs();
        tokio::time::sleep(ticks).await;
        assert_eq!(runs(), before, "no checkpoint while a burst is answered");
        pending.set_quiet(false);
        tokio::time::sleep(ticks).await;
        assert!(
            runs() >= before + 2,
            "checkpoints again after it: {} -> {}",
            before,
            runs()
        );
    }

    #[tokio::test]
    async fn the_writer_and_checkpointer_threads_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let before = thread_names();
        let _store = open(&url, true).await.unwrap();
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

impl SqlStore {
    /// SQLite: copies the whole WAL into the database file and truncates it, so that no
    /// older page image stays on disk (after an erasure). Readers holding an older
    /// snapshot delay it; it is retried for a few seconds. A no-op on PostgreSQL.
    pub(crate) async fn truncate_wal(&self) -> StoreResult<()> {
        let Db::Sqlite(p) = &self.pools.0 else {
            return Ok(());
        };
        for _ in 0..250 {
            let (busy,): (i64,) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&p.write)
                .await?;
            if busy == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(StoreError::Refused(
            "the write-ahead log could not be truncated: a reader kept an old snapshot".into(),
        ))
    }
}
