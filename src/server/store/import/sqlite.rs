//! An import batch's bulk statements on SQLite: multi-row statements with positional
//! parameters (SQLite allows 32,766 parameters per statement).
//!
//! They run without a statement journal. SQLite keeps one for any statement that writes
//! several rows and may abort half-way (an ABORT constraint, or an immediate foreign
//! key), copying every page the statement touches first, so that it can undo that
//! statement alone; for multi-row inserts into indexes reached in random order that is a
//! large share of an import's time. Here a failed statement fails the whole batch, whose
//! transaction is rolled back anyway, so the inserts say `OR FAIL`, and the batch runs
//! with foreign keys off: it checks the list itself, reads the topic ids in its
//! transaction and deletes a contact's preferences before the contact.

use super::super::db::SqlitePools;
use super::super::sql::{placeholders, positional};
use super::super::{StoreError, StoreResult};
use super::{Bulk, ExistingRow, NewContactRow};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

const BULK_ROWS: usize = 500;

/// The writer connection for an import batch, with foreign keys off, once the list is
/// known to exist. Nothing else writes while it is held (one writer connection).
pub(super) async fn begin(p: &SqlitePools, list_id: i64) -> StoreResult<PoolConnection<Sqlite>> {
    let mut conn = p.write.acquire().await?;
    // Flagged first: a batch dropped at any point leaves the flag for the next user.
    p.foreign_keys_off.store(true, Ordering::Release);
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let exists = sqlx::query("SELECT 1 FROM contact_lists WHERE id = ?")
        .bind(list_id)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    Ok(conn)
}

/// Foreign keys back on after a batch. The batch has committed by then, so a failure
/// here does not fail it: the flag stays set and the next acquisition tries again.
pub(super) async fn end(p: &SqlitePools, conn: &mut PoolConnection<Sqlite>) {
    match sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut **conn)
        .await
    {
        Ok(_) => p.foreign_keys_off.store(false, Ordering::Release),
        Err(e) => {
            tracing::warn!(error = %e, "turning foreign keys back on after an import batch failed; the next write retries")
        }
    }
}

/// `head IN ($first, …)` with `n` parameters, in SQLite's positional form.
fn with_in_list(head: &str, first: usize, n: usize) -> String {
    positional(&format!("{head} IN ({})", placeholders(first, n)))
}

impl Bulk for SqliteConnection {
    async fn contacts_by_key(
        &mut self,
        list_id: i64,
        keys: &[String],
    ) -> StoreResult<Vec<ExistingRow>> {
        let mut out: Vec<ExistingRow> = Vec::new();
        for chunk in keys.chunks(BULK_ROWS) {
            let sql = with_in_list(
                "SELECT id, email, email_key, unsubscribe_all, attributes FROM contacts \
                 WHERE list_id = $1 AND email_key",
                2,
                chunk.len(),
            );
            let mut q = sqlx::query_as::<_, ExistingRow>(&sql).bind(list_id);
            for k in chunk {
                q = q.bind(k);
            }
            out.extend(q.fetch_all(&mut *self).await?);
        }
        Ok(out)
    }

