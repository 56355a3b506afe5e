//! The account suppression list (`suppressions`): addresses no message is delivered to,
//! with the reason and the message that put them there. Every change is written with
//! the events its caller gives, in one transaction.

use super::db::on_db;
use super::import::save_progress;
use super::{
    Audit, BatchProgress, ImportAction, ImportCounts, MailEvent, SqlStore, StoreError, StoreResult,
    now_ms,
};
use crate::domain::SuppressionReason;

/// One suppressed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Lower-cased.
    pub email: String,
    pub reason: SuppressionReason,
    /// When it was put (or last changed), in ms.
    pub updated_at: i64,
    /// The message whose bounce or complaint put it here, when known.
    pub message_id: Option<String>,
    /// The id of the event that did (SES `FeedbackId`).
    pub feedback_id: Option<String>,
}

/// A listing's filters and page (newest first, keyset-paged).
#[derive(Debug, Clone, Default)]
pub struct SuppressionQuery {
    /// Empty means every reason.
    pub reasons: Vec<SuppressionReason>,
    /// `updated_at` bounds in ms, inclusive.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// An address containing this (lower-cased) text.
    pub search: Option<String>,
    /// The last row of the previous page: (`updated_at`, `email`).
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

/// A new or changed entry.
#[derive(Debug, Clone)]
pub struct NewSuppression<'a> {
    pub email: &'a str,
    pub reason: SuppressionReason,
    pub message_id: Option<&'a str>,
    pub feedback_id: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
struct Row {
    email: String,
    reason: String,
    updated_at: i64,
    message_id: Option<String>,
    feedback_id: Option<String>,
}

impl TryFrom<Row> for Suppression {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        let reason = SuppressionReason::parse(&r.reason).ok_or_else(|| {
            StoreError::corrupt::<std::convert::Infallible>(
                format!("suppression reason {:?}", r.reason),
                None,
            )
        })?;
        Ok(Suppression {
            email: r.email,
            reason,
            updated_at: r.updated_at,
            message_id: r.message_id,
            feedback_id: r.feedback_id,
        })
    }
}

const COLUMNS: &str = "email, reason, updated_at, message_id, feedback_id";

