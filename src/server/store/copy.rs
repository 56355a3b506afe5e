//! Outgrowing SQLite: copies everything of a stopped SQLite database into an empty
//! PostgreSQL database (`optbox copy --to postgres://…`), so that `optbox serve` on
//! PostgreSQL carries on where SQLite stopped: the same secrets (links, API keys and
//! session cookies keep working), lists, contacts, opt-outs, events, queues and sessions.
//!
//! The tables are read from SQLite's own catalogue, so a table added by a later
//! migration is copied without a change here; both schemas come from the same
//! migrations, and a column set that differs is refused before anything is written.
//! Parents are copied before children (the foreign keys decide the order), all tables in
//! one PostgreSQL transaction; the id sequences then continue after the copied ids, and
//! the row counts of both databases are compared at the end.

use super::db::Db;
use super::{SqlStore, StoreError, StoreResult, SystemStore, postgres, sqlite};
use futures_util::TryStreamExt;
use sqlx::{Row, SqlitePool};
use std::collections::{BTreeMap, BTreeSet};

/// What a copy wrote: rows per table, in the order copied, and sessions.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
    pub sessions: u64,
}

/// Tables that are not the application's data: sqlx's migration record, and the
/// session table (its shape differs between the backends; sessions are copied through
/// the session store instead).
const NOT_COPIED: &[&str] = &["_sqlx_migrations", "tower_sessions"];

/// Most bind parameters in one `INSERT` (PostgreSQL allows 65,535).
const MAX_PARAMS: usize = 30_000;

fn refused(m: impl Into<String>) -> StoreError {
    StoreError::Refused(m.into())
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The application's tables of the SQLite database, parents before children.
async fn tables_in_order(src: &SqlitePool) -> StoreResult<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(src)
    .await?;
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| !NOT_COPIED.contains(&n.as_str()))
        .collect();
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in &names {
        let ps: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(n)
                .fetch_all(src)
                .await?;
        parents.insert(
            n.clone(),
            ps.into_iter()
                .filter(|p| p != n && names.contains(p))
                .collect(),
        );
    }
    let mut order: Vec<String> = Vec::with_capacity(names.len());
    while order.len() < names.len() {
        let ready: Vec<String> = names
            .iter()
            .filter(|n| !order.contains(n) && parents[*n].iter().all(|p| order.contains(p)))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(refused("the tables' foreign keys form a cycle"));
        }
        order.extend(ready);
    }
    Ok(order)
}

/// A column's value as PostgreSQL takes it.
enum Value {
    Bool(Option<bool>),
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// How a PostgreSQL column type is read from SQLite.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Text,
    Bytes,
}

fn kind_of(table: &str, column: &str, pg_type: &str) -> StoreResult<Kind> {
    Ok(match pg_type {
        "boolean" => Kind::Bool,
        "bigint" | "integer" | "smallint" => Kind::Int,
        "double precision" | "real" => Kind::Float,
        "text" | "character varying" => Kind::Text,
        "bytea" => Kind::Bytes,
        other => {
            return Err(refused(format!(
                "{table}.{column} has a type this copy does not know ({other})"
            )));
        }
    })
}

fn read(row: &sqlx::sqlite::SqliteRow, i: usize, k: Kind) -> StoreResult<Value> {
    Ok(match k {
        Kind::Bool => Value::Bool(row.try_get_unchecked(i)?),
        Kind::Int => Value::Int(row.try_get_unchecked(i)?),
        Kind::Float => Value::Float(row.try_get_unchecked(i)?),
        Kind::Text => Value::Text(row.try_get_unchecked(i)?),
        Kind::Bytes => Value::Bytes(row.try_get_unchecked(i)?),
    })
}

async fn count(db: Db<&SqlitePool, &sqlx::PgPool>, table: &str) -> StoreResult<i64> {
    let sql = format!("SELECT COUNT(*) FROM {}", ident(table));
    Ok(super::db::on_db!(db, |p| {
        sqlx::query_scalar(&sql).fetch_one(p).await?
    }))
}

