//! The PostgreSQL backend for scale-out: any number of optbox instances share one
//! database; background work is shared through row locks. Reads and writes share one
//! pool.

use super::db::{Db, Pools};
use super::{OpenError, SqlStore, redact_url};
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// Opens (and with `migrate`, migrates) a PostgreSQL database.
pub(super) async fn open(url: &str, migrate: bool) -> Result<SqlStore, OpenError> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| OpenError::Connect {
            url: redact_url(url),
            source: e.into(),
        })?;
    if migrate {
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|source| OpenError::Migrate {
                url: redact_url(url),
                source,
            })?;
    }
    Ok(SqlStore {
        pools: Pools(Db::Postgres(pool), Default::default()),
        lists: Default::default(),
        mail_intake: Default::default(),
        one_click: Default::default(),
        file: None,
        inline: None,
        checkpointer: None,
    })
}
