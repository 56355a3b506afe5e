//! Admin sessions stored in the application's own database (tower-sessions with the sqlx
//! store for SQLite or PostgreSQL), so every instance on one PostgreSQL shares them.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The session store for whichever backend the application uses.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionBackend {
    /// Creates the session table if needed.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(s) => s.migrate().await,
            Self::Postgres(s) => s.migrate().await,
        }
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, r: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.create(r).await,
            Self::Postgres(s) => s.create(r).await,
        }
    }
    async fn save(&self, r: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.save(r).await,
            Self::Postgres(s) => s.save(r).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut record = match self {
            Self::Sqlite(s) => s.load(id).await,
            Self::Postgres(s) => s.load(id).await,
        }?;
        // The stored expiry is not otherwise visible to the request: put it where the
        // guard can see when the session was last saved (see `STORED_EXPIRY`).
        if let Some(r) = &mut record {
            r.data.insert(
                STORED_EXPIRY.to_owned(),
                serde_json::Value::from(r.expiry_date.unix_timestamp()),
            );
        }
        Ok(record)
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete(id).await,
            Self::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete_expired().await,
            Self::Postgres(s) => s.delete_expired().await,
        }
    }
}

/// The session key under which the signed-in user's id is kept.
pub const USER_ID: &str = "user_id";

/// The session key holding the sign-in time (epoch ms), for the absolute expiry.
pub const SIGNED_IN_AT: &str = "signed_in_at";

/// The session key holding the user's session epoch at sign-in; the session stands only
/// while the user row still has it (`auth::session_valid`).
pub const SESSION_EPOCH: &str = "session_epoch";

/// When the session expires as stored (Unix seconds), put in by [`SessionBackend::load`]
/// at every load. A session is saved, and its expiry pushed back, only when something in
/// it changes; the guard rewrites this entry when the stored expiry is over a minute old,
/// so the idle timeout slides with use at one write a minute at most.
pub const STORED_EXPIRY: &str = "stored_expiry";