    async fn prefs_of(&mut self, ids: &[i64]) -> StoreResult<Vec<(i64, i64, bool)>> {
        let mut out: Vec<(i64, i64, bool)> = Vec::new();
        for chunk in ids.chunks(BULK_ROWS) {
            let sql = with_in_list(
                "SELECT contact_id, topic_id, opt_in FROM contact_topic_prefs WHERE contact_id",
                1,
                chunk.len(),
            );
            let mut q = sqlx::query_as::<_, (i64, i64, bool)>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(&mut *self).await?);
        }
        Ok(out)
    }

    async fn tombstones(
        &mut self,
        list_name: &str,
        keys: &[&[u8]],
    ) -> StoreResult<Vec<(Vec<u8>, bool, String)>> {
        let mut out: Vec<(Vec<u8>, bool, String)> = Vec::new();
        for chunk in keys.chunks(BULK_ROWS) {
            let sql = with_in_list(
                "SELECT email_hash, unsubscribe_all, topics FROM tombstones \
                 WHERE list_name = $1 AND email_hash",
                2,
                chunk.len(),
            );
            let mut q = sqlx::query_as::<_, (Vec<u8>, bool, String)>(&sql).bind(list_name);
            for h in chunk {
                q = q.bind(*h);
            }
            out.extend(q.fetch_all(&mut *self).await?);
        }
        Ok(out)
    }

    /// New contacts get the ids after the largest one, in row order (what SQLite itself
    /// would choose), given explicitly: no `RETURNING` rows to read back.
    async fn insert_contacts(
        &mut self,
        list_id: i64,
        rows: &[NewContactRow<'_>],
        now: i64,
    ) -> StoreResult<HashMap<String, i64>> {
        let mut ids = HashMap::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok(ids);
        }
        let mut next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM contacts")
            .fetch_one(&mut *self)
            .await?;
        for chunk in rows.chunks(BULK_ROWS) {
            let mut sql = String::from(
                "INSERT OR FAIL INTO contacts (id, list_id, email, email_key, email_hash, \
                 unsubscribe_all, attributes, created_at, updated_at) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 {
                    ",(?,?,?,?,?,?,?,?,?)"
                } else {
                    "(?,?,?,?,?,?,?,?,?)"
                });
            }
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(next)
                    .bind(list_id)
                    .bind(r.email)
                    .bind(&r.key)
                    .bind(r.hash)
                    .bind(r.unsubscribe_all)
                    .bind(&r.attributes)
                    .bind(now)
                    .bind(now);
                ids.insert(r.key.clone(), next);
                next += 1;
            }
            q.execute(&mut *self).await?;
        }
        Ok(ids)
    }

    async fn put_prefs(&mut self, rows: &[(i64, i64, bool)], upsert: bool) -> StoreResult<()> {
        for chunk in rows.chunks(BULK_ROWS * 2) {
            let mut sql = String::from(
                "INSERT OR FAIL INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i > 0 { ",(?,?,?)" } else { "(?,?,?)" });
            }
            if upsert {
                sql.push_str(
                    " ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in",
                );
            }
            let mut q = sqlx::query(&sql);
            for (c, t, o) in chunk {
                q = q.bind(*c).bind(*t).bind(*o);
            }
            q.execute(&mut *self).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::db::Db;
    use super::*;

    #[tokio::test]
    async fn an_import_batch_that_stops_half_way_leaves_foreign_keys_on() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::server::store::sqlite::open(&url, true)
            .await
            .unwrap();
        let Db::Sqlite(p) = &store.pools.0 else {
            unreachable!("a SQLite store")
        };
        let list: i64 = sqlx::query_scalar(
            "INSERT INTO contact_lists (name, created_at, updated_at) VALUES ('l', 0, 0) RETURNING id",
        )
        .fetch_one(&p.write)
        .await
        .unwrap();
        let fk = "PRAGMA foreign_keys";
        let mut conn = begin(p, list).await.unwrap();
        let off: i64 = sqlx::query_scalar(fk).fetch_one(&mut *conn).await.unwrap();
        assert_eq!(off, 0, "a batch runs with foreign keys off");
        // Dropped without `end`, as a failed or cancelled batch is.
        drop(conn);
        let on: i64 = sqlx::query_scalar(fk).fetch_one(&p.write).await.unwrap();
        assert_eq!(on, 1, "the next user of the writer has them on again");
        // After a batch that ends, too; and a list that is gone is refused.
        let mut conn = begin(p, list).await.unwrap();
        end(p, &mut conn).await;
        drop(conn);
        let on: i64 = sqlx::query_scalar(fk).fetch_one(&p.write).await.unwrap();
        assert_eq!(on, 1);
        assert!(matches!(
            begin(p, list + 1).await,
            Err(StoreError::NotFound)
        ));
    }
}
