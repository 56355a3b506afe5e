//! Admin sessions for the session layer: tower-sessions over the store's session table
//! (`store::SessionBackend`, in the application's own database, so every instance on one
//! PostgreSQL shares them), with what the dashboard guard needs added on load.

use crate::server::store::SessionBackend;
use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

/// The session layer's store.
#[derive(Debug, Clone)]
pub struct Sessions(SessionBackend);

impl Sessions {
    pub fn new(backend: SessionBackend) -> Self {
        Self(backend)
    }

    /// Creates the session table if needed.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        self.0.migrate().await
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, r: &mut Record) -> session_store::Result<()> {
        self.0.create(r).await
    }
    async fn save(&self, r: &Record) -> session_store::Result<()> {
        self.0.save(r).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut record = self.0.load(id).await?;
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
        self.0.delete(id).await
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.0.delete_expired().await
    }
}

/// The session key under which the signed-in user's id is kept.
pub const USER_ID: &str = "user_id";

/// The session key holding the sign-in time (epoch ms), for the absolute expiry.
pub const SIGNED_IN_AT: &str = "signed_in_at";

/// The session key holding the user's session epoch at sign-in; the session stands only
/// while the user row still has it (`auth::session_valid`).
pub const SESSION_EPOCH: &str = "session_epoch";

/// When the session expires as stored (Unix seconds), put in by [`Sessions::load`] at
/// every load. A session is saved, and its expiry pushed back, only when something in it
/// changes; the guard rewrites this entry when the stored expiry is over a minute old, so
/// the idle timeout slides with use at one write a minute at most.
pub const STORED_EXPIRY: &str = "stored_expiry";
