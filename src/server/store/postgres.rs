//! The PostgreSQL backend for scale-out: any number of optbox instances share one
//! database; background work is shared through row locks.

use super::import::impl_import;
use super::mail::impl_mail;
use super::mail_queue::impl_mail_queue;
use super::shared::{self, impl_store};
use super::webhooks::{self, impl_webhooks};
use super::*;
use crate::domain::{Topic, TopicPreference};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// The PostgreSQL store. Reads and writes share one pool.
pub struct PgStore {
    read: PgPool,
    write: PgPool,
}

impl PgStore {
    pub async fn open(url: &str, migrate: bool) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| OpenError::Connect {
                url: redact_url(url),
                cause: e.to_string(),
            })?;
        if migrate {
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .map_err(|e| OpenError::Migrate {
                    url: redact_url(url),
                    cause: e.to_string(),
                })?;
        }
        Ok(Self {
            read: pool.clone(),
            write: pool,
        })
    }

    fn session_backend(&self) -> crate::server::sessions::SessionBackend {
        crate::server::sessions::SessionBackend::Postgres(
            tower_sessions_sqlx_store::PostgresStore::new(self.write.clone()),
        )
    }
}

impl_store!(PgStore, sqlx::PgConnection, Backend::Postgres);
impl_import!(PgStore, sqlx::PgConnection);
impl_webhooks!(PgStore, sqlx::PgConnection, " FOR UPDATE SKIP LOCKED");
impl_mail!(PgStore, sqlx::PgConnection);
impl_mail_queue!(PgStore, sqlx::PgConnection, " FOR UPDATE SKIP LOCKED");