/// Copies the stopped SQLite database at `from` into the empty PostgreSQL database at
/// `to` (migrated first). `Refused` (nothing written) when `from` is not SQLite, is in
/// use by a server, or `to` is not empty; an error after the copy means the counts
/// disagree.
pub async fn sqlite_to_postgres(from: &str, to: &str) -> StoreResult<CopyReport> {
    if !from.starts_with("sqlite:") {
        return Err(refused(format!(
            "optbox copy copies a SQLite database, and database_url is {}",
            super::redact_url(from)
        )));
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(refused("--to must be a postgres:// URL"));
    }
    let source: SqlStore = sqlite::open(from, true)
        .await
        .map_err(|e| refused(e.to_string()))?;
    // As when it opens to serve: the key of its keyed hashes loaded (it is copied with
    // the other secrets, so every keyed hash copied stays valid), and what an older
    // version left unkeyed keyed under it, before anything is applied or copied.
    super::prepare(&source).await?;
    // Opt-outs acknowledged in the one-click log go into the tables first; a server
    // still running holds the log's lock, and the copy is refused.
    source
        .start()
        .await
        .map_err(|e| refused(format!("{e}: stop optbox before copying its database")))?;
    source.stop().await?;
    let target: SqlStore = postgres::open(to, true)
        .await
        .map_err(|e| refused(e.to_string()))?;
    let (Db::Sqlite(sp), Db::Postgres(pg)) = (&source.pools.0, &target.pools.0) else {
        unreachable!("opened by backend")
    };
    let src = &sp.read;

    let tables = tables_in_order(src).await?;
    let mut plans = Vec::with_capacity(tables.len());
    for t in &tables {
        let n = count(Db::Postgres(pg), t).await.map_err(|_| {
            refused(format!(
                "the PostgreSQL database has no table {t}: is it a database of another application?"
            ))
        })?;
        if n > 0 {
            return Err(refused(format!(
                "the PostgreSQL database is not empty (table {t}: {n}): copy into a new, empty database"
            )));
        }
        let cols: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(t)
                .fetch_all(src)
                .await?;
        let pg_cols: BTreeMap<String, String> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(t)
        .fetch_all(pg)
        .await?
        .into_iter()
        .collect();
        let mine: BTreeSet<&String> = cols.iter().collect();
        let theirs: BTreeSet<&String> = pg_cols.keys().collect();
        if mine != theirs {
            return Err(refused(format!(
                "table {t} has other columns in PostgreSQL ({}) than in SQLite ({}): \
                 run the same optbox version on both",
                theirs
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                mine.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let kinds = cols
            .iter()
            .map(|c| kind_of(t, c, &pg_cols[c]))
            .collect::<StoreResult<Vec<Kind>>>()?;
        plans.push((t.clone(), cols, kinds));
    }
    let sessions_src = tower_sessions_sqlx_store::SqliteStore::new(sp.write.clone());
    sessions_src.migrate().await?;
    let sessions_dst = tower_sessions_sqlx_store::PostgresStore::new(pg.clone());
    sessions_dst.migrate().await?;
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions.session")
        .fetch_one(pg)
        .await?;
    if held > 0 {
        return Err(refused(
            "the PostgreSQL database is not empty (it holds sessions): copy into a new, empty database",
        ));
    }

    let mut report = CopyReport::default();
    let mut tx = pg.begin().await?;
    for (t, cols, kinds) in &plans {
        let list = cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        let per = (MAX_PARAMS / cols.len().max(1)).max(1);
        let select = format!("SELECT {list} FROM {}", ident(t));
        let mut rows = sqlx::query(&select).fetch(src);
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per);
        let mut copied = 0u64;
        loop {
            let next = rows.try_next().await?;
            if let Some(r) = &next {
                batch.push(
                    kinds
                        .iter()
                        .enumerate()
                        .map(|(i, k)| read(r, i, *k))
                        .collect::<StoreResult<Vec<Value>>>()?,
                );
            }
            if batch.len() == per || (next.is_none() && !batch.is_empty()) {
                let mut sql = format!("INSERT INTO {} ({list}) VALUES ", ident(t));
                for (j, _) in batch.iter().enumerate() {
                    if j > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    sql.push_str(&super::sql::placeholders(j * cols.len() + 1, cols.len()));
                    sql.push(')');
                }
                let mut q = sqlx::query(&sql);
                for row in batch.drain(..) {
                    for v in row {
                        q = match v {
                            Value::Bool(x) => q.bind(x),
                            Value::Int(x) => q.bind(x),
                            Value::Float(x) => q.bind(x),
                            Value::Text(x) => q.bind(x),
                            Value::Bytes(x) => q.bind(x),
                        };
                    }
                }
                copied += q.execute(&mut *tx).await?.rows_affected();
            }
            if next.is_none() {
                break;
            }
        }
        report.tables.push((t.clone(), copied));
    }
    // Ids handed out from now on follow the copied ones.
    let serials: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (t, c) in &serials {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({}), 0) + 1, false) FROM {}",
            ident(c),
            ident(t)
        );
        sqlx::query(&sql).bind(t).bind(c).execute(&mut *tx).await?;
    }
    tx.commit().await?;

    // Sessions, through the session stores (each backend keeps them in its own shape).
    {
        use tower_sessions::session_store::SessionStore;
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM tower_sessions")
            .fetch_all(src)
            .await?;
        for id in ids {
            let Ok(id) = id.parse() else { continue };
            let loaded = sessions_src
                .load(&id)
                .await
                .map_err(|e| refused(format!("a session could not be read: {e}")))?;
            if let Some(record) = loaded {
                sessions_dst
                    .save(&record)
                    .await
                    .map_err(|e| refused(format!("a session could not be written: {e}")))?;
                report.sessions += 1;
            }
        }
    }

    for (t, n) in &report.tables {
        let (a, b) = (
            count(Db::Sqlite(src), t).await?,
            count(Db::Postgres(pg), t).await?,
        );
        if a != b || b as u64 != *n {
            return Err(StoreError::Corrupt {
                what: format!("copy of {t}: {a} rows in SQLite, {b} in PostgreSQL").into(),
                source: None,
            });
        }
    }
    Ok(report)
}