/// The suppression list; a part of `Store`.
#[async_trait::async_trait]
pub trait SuppressionStore {
    /// Puts addresses on the list (replacing the reason of those already there) and
    /// writes `events`, in one transaction.
    async fn put_suppressions(
        &self,
        rows: &[NewSuppression<'_>],
        audit: &Audit,
        events: &[MailEvent<'_>],
    ) -> StoreResult<()>;
    /// One address (lower-cased), if suppressed.
    async fn get_suppression(&self, email: &str) -> StoreResult<Option<Suppression>>;
    /// Takes an address off the list and writes `events`; false when it was not on it.
    async fn delete_suppression(
        &self,
        email: &str,
        audit: &Audit,
        events: &[MailEvent<'_>],
    ) -> StoreResult<bool>;
    /// A page of the list, newest first.
    async fn list_suppressions(&self, q: &SuppressionQuery) -> StoreResult<Vec<Suppression>>;
    /// Which of `emails` (lower-cased) are suppressed.
    async fn suppressed_among(&self, emails: &[String]) -> StoreResult<Vec<Suppression>>;
    /// A batch of a suppression-list import job, in one transaction with the job's
    /// progress: PUT puts every row (`created` counts addresses new to the list,
    /// `updated` those already on it), DELETE takes them off (`deleted`, or `absent`).
    /// `events` holds one event per row (`events[i]` for `rows[i]`), written when that
    /// row changed the list.
    async fn import_suppressions(
        &self,
        action: ImportAction,
        rows: &[NewSuppression<'_>],
        audit: &Audit,
        events: &[MailEvent<'_>],
        progress: BatchProgress<'_>,
    ) -> StoreResult<ImportCounts>;
    /// Why the relay is paused (its breaker tripped), and since when; `None` when it runs.
    async fn relay_paused(&self) -> StoreResult<Option<(String, i64)>>;
    /// Pauses the relay with a reason, or resumes it (`None`), writing `events`.
    /// Pausing when already paused keeps the first reason and writes nothing: returns
    /// whether anything changed.
    async fn set_relay_paused(
        &self,
        why: Option<&str>,
        audit: &Audit,
        events: &[MailEvent<'_>],
    ) -> StoreResult<bool>;
}

#[async_trait::async_trait]
impl SuppressionStore for SqlStore {
    async fn put_suppressions(
        &self,
        rows: &[NewSuppression<'_>],
        audit: &Audit,
        evs: &[MailEvent<'_>],
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pools.write().begin().await?;
        for r in rows {
            on_db!(tx.conn(), |c| {
                sqlx::query(
                    "INSERT INTO suppressions (email, reason, updated_at, message_id, feedback_id) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO UPDATE SET \
                     reason = excluded.reason, updated_at = excluded.updated_at, \
                     message_id = excluded.message_id, feedback_id = excluded.feedback_id",
                )
                .bind(r.email.to_lowercase())
                .bind(r.reason.as_str())
                .bind(now)
                .bind(r.message_id)
                .bind(r.feedback_id)
                .execute(c)
                .await?;
            });
        }
        super::mail::write_events(tx.conn(), self.pools.keyer(), audit, evs).await?;
        tx.commit().await
    }

    async fn get_suppression(&self, email: &str) -> StoreResult<Option<Suppression>> {
        let sql = format!("SELECT {COLUMNS} FROM suppressions WHERE email = $1");
        let row: Option<Row> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql)
                .bind(email.to_lowercase())
                .fetch_optional(p)
                .await?
        });
        row.map(Suppression::try_from).transpose()
    }

    async fn delete_suppression(
        &self,
        email: &str,
        audit: &Audit,
        evs: &[MailEvent<'_>],
    ) -> StoreResult<bool> {
        let mut tx = self.pools.write().begin().await?;
        let n: u64 = on_db!(tx.conn(), |c| {
            sqlx::query("DELETE FROM suppressions WHERE email = $1")
                .bind(email.to_lowercase())
                .execute(c)
                .await?
                .rows_affected()
        });
        if n == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        super::mail::write_events(tx.conn(), self.pools.keyer(), audit, evs).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_suppressions(&self, q: &SuppressionQuery) -> StoreResult<Vec<Suppression>> {
        let reasons: Vec<&str> = q.reasons.iter().map(|r| r.as_str()).collect();
        let (after_at, after_email) = q.after.clone().unwrap_or((i64::MAX, String::new()));
        let search = q
            .search
            .as_deref()
            .map(|s| format!("%{}%", crate::domain::query::like_escape(&s.to_lowercase())));
        // Reasons are at most two: spelled out rather than an array bind, the same on
        // both databases.
        let sql = format!(
            "SELECT {COLUMNS} FROM suppressions \
             WHERE ($1 = 0 OR reason = $2 OR reason = $3) \
             AND updated_at >= $4 AND updated_at <= $5 \
             AND ($6 IS NULL OR email LIKE $6 ESCAPE '\\') \
             AND (updated_at < $7 OR (updated_at = $7 AND email > $8)) \
             ORDER BY updated_at DESC, email LIMIT $9"
        );
        let rows: Vec<Row> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql)
                .bind(reasons.len() as i64)
                .bind(reasons.first().copied().unwrap_or(""))
                .bind(reasons.get(1).copied().unwrap_or(""))
                .bind(q.start.unwrap_or(0))
                .bind(q.end.unwrap_or(i64::MAX))
                .bind(search.as_deref())
                .bind(after_at)
                .bind(&after_email)
                .bind(q.limit.clamp(1, 10_000) as i64)
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(Suppression::try_from).collect()
    }

    async fn suppressed_among(&self, emails: &[String]) -> StoreResult<Vec<Suppression>> {
        let mut found = Vec::new();
        for chunk in emails.chunks(200) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM suppressions WHERE email IN ({})",
                marks.join(", ")
            );
            let rows: Vec<Row> = on_db!(self.pools.read(), |p| {
                let mut q = sqlx::query_as(&sql);
                for e in chunk {
                    q = q.bind(e.to_lowercase());
                }
                q.fetch_all(p).await?
            });
            for r in rows {
                found.push(Suppression::try_from(r)?);
            }
        }
        Ok(found)
    }

    async fn import_suppressions(
        &self,
        action: ImportAction,
        rows: &[NewSuppression<'_>],
        audit: &Audit,
        evs: &[MailEvent<'_>],
        progress: BatchProgress<'_>,
    ) -> StoreResult<ImportCounts> {
        if evs.len() != rows.len() {
            return Err(StoreError::unreadable(
                "suppression import: one event per row is required",
            ));
        }
        let now = now_ms();
        let mut counts = ImportCounts::default();
        let mut tx = self.pools.write().begin().await?;
        for (r, e) in rows.iter().zip(evs) {
            let email = r.email.to_lowercase();
            let changed = match action {
                ImportAction::Put => {
                    // Whether the address is already there, for the counts.
                    let existed: Option<String> = on_db!(tx.conn(), |c| {
                        sqlx::query_scalar("SELECT reason FROM suppressions WHERE email = $1")
                            .bind(&email)
                            .fetch_optional(c)
                            .await?
                    });
                    on_db!(tx.conn(), |c| {
                        sqlx::query(
                            "INSERT INTO suppressions \
                             (email, reason, updated_at, message_id, feedback_id) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO UPDATE SET \
                             reason = excluded.reason, updated_at = excluded.updated_at, \
                             message_id = excluded.message_id, \
                             feedback_id = excluded.feedback_id",
                        )
                        .bind(&email)
                        .bind(r.reason.as_str())
                        .bind(now)
                        .bind(r.message_id)
                        .bind(r.feedback_id)
                        .execute(c)
                        .await?;
                    });
                    if existed.is_some() {
                        counts.updated += 1;
                    } else {
                        counts.created += 1;
                    }
                    true
                }
                ImportAction::Delete => {
                    let n: u64 = on_db!(tx.conn(), |c| {
                        sqlx::query("DELETE FROM suppressions WHERE email = $1")
                            .bind(&email)
                            .execute(c)
                            .await?
                            .rows_affected()
                    });
                    if n == 0 {
                        counts.absent += 1;
                    } else {
                        counts.deleted += 1;
                    }
                    n > 0
                }
            };
            if changed {
                let one = std::slice::from_ref(e);
                super::mail::write_events(tx.conn(), self.pools.keyer(), audit, one).await?;
            }
        }
        save_progress(tx.conn(), &progress, &counts).await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn relay_paused(&self) -> StoreResult<Option<(String, i64)>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as("SELECT value, updated_at FROM relay_state WHERE name = 'paused'")
                .fetch_optional(p)
                .await?
        }))
    }

    async fn set_relay_paused(
        &self,
        why: Option<&str>,
        audit: &Audit,
        evs: &[MailEvent<'_>],
    ) -> StoreResult<bool> {
        let mut tx = self.pools.write().begin().await?;
        let n: u64 = on_db!(tx.conn(), |c| {
            match why {
                Some(why) => sqlx::query(
                    "INSERT INTO relay_state (name, value, updated_at) VALUES ('paused', $1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(why)
                .bind(now_ms())
                .execute(c)
                .await?
                .rows_affected(),
                None => sqlx::query("DELETE FROM relay_state WHERE name = 'paused'")
                    .execute(c)
                    .await?
                    .rows_affected(),
            }
        });
        if n == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        super::mail::write_events(tx.conn(), self.pools.keyer(), audit, evs).await?;
        tx.commit().await?;
        Ok(true)
    }
}
