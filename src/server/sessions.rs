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
        match self {
            Self::Sqlite(s) => s.load(id).await,
            Self::Postgres(s) => s.load(id).await,
        }
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
