//! Dashboard users and their sessions. Sessions are kept in the same database by
//! tower-sessions' sqlx stores (their table and SQL), so every instance on one
//! PostgreSQL shares them; `server::sessions` adapts them to the session layer.

use super::db::{Db, on_db};
use super::{SqlStore, StoreError, StoreResult, now_ms};
use crate::server::store::found;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{ExpiredDeletion, Result as SessionResult, SessionStore};

/// A dashboard user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: i64,
    /// A session is valid only while it holds this value: it changes when the role
    /// changes, and a new user starts at a random one.
    pub session_epoch: i64,
}

const USER_COLUMNS: &str = "id, email, role, password_hash, created_at, session_epoch";

/// Dashboard accounts; a part of `Store`.
#[async_trait::async_trait]
pub trait AccountStore {
    async fn create_user(
        &self,
        email: &str,
        role: &str,
        password_hash: &str,
    ) -> StoreResult<UserRecord>;
    async fn get_user_by_email(&self, email: &str) -> StoreResult<UserRecord>;
    async fn get_user(&self, id: i64) -> StoreResult<UserRecord>;
    async fn count_users(&self) -> StoreResult<i64>;
    /// Every user, by address.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Changes a user's role (and, if it differs, the session epoch); `NotFound` if
    /// there is no such user.
    async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<UserRecord>;
    /// Removes a user; `NotFound` if there is no such user.
    async fn delete_user(&self, id: i64) -> StoreResult<()>;
    /// The dashboard-session store on the same database.
    fn sessions(&self) -> SessionBackend;
}

#[async_trait::async_trait]
impl AccountStore for SqlStore {
    async fn create_user(
        &self,
        email: &str,
        role: &str,
        password_hash: &str,
    ) -> StoreResult<UserRecord> {
        let sql = format!(
            "INSERT INTO users (email, role, password_hash, created_at, session_epoch) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
        );
        Ok(on_db!(self.pools.write(), |p| {
            sqlx::query_as(&sql)
                .bind(email)
                .bind(role)
                .bind(password_hash)
                .bind(now_ms())
                // A random first epoch: a session can only match the user it was made for.
                .bind(i64::from(rand::random::<u32>()))
                .fetch_one(p)
                .await?
        }))
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<UserRecord> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let user: Option<UserRecord> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql).bind(email).fetch_optional(p).await?
        });
        user.ok_or(StoreError::NotFound)
    }

    async fn get_user(&self, id: i64) -> StoreResult<UserRecord> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let user: Option<UserRecord> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        user.ok_or(StoreError::NotFound)
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(p)
                .await?
        }))
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY email");
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql).fetch_all(p).await?
        }))
    }

    async fn set_user_role(&self, id: i64, role: &str) -> StoreResult<UserRecord> {
        // A new role ends the user's sessions (a new epoch); the same role keeps them.
        let sql = format!(
            "UPDATE users SET session_epoch = CASE WHEN role = $1 THEN session_epoch \
             ELSE session_epoch + 1 END, role = $1 WHERE id = $2 RETURNING {USER_COLUMNS}"
        );
        let user: Option<UserRecord> = on_db!(self.pools.write(), |p| {
            sqlx::query_as(&sql)
                .bind(role)
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        user.ok_or(StoreError::NotFound)
    }

    async fn delete_user(&self, id: i64) -> StoreResult<()> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        found(n)
    }

    fn sessions(&self) -> SessionBackend {
        SessionBackend(match &self.pools.0 {
            Db::Sqlite(p) => {
                Db::Sqlite(tower_sessions_sqlx_store::SqliteStore::new(p.write.clone()))
            }
            Db::Postgres(p) => {
                Db::Postgres(tower_sessions_sqlx_store::PostgresStore::new(p.clone()))
            }
        })
    }
}

/// Dashboard sessions in the store's database: tower-sessions' sqlx store for the
/// backend in use (`server::sessions` adds what the dashboard keeps in each).
#[derive(Debug, Clone)]
pub struct SessionBackend(
    Db<tower_sessions_sqlx_store::SqliteStore, tower_sessions_sqlx_store::PostgresStore>,
);

impl SessionBackend {
    /// Creates the session table if needed.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        on_db!(&self.0, |s| s.migrate().await)
    }
}

#[async_trait::async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, r: &mut Record) -> SessionResult<()> {
        on_db!(&self.0, |s| s.create(r).await)
    }

    async fn save(&self, r: &Record) -> SessionResult<()> {
        on_db!(&self.0, |s| s.save(r).await)
    }

    async fn load(&self, id: &Id) -> SessionResult<Option<Record>> {
        on_db!(&self.0, |s| s.load(id).await)
    }

    async fn delete(&self, id: &Id) -> SessionResult<()> {
        on_db!(&self.0, |s| s.delete(id).await)
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> SessionResult<()> {
        on_db!(&self.0, |s| s.delete_expired().await)
    }
}
