//! Leased outboxes: the webhook deliveries (`webhook_deliveries`) and the relay queue
//! (`mail_queue`) are worked the same way, by a worker in every `optbox serve`
//! (`server::outbox`); any number of instances on one PostgreSQL share them.
//!
//! - **Claim** in one short transaction: `UPDATE … SET attempts = attempts + 1,
//!   next_attempt_at = <lease end> WHERE id IN (SELECT … due … ORDER BY next_attempt_at,
//!   id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING …` (SQLite has one writer, so it needs
//!   no row locks). The raised `attempts` is the claim's fencing token and
//!   `next_attempt_at` the lease's end: no other instance takes the row before then, and
//!   if this one dies the row is due again when the lease runs out. A claim whose
//!   transaction fails as a whole (a serialization failure, a deadlock, a busy database)
//!   changed nothing and is tried again at once.
//! - **Complete**: a row delivered is done, whoever holds its lease now: no fencing.
//! - **Retry or give up**: only under the same claim (`attempts` as claimed, still
//!   waiting), so a late answer never overwrites a newer claim taken after the lease ran
//!   out.
//!
//! No lock outlives its transaction: no advisory locks, no session state.

use super::db::{Conn, Pools, on_db};
use super::sql::placeholders;
use super::{Backend, StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// A table worked as a leased outbox.
pub(super) struct Outbox {
    pub table: &'static str,
    /// The column holding a row's state, and the state of rows waiting to be delivered.
    pub state: &'static str,
    pub waiting: &'static str,
}

pub(super) const WEBHOOK_DELIVERIES: Outbox = Outbox {
    table: "webhook_deliveries",
    state: "status",
    waiting: "pending",
};

pub(super) const MAIL_QUEUE: Outbox = Outbox {
    table: "mail_queue",
    state: "state",
    waiting: "queued",
};

/// How often a claim whose transaction failed as a whole is tried again at once.
const CLAIM_TRIES: usize = 3;

/// A value an outcome writes into a column (`None`: NULL).
pub(super) enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

/// Columns an outcome sets, and their values.
pub(super) type Set<'a> = [(&'static str, Value<'a>)];

impl Outbox {
    /// A cheap read: is any row due at `now`?
    pub async fn any_due(&self, pools: &Pools, now: i64) -> StoreResult<bool> {
        let sql = format!(
            "SELECT id FROM {} WHERE {} = '{}' AND next_attempt_at <= $1 LIMIT 1",
            self.table, self.state, self.waiting
        );
        let row: Option<i64> = on_db!(pools.read(), |p| {
            sqlx::query_scalar(&sql).bind(now).fetch_optional(p).await?
        });
        Ok(row.is_some())
    }

    /// Claims up to `limit` rows due at `now` until `lease_until`, oldest due first, and
    /// returns their `returning` columns (`attempts` is the claim's attempt number).
    pub async fn claim<R>(
        &self,
        pools: &Pools,
        now: i64,
        lease_until: i64,
        limit: u32,
        returning: &str,
    ) -> StoreResult<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let lock = match pools.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let (table, state, waiting) = (self.table, self.state, self.waiting);
        let sql = format!(
            "UPDATE {table} SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id IN (SELECT id FROM {table} WHERE {state} = '{waiting}' \
             AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3{lock}) \
             RETURNING {returning}"
        );
        let mut tries = 1;
        loop {
            let claimed = async {
                let mut tx = pools.write().begin().await?;
                let rows: Vec<R> = on_db!(tx.conn(), |c| {
                    sqlx::query_as(&sql)
                        .bind(lease_until)
                        .bind(now)
                        .bind(limit as i64)
                        .fetch_all(c)
                        .await?
                });
                tx.commit().await?;
                Ok::<_, StoreError>(rows)
            }
            .await;
            match claimed {
                Err(e) if tries < CLAIM_TRIES && worth_retrying(&e) => tries += 1,
                done => return done,
            }
        }
    }

    /// Marks rows delivered (`set`), whoever holds their lease now, in the caller's
    /// transaction; rows no longer waiting are left alone.
    pub async fn complete(&self, mut c: Conn<'_>, ids: &[i64], set: &Set<'_>) -> StoreResult<()> {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE {} SET {} WHERE {} = '{}' AND id IN ({})",
                self.table,
                assignments(set, 1),
                self.state,
                self.waiting,
                placeholders(set.len() + 1, chunk.len())
            );
            on_db!(c.re(), |c| {
                let mut q = sqlx::query(&sql);
                for (_, v) in set {
                    q = match v {
                        Value::Int(i) => q.bind(*i),
                        Value::Text(t) => q.bind(*t),
                    };
                }
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(c).await?;
            });
        }
        Ok(())
    }

    /// Records how an attempt ended (`set`: a retry, or giving up), in the caller's
    /// transaction, only while the row is still waiting under the claim `attempt`; false
    /// when a newer claim has it (or it is done).
    pub async fn settle(
        &self,
        c: Conn<'_>,
        id: i64,
        attempt: i64,
        set: &Set<'_>,
    ) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE {} SET {} WHERE id = $1 AND attempts = $2 AND {} = '{}'",
            self.table,
            assignments(set, 3),
            self.state,
            self.waiting
        );
        let n: u64 = on_db!(c, |c| {
            let mut q = sqlx::query(&sql).bind(id).bind(attempt);
            for (_, v) in set {
                q = match v {
                    Value::Int(i) => q.bind(*i),
                    Value::Text(t) => q.bind(*t),
                };
            }
            q.execute(c).await?.rows_affected()
        });
        Ok(n == 1)
    }
}

/// `a = $first, b = $first+1, …` for the columns of `set`.
fn assignments(set: &Set<'_>, first: usize) -> String {
    let parts: Vec<String> = set
        .iter()
        .enumerate()
        .map(|(k, (col, _))| format!("{col} = ${}", first + k))
        .collect();
    parts.join(", ")
}

/// Whether a transaction failed as a whole in a way that trying it again can cure:
/// PostgreSQL's serialization failure (40001) and deadlock (40P01), SQLite's busy and
/// locked (5 and 6, with their extended codes).
fn worth_retrying(e: &StoreError) -> bool {
    let StoreError::Database(e) = e else {
        return false;
    };
    let sqlx::Error::Database(d) = e.as_ref() else {
        return false;
    };
    match d.code().as_deref() {
        Some("40001" | "40P01") => true,
        Some(c) => c.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_set_numbered_columns() {
        let set = [
            ("status", Value::Text(Some("dead"))),
            ("last_status", Value::Int(None)),
        ];
        assert_eq!(assignments(&set, 3), "status = $3, last_status = $4");
    }
}
