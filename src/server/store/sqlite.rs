//! The embedded SQLite backend: WAL journal, full fsync on commit, one writer connection
//! (SQLite serialises writers anyway; one connection avoids busy retries) and a pool of
//! readers.

use super::import::impl_import;
use super::mail::impl_mail;
use super::mail_queue::impl_mail_queue;
use super::shared::{self, impl_store};
use super::webhooks::{self, impl_webhooks};
use super::*;
use crate::domain::{Topic, TopicPreference};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// The SQLite store.
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

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
        let path = opts.get_filename().to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        // The one writer keeps up to 32 MiB of pages cached (SQLite's default is 2 MiB):
        // bulk imports insert into indexes keyed by address and hash, in random order.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.clone().pragma("cache_size", "-32768"))
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
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.read_only(true))
            .await
            .map_err(|e| fail(&e))?;
        Ok(Self { read, write })
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
impl_mail!(SqliteStore, sqlx::SqliteConnection);
impl_mail_queue!(SqliteStore, sqlx::SqliteConnection, "");
