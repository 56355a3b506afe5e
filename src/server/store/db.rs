//! One store over either database. A value of either backend (a pool, a connection, a
//! transaction) is a [`Db`]; [`on_db!`] takes a body written once and compiles it for
//! each backend, with the value bound to that backend's own sqlx type. Every query is
//! plain sqlx code, formatted by rustfmt and type-checked for both databases.
//!
//! SQLite (3.35+) and PostgreSQL accept the same SQL text for nearly everything —
//! `$N` placeholders, `RETURNING`, `ON CONFLICT … DO UPDATE` — so statements are written
//! once. What truly differs (pool set-up, pragmas, migrations, an import batch's bulk
//! statements) stays in `sqlite.rs` and `postgres.rs`.

use super::contact_key::ContactKeyer;
use super::{Backend, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

/// A value of either backend.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Db<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// `on_db!(db, |x| body)`: `body` once per backend, with `x` bound to the [`Db`]'s value.
/// It is not a closure: `?` and `return` in `body` leave the enclosing function. Both
/// arms must have one type (decode rows inside the body).
macro_rules! on_db {
    ($db:expr, |$x:ident| $body:expr) => {
        match $db {
            $crate::server::store::db::Db::Sqlite($x) => $body,
            $crate::server::store::db::Db::Postgres($x) => $body,
        }
    };
}
pub(crate) use on_db;

/// `map_db!(db, |x| body)`: like [`on_db!`], with the result wrapped in the same variant.
macro_rules! map_db {
    ($db:expr, |$x:ident| $body:expr) => {
        match $db {
            $crate::server::store::db::Db::Sqlite($x) => {
                $crate::server::store::db::Db::Sqlite($body)
            }
            $crate::server::store::db::Db::Postgres($x) => {
                $crate::server::store::db::Db::Postgres($body)
            }
        }
    };
}

pub(crate) type Pool<'a> = Db<&'a SqlitePool, &'a PgPool>;
pub(crate) type Conn<'a> = Db<&'a mut SqliteConnection, &'a mut PgConnection>;
pub(crate) type Tx<'a> = Db<sqlx::Transaction<'a, Sqlite>, sqlx::Transaction<'a, Postgres>>;
pub(crate) type PoolConn = Db<PoolConnection<Sqlite>, PoolConnection<Postgres>>;

impl<S, P> Db<S, P> {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// SQLite's positional form of a statement with many parameters (see
    /// [`super::sql::positional`]); PostgreSQL's as it is.
    pub fn fast(&self, sql: String) -> String {
        match self {
            Db::Sqlite(_) => super::sql::positional(&sql),
            Db::Postgres(_) => sql,
        }
    }
}

impl<'a> Pool<'a> {
    pub async fn begin(self) -> StoreResult<Tx<'static>> {
        Ok(map_db!(self, |p| p.begin().await?))
    }

    pub async fn acquire(self) -> StoreResult<PoolConn> {
        Ok(map_db!(self, |p| p.acquire().await?))
    }
}

impl PoolConn {
    pub fn conn(&mut self) -> Conn<'_> {
        map_db!(self, |c| &mut **c)
    }
}

impl Tx<'_> {
    pub fn conn(&mut self) -> Conn<'_> {
        map_db!(self, |t| &mut **t)
    }

    pub async fn commit(self) -> StoreResult<()> {
        Ok(on_db!(self, |t| t.commit().await)?)
    }

    pub async fn rollback(self) -> StoreResult<()> {
        Ok(on_db!(self, |t| t.rollback().await)?)
    }
}

impl Conn<'_> {
    /// The same connection, borrowed again (to pass it on and keep using it).
    pub fn re(&mut self) -> Conn<'_> {
        map_db!(self, |c| &mut **c)
    }

    /// A nested transaction (a savepoint).
    pub async fn begin(&mut self) -> StoreResult<Tx<'_>> {
        Ok(map_db!(self, |c| sqlx::Connection::begin(&mut **c).await?))
    }
}

/// SQLite's two pools: readers, and the one writer connection.
#[derive(Clone)]
pub(crate) struct SqlitePools {
    pub read: SqlitePool,
    pub write: SqlitePool,
    /// Set while the writer connection may have foreign keys off (an import batch); the
    /// next acquisition turns them back on (see `sqlite.rs`).
    pub foreign_keys_off: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A store's connection pools (on PostgreSQL one pool reads and writes), and the key
/// that names contacts in the event log, which every writer of events needs.
#[derive(Clone)]
pub(crate) struct Pools(pub Db<SqlitePools, PgPool>, pub ContactKeyer);

impl Pools {
    pub fn keyer(&self) -> &ContactKeyer {
        &self.1
    }

    pub fn read(&self) -> Pool<'_> {
        match &self.0 {
            Db::Sqlite(p) => Db::Sqlite(&p.read),
            Db::Postgres(p) => Db::Postgres(p),
        }
    }

    pub fn write(&self) -> Pool<'_> {
        match &self.0 {
            Db::Sqlite(p) => Db::Sqlite(&p.write),
            Db::Postgres(p) => Db::Postgres(p),
        }
    }

    pub fn backend(&self) -> Backend {
        self.0.backend()
    }
}
