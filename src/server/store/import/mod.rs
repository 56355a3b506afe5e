//! Bulk import: batches of rows applied in one transaction each, with the job's progress
//! recorded in the same transaction, so a crash leaves every batch either applied and
//! counted or not applied at all, and a re-run resumes after the last committed batch.
//!
//! The rule that matters most: an import never turns a recorded opt-out (an explicit
//! OPT_OUT, UnsubscribeAll, or a tombstone of a deleted contact) into a subscription
//! unless the caller sets `override_opt_outs`, and every such override is logged.

mod postgres;
mod sqlite;

use super::db::{Conn, Db, PoolConn, Pools, on_db};
use super::events::{self, ContactKeyer, NewEvent};
use super::lists::topic_ids;
use super::one_click::Sees;
use super::opt_outs;
use super::sql::{placeholders, status, tombstone_from};
use super::{Audit, SqlStore, StoreError, StoreResult, email_hash, now_ms};
use crate::domain::{
    ContactList, EmailAddress, Preferences, SubscriptionStatus, Tombstone, TopicName,
    TopicPreference,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// SES `ContactListImportAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportAction {
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "DELETE")]
    Delete,
}

impl ImportAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportAction::Put => "PUT",
            ImportAction::Delete => "DELETE",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PUT" => Some(ImportAction::Put),
            "DELETE" => Some(ImportAction::Delete),
            _ => None,
        }
    }
}

/// What an import job fills (SES `ImportDestinationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportDestination {
    /// A contact list (the job's `list_name`).
    #[serde(rename = "CONTACT_LIST")]
    ContactList,
    /// The account suppression list (the job's `list_name` is empty).
    #[serde(rename = "SUPPRESSION_LIST")]
    SuppressionList,
}

impl ImportDestination {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportDestination::ContactList => "CONTACT_LIST",
            ImportDestination::SuppressionList => "SUPPRESSION_LIST",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CONTACT_LIST" => Some(ImportDestination::ContactList),
            "SUPPRESSION_LIST" => Some(ImportDestination::SuppressionList),
            _ => None,
        }
    }
}

/// One valid row of an import file. `None` fields were empty or absent: an existing
/// contact keeps what it has.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub email: EmailAddress,
    pub unsubscribe_all: Option<bool>,
    pub attributes: Option<String>,
    pub preferences: Vec<(TopicName, SubscriptionStatus)>,
}

/// What a batch (or a whole job) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportCounts {
    /// New contacts.
    pub created: u64,
    /// Existing contacts that changed.
    pub updated: u64,
    /// Rows that changed nothing (a re-run of the same file is all `unchanged`).
    pub unchanged: u64,
    /// Contacts removed by a DELETE import.
    pub deleted: u64,
    /// DELETE rows for addresses not on the list.
    pub absent: u64,
    /// Rows where a recorded opt-out was kept against what the row asked for.
    pub opt_outs_kept: u64,
    /// Rows where `override_opt_outs` turned a recorded opt-out back (each logged).
    pub opt_outs_overridden: u64,
}

impl ImportCounts {
    pub fn add(&mut self, o: &ImportCounts) {
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
        self.absent += o.absent;
        self.opt_outs_kept += o.opt_outs_kept;
        self.opt_outs_overridden += o.opt_outs_overridden;
    }
    /// Rows applied (valid rows).
    pub fn processed(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.deleted + self.absent
    }
}

/// SES `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    #[serde(rename = "CREATED")]
    Created,
    #[serde(rename = "PROCESSING")]
    Processing,
    #[serde(rename = "COMPLETED")]
    Completed,
    #[serde(rename = "FAILED")]
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Created => "CREATED",
            JobStatus::Processing => "PROCESSING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CREATED" => JobStatus::Created,
            "PROCESSING" => JobStatus::Processing,
            "COMPLETED" => JobStatus::Completed,
            "FAILED" => JobStatus::Failed,
            _ => return None,
        })
    }
}

/// An import job and its committed progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    pub job_id: String,
    pub destination: ImportDestination,
    /// The contact list; empty for the suppression list.
    pub list_name: String,
    pub action: ImportAction,
    pub format: String,
    /// Where the data came from (a file path or URL), and its size when started: a
    /// job is resumed only for the same source of the same size.
    pub source: String,
    pub source_size: i64,
    pub override_opt_outs: bool,
    pub status: JobStatus,
    /// The last line of the file whose batch has committed.
    pub lines_done: i64,
    pub counts: ImportCounts,
    pub failed: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    /// `host:pid` of the process that last claimed the job.
    pub claimed_by: Option<String>,
}

/// Progress to record with a batch, in its transaction.
#[derive(Debug, Clone, Copy)]
pub struct BatchProgress<'a> {
    pub job_id: &'a str,
    /// The job's `lines_done` this batch follows: the last line of the batch before it
    /// (or the line a resumed job continues after). The batch commits only on top of
    /// exactly that, so batches applied side by side commit in file order, and one
    /// whose predecessor failed rolls back: `lines_done` stays an exact resume point.
    pub after_line: u64,
    /// The last line this batch covers (valid or not).
    pub lines_done: u64,
    /// Invalid rows among the lines this batch covers.
    pub failed: u64,
    /// The batch before it, when that one is being applied beside it: this batch waits
    /// for that one's outcome before it records its progress and commits.
    pub after_batch: Option<&'a Predecessor>,
}

/// The outcome of a batch's transaction, for the batch applied beside it
/// ([`BatchProgress::after_batch`]).
#[derive(Debug)]
pub struct Predecessor(tokio::sync::watch::Sender<Option<bool>>);

impl Default for Predecessor {
    fn default() -> Self {
        Self(tokio::sync::watch::Sender::new(None))
    }
}

impl Predecessor {
    /// The batch has committed (`true`) or rolled back (`false`).
    pub fn settle(&self, committed: bool) {
        self.0.send_replace(Some(committed));
    }

    /// Waits for [`Predecessor::settle`]; a batch dropped unsettled counts as rolled back.
    pub async fn committed(&self) -> bool {
        let mut rx = self.0.subscribe();
        matches!(
            rx.wait_for(Option::is_some).await.map(|v| *v),
            Ok(Some(true))
        )
    }
}

/// Import storage; a part of `Store`.
#[async_trait::async_trait]
pub trait ImportStore {
    async fn create_import_job(&self, job: &ImportJob) -> StoreResult<()>;
    async fn get_import_job(&self, job_id: &str) -> StoreResult<ImportJob>;
    /// Jobs (of one destination, or all) newest first, with their row ids for keyset
    /// paging (`before` an id).
    async fn list_import_jobs(
        &self,
        destination: Option<ImportDestination>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, ImportJob)>>;
    /// The newest unfinished job for the same list, action, source and size.
    async fn resumable_import(
        &self,
        list_name: &str,
        action: ImportAction,
        source: &str,
        source_size: i64,
    ) -> StoreResult<Option<ImportJob>>;
    /// Applies one batch in one transaction, with the job's progress when given.
    async fn import_batch(
        &self,
        list: &ContactList,
        action: ImportAction,
        rows: &[ImportRow],
        override_opt_outs: bool,
        audit: &Audit,
        progress: Option<BatchProgress<'_>>,
    ) -> StoreResult<ImportCounts>;
    /// Marks a job PROCESSING for `me` (`host:pid`); false when it is finished, or
    /// another process has committed a batch of it since `stale_before` (ms) and is not
    /// `dead_owner` (a claimant known to have died).
    async fn claim_import_job(
        &self,
        job_id: &str,
        me: &str,
        stale_before: i64,
        dead_owner: Option<&str>,
    ) -> StoreResult<bool>;
    /// Marks a job finished and writes its `import` event, in one transaction.
    async fn finish_import_job(
        &self,
        job_id: &str,
        status: JobStatus,
        error: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<ImportJob>;
}

/// A contact row for the bulk insert of an import batch.
struct NewContactRow<'a> {
    email: &'a str,
    key: String,
    hash: &'a [u8],
    unsubscribe_all: bool,
    attributes: String,
}

/// An existing contact of a batch, as the bulk look-up reads it.
#[derive(sqlx::FromRow)]
struct ExistingRow {
    id: i64,
    email: String,
    email_key: String,
    unsubscribe_all: bool,
    attributes: String,
}

/// The statements of an import batch that differ per backend (`sqlite.rs`: chunks of
/// positional parameters; `postgres.rs`: one statement over arrays), on the batch's
/// connection.
trait Bulk {
    /// The list's contacts with these matching keys.
    async fn contacts_by_key(
        &mut self,
        list_id: i64,
        keys: &[String],
    ) -> StoreResult<Vec<ExistingRow>>;
    /// The explicit preferences of these contacts: (contact, topic, opt_in).
    async fn prefs_of(&mut self, ids: &[i64]) -> StoreResult<Vec<(i64, i64, bool)>>;
    /// The tombstones kept under these keys (`ContactKeyer::tombstone`):
    /// (key, unsubscribe_all, topics).
    async fn tombstones(
        &mut self,
        list_name: &str,
        hashes: &[&[u8]],
    ) -> StoreResult<Vec<(Vec<u8>, bool, String)>>;
    /// Inserts new contacts; their ids by matching key.
    async fn insert_contacts(
        &mut self,
        list_id: i64,
        rows: &[NewContactRow<'_>],
        now: i64,
    ) -> StoreResult<HashMap<String, i64>>;
    /// Inserts (or with `upsert`, upserts) explicit preferences.
    async fn put_prefs(&mut self, rows: &[(i64, i64, bool)], upsert: bool) -> StoreResult<()>;
}

/// An import job row.
#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    job_id: String,
    destination: String,
    list_name: String,
    action: String,
    format: String,
    source: String,
    source_size: i64,
    override_opt_outs: bool,
    status: String,
    lines_done: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    deleted: i64,
    absent: i64,
    opt_outs_kept: i64,
    opt_outs_overridden: i64,
    failed: i64,
    error: Option<String>,
    created_at: i64,
    completed_at: Option<i64>,
    claimed_by: Option<String>,
}

impl TryFrom<JobRow> for ImportJob {
    type Error = StoreError;

    fn try_from(r: JobRow) -> StoreResult<Self> {
        Ok(ImportJob {
            action: ImportAction::parse(&r.action)
                .ok_or_else(|| StoreError::unreadable(format!("import action {:?}", r.action)))?,
            status: JobStatus::parse(&r.status)
                .ok_or_else(|| StoreError::unreadable(format!("import status {:?}", r.status)))?,
            destination: ImportDestination::parse(&r.destination).ok_or_else(|| {
                StoreError::unreadable(format!("import destination {:?}", r.destination))
            })?,
            job_id: r.job_id,
            list_name: r.list_name,
            format: r.format,
            source: r.source,
            source_size: r.source_size,
            override_opt_outs: r.override_opt_outs,
            lines_done: r.lines_done,
            counts: ImportCounts {
                created: r.created as u64,
                updated: r.updated as u64,
                unchanged: r.unchanged as u64,
                deleted: r.deleted as u64,
                absent: r.absent as u64,
                opt_outs_kept: r.opt_outs_kept as u64,
                opt_outs_overridden: r.opt_outs_overridden as u64,
            },
            failed: r.failed,
            error: r.error,
            created_at: r.created_at,
            completed_at: r.completed_at,
            claimed_by: r.claimed_by,
        })
    }
}

/// A job by id.
async fn job(c: Conn<'_>, job_id: &str) -> StoreResult<ImportJob> {
    let row: Option<JobRow> = on_db!(c, |c| {
        sqlx::query_as("SELECT * FROM import_jobs WHERE job_id = $1")
            .bind(job_id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)?.try_into()
}

#[async_trait::async_trait]
impl ImportStore for SqlStore {
    async fn create_import_job(&self, job: &ImportJob) -> StoreResult<()> {
        on_db!(self.pools.write(), |p| {
            sqlx::query(
                "INSERT INTO import_jobs (job_id, list_name, action, format, source, \
                 source_size, override_opt_outs, status, created_at, destination) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&job.job_id)
            .bind(&job.list_name)
            .bind(job.action.as_str())
            .bind(&job.format)
            .bind(&job.source)
            .bind(job.source_size)
            .bind(job.override_opt_outs)
            .bind(job.status.as_str())
            .bind(job.created_at)
            .bind(job.destination.as_str())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    async fn get_import_job(&self, job_id: &str) -> StoreResult<ImportJob> {
        let mut c = self.pools.write().acquire().await?;
        job(c.conn(), job_id).await
    }

    async fn list_import_jobs(
        &self,
        destination: Option<ImportDestination>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, ImportJob)>> {
        let rows: Vec<JobRow> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT * FROM import_jobs WHERE (CAST($1 AS TEXT) IS NULL OR destination = $1) \
                 AND id < $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(destination.map(|d| d.as_str()))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit as i64)
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|r| Ok((r.id, r.try_into()?)))
            .collect()
    }

    async fn resumable_import(
        &self,
        list_name: &str,
        action: ImportAction,
        source: &str,
        source_size: i64,
    ) -> StoreResult<Option<ImportJob>> {
        let row: Option<JobRow> = on_db!(self.pools.write(), |p| {
            sqlx::query_as(
                "SELECT * FROM import_jobs WHERE list_name = $1 AND action = $2 \
                 AND source = $3 AND source_size = $4 \
                 AND status IN ('CREATED', 'PROCESSING') ORDER BY id DESC LIMIT 1",
            )
            .bind(list_name)
            .bind(action.as_str())
            .bind(source)
            .bind(source_size)
            .fetch_optional(p)
            .await?
        });
        row.map(ImportJob::try_from).transpose()
    }

    async fn import_batch(
        &self,
        list: &ContactList,
        action: ImportAction,
        rows: &[ImportRow],
        override_opt_outs: bool,
        audit: &Audit,
        progress: Option<BatchProgress<'_>>,
    ) -> StoreResult<ImportCounts> {
        // An import decides against opt-outs (tombstones, UnsubscribeAll): every
        // acknowledged one is applied first.
        let db = self.settled(Sees::All).await?;
        let batch = Batch {
            list,
            action,
            rows,
            override_opt_outs,
            audit,
            progress,
            keyer: db.keyer(),
        };
        match batch.apply(db, true).await {
            Err(StoreError::Conflict) => batch.apply(db, false).await,
            done => done,
        }
    }

    async fn claim_import_job(
        &self,
        job_id: &str,
        me: &str,
        stale_before: i64,
        dead_owner: Option<&str>,
    ) -> StoreResult<bool> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query(
                "UPDATE import_jobs SET status = 'PROCESSING', heartbeat_at = $1, \
                 claimed_by = $2 WHERE job_id = $3 AND status IN ('CREATED', 'PROCESSING') \
                 AND (heartbeat_at IS NULL OR heartbeat_at < $4 OR claimed_by = $5)",
            )
            .bind(now_ms())
            .bind(me)
            .bind(job_id)
            .bind(stale_before)
            .bind(dead_owner)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    async fn finish_import_job(
        &self,
        job_id: &str,
        status: JobStatus,
        error: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<ImportJob> {
        let mut tx = self.pools.write().begin().await?;
        on_db!(tx.conn(), |c| {
            sqlx::query(
                "UPDATE import_jobs SET status = $1, error = $2, completed_at = $3 \
                 WHERE job_id = $4",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(now_ms())
            .bind(job_id)
            .execute(c)
            .await?;
        });
        let job = job(tx.conn(), job_id).await?;
        events::write(
            tx.conn(),
            self.pools.keyer(),
            NewEvent::new(
                "import",
                audit,
                serde_json::json!({
                    "jobId": job.job_id,
                    "destination": job.destination.as_str(),
                    "status": job.status.as_str(),
                    "action": job.action.as_str(),
                    "source": job.source,
                    "counts": job.counts,
                    "failed": job.failed,
                    "overrideOptOuts": job.override_opt_outs,
                    "error": job.error,
                }),
            )
            .list((!job.list_name.is_empty()).then_some(job.list_name.as_str())),
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }
}

/// An existing contact of a batch with its explicit preferences (topic id, opt_in).
struct Old {
    id: i64,
    email: String,
    unsub: bool,
    attrs: String,
    prefs: Vec<(i64, bool)>,
}

/// One batch of an import and what it is applied with.
#[derive(Clone, Copy)]
struct Batch<'a> {
    list: &'a ContactList,
    action: ImportAction,
    rows: &'a [ImportRow],
    override_opt_outs: bool,
    audit: &'a Audit,
    progress: Option<BatchProgress<'a>>,
    keyer: &'a ContactKeyer,
}

/// Inserts and deletes of a batch are chunked to this many rows per statement.
const CHUNK: usize = 500;

impl Batch<'_> {
    /// The batch in one transaction. Most batches of a first import hold only new
    /// addresses: with `may_assume_new`, when a sample of the batch's addresses finds
    /// none on the list, the batch is applied as all new, without looking up the rest.
    /// The unique index on the address refuses any that exists after all: then this fails
    /// with `Conflict`, the batch is rolled back, and the caller
    /// (`ImportStore::import_batch`) applies it again without the assumption. Either way
    /// the result is the same.
    async fn apply(&self, pools: &Pools, may_assume_new: bool) -> StoreResult<ImportCounts> {
        let mut conn: PoolConn = match &pools.0 {
            Db::Sqlite(p) => Db::Sqlite(sqlite::begin(p, self.list.id).await?),
            Db::Postgres(p) => Db::Postgres(p.acquire().await?),
        };
        let mut c = conn.conn();
        let mut tx = c.begin().await?;
        let counts = self.apply_in(tx.conn(), may_assume_new).await?;
        tx.commit().await?;
        if let (Db::Sqlite(p), Db::Sqlite(c)) = (&pools.0, &mut conn) {
            sqlite::end(p, c).await;
        }
        Ok(counts)
    }

    async fn apply_in(&self, mut c: Conn<'_>, may_assume_new: bool) -> StoreResult<ImportCounts> {
        let (list, rows) = (self.list, self.rows);
        let topic_ids = topic_ids(c.re(), list.id).await?;
        let topic_names: HashMap<i64, &str> =
            topic_ids.iter().map(|(n, id)| (*id, n.as_str())).collect();

        // Existing contacts of the batch and their explicit preferences.
        let keys: Vec<String> = rows.iter().map(|r| r.email.key()).collect();
        // A sample spread over the batch first (see above).
        const SAMPLE: usize = 500;
        let step = (keys.len() / SAMPLE).max(1);
        let sample: Vec<String> = keys.iter().step_by(step).cloned().collect();
        let mut found = on_db!(c.re(), |c| c.contacts_by_key(list.id, &sample).await?);
        let assume_new = may_assume_new && self.action == ImportAction::Put && found.is_empty();
        if !assume_new {
            let rest: Vec<String> = keys
                .iter()
                .enumerate()
                .filter(|(k, _)| k % step != 0)
                .map(|(_, key)| key.clone())
                .collect();
            found.extend(on_db!(c.re(), |c| c
                .contacts_by_key(list.id, &rest)
                .await?));
        }
        let mut existing: HashMap<String, Old> = HashMap::new();
        for r in found {
            let old = Old {
                id: r.id,
                email: r.email,
                unsub: r.unsubscribe_all,
                attrs: r.attributes,
                prefs: Vec::new(),
            };
            existing.insert(r.email_key, old);
        }
        if !existing.is_empty() {
            let by_id: HashMap<i64, String> =
                existing.iter().map(|(k, o)| (o.id, k.clone())).collect();
            let ids: Vec<i64> = by_id.keys().copied().collect();
            for (cid, tid, opt_in) in on_db!(c.re(), |c| c.prefs_of(&ids).await?) {
                if let Some(o) = by_id.get(&cid).and_then(|k| existing.get_mut(k)) {
                    o.prefs.push((tid, opt_in));
                }
            }
        }
        let names = TopicNames(&topic_names);
        if self.action == ImportAction::Delete {
            self.delete(c, &existing, &names).await
        } else {
            self.put(c, &existing, &topic_ids, &names).await
        }
    }

    /// A DELETE batch: contacts removed, their opt-outs kept as tombstones.
    async fn delete(
        &self,
        mut c: Conn<'_>,
        existing: &HashMap<String, Old>,
        names: &TopicNames<'_>,
    ) -> StoreResult<ImportCounts> {
        let mut counts = ImportCounts::default();
        let mut doomed: Vec<i64> = Vec::new();
        let mut kept: Vec<(Vec<u8>, Tombstone)> = Vec::new();
        for row in self.rows {
            let Some(old) = existing.get(&row.email.key()) else {
                counts.absent += 1;
                continue;
            };
            let tomb = Tombstone {
                unsubscribe_all: old.unsub,
                opted_out_topics: {
                    let mut t: Vec<TopicName> = old
                        .prefs
                        .iter()
                        .filter(|(_, opt_in)| !opt_in)
                        .filter_map(|(tid, _)| TopicName::parse(names.0.get(tid)?).ok())
                        .collect();
                    t.sort();
                    t
                },
            };
            if !tomb.is_empty() {
                kept.push((email_hash(&row.email), tomb));
            }
            doomed.push(old.id);
            counts.deleted += 1;
        }
        opt_outs::merge(c.re(), self.keyer, self.list.name.as_str(), &kept).await?;
        for chunk in doomed.chunks(CHUNK) {
            for table in ["contact_topic_prefs WHERE contact_id", "contacts WHERE id"] {
                let sql = c.fast(format!(
                    "DELETE FROM {table} IN ({})",
                    placeholders(1, chunk.len())
                ));
                on_db!(c.re(), |c| {
                    let mut q = sqlx::query(&sql);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(c).await?;
                });
            }
        }
        self.record_progress(c, counts).await
    }

    /// A PUT batch: new contacts inserted (their tombstones re-applied), existing ones
    /// merged, keeping recorded opt-outs unless overridden.
    async fn put(
        &self,
        mut c: Conn<'_>,
        existing: &HashMap<String, Old>,
        topic_ids: &HashMap<String, i64>,
        names: &TopicNames<'_>,
    ) -> StoreResult<ImportCounts> {
        let (list, rows, audit) = (self.list, self.rows, self.audit);
        let override_opt_outs = self.override_opt_outs;
        let mut counts = ImportCounts::default();
        // Tombstones of the addresses that are not contacts yet.
        let fresh: Vec<(&ImportRow, Vec<u8>)> = rows
            .iter()
            .filter(|r| !existing.contains_key(&r.email.key()))
            .map(|r| (r, email_hash(&r.email)))
            .collect();
        let mut tombs: HashMap<Vec<u8>, Tombstone> = HashMap::new();
        // Most lists have no tombstones at all: one probe then saves one index look-up
        // per new address.
        let any_tomb: bool = on_db!(c.re(), |c| {
            sqlx::query("SELECT 1 FROM tombstones WHERE list_name = $1 LIMIT 1")
                .bind(list.name.as_str())
                .fetch_optional(c)
                .await?
                .is_some()
        });
        // Tombstones are kept under the keyed hash of the address hash.
        let hashes: Vec<&[u8]> = if any_tomb {
            fresh.iter().map(|(_, h)| h.as_slice()).collect()
        } else {
            Vec::new()
        };
        let keys = self.keyer.tombstones(hashes.iter().copied())?;
        let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let found = on_db!(c.re(), |c| {
            c.tombstones(list.name.as_str(), &key_refs).await?
        });
        let hash_of: HashMap<&[u8], &[u8]> = key_refs
            .iter()
            .copied()
            .zip(hashes.iter().copied())
            .collect();
        // The key of each tombstone found, by address hash.
        let mut tomb_keys: HashMap<Vec<u8>, Vec<u8>> = HashMap::with_capacity(found.len());
        for (key, unsub, topics) in found {
            let Some(hash) = hash_of.get(key.as_slice()) else {
                continue;
            };
            tombs.insert(hash.to_vec(), tombstone_from(unsub, &topics)?);
            tomb_keys.insert(hash.to_vec(), key);
        }
        let tid = |t: &TopicName| {
            topic_ids
                .get(t.as_str())
                .copied()
                .ok_or(StoreError::NotFound)
        };
        let now = now_ms();

        // New contacts: one multi-row insert per chunk, then their preferences.
        struct Fresh<'r> {
            row: &'r ImportRow,
            hash: Vec<u8>,
            unsub: bool,
            prefs: Vec<(i64, bool)>,
        }
        let mut inserts: Vec<Fresh<'_>> = Vec::with_capacity(fresh.len());
        for (row, hash) in fresh {
            let mut unsub = row.unsubscribe_all.unwrap_or(false);
            let mut prefs: Vec<(i64, bool)> = Vec::with_capacity(row.preferences.len());
            for (t, s) in &row.preferences {
                // One row per topic (the last one wins), so the plain insert below never
                // meets itself.
                let id = tid(t)?;
                prefs.retain(|(p, _)| *p != id);
                prefs.push((id, *s == SubscriptionStatus::OptIn));
            }
            if let Some(tomb) = tombs.get(&hash) {
                // The tombstone's opt-outs stand wherever the row is silent; where the row
                // contradicts one, only an override wins.
                let mut undoes = false;
                if tomb.unsubscribe_all {
                    if row.unsubscribe_all == Some(false) {
                        undoes = true;
                        unsub |= !override_opt_outs;
                    } else {
                        unsub = true;
                    }
                }
                for t in &tomb.opted_out_topics {
                    let Some(id) = topic_ids.get(t.as_str()).copied() else {
                        continue;
                    };
                    let asks_in = prefs.iter().any(|(p, opt_in)| *p == id && *opt_in);
                    undoes |= asks_in;
                    if !asks_in || !override_opt_outs {
                        prefs.retain(|(p, _)| *p != id);
                        prefs.push((id, false));
                    }
                }
                if undoes && override_opt_outs {
                    counts.opt_outs_overridden += 1;
                    events::write(
                        c.re(),
                        self.keyer,
                        NewEvent::new(
                            "subscription",
                            audit,
                            serde_json::json!({
                                "overrideOptOuts": true, "tombstone": tomb, "line": row.line
                            }),
                        )
                        .list(list.name.as_str())
                        .contact(row.email.as_str())
                        .prefs(None, Some(&names.prefs(unsub, &prefs))),
                    )
                    .await?;
                } else if undoes {
                    counts.opt_outs_kept += 1;
                }
            }
            inserts.push(Fresh {
                row,
                hash,
                unsub,
                prefs,
            });
        }
        // New contacts' preferences cannot conflict: a plain insert, without the upsert's
        // extra index probe per row.
        let mut new_prefs: Vec<(i64, i64, bool)> = Vec::new();
        let mut pref_rows: Vec<(i64, i64, bool)> = Vec::new();
        let new_rows: Vec<NewContactRow<'_>> = inserts
            .iter()
            .map(|f| NewContactRow {
                email: f.row.email.as_str(),
                key: f.row.email.key(),
                hash: &f.hash,
                unsubscribe_all: f.unsub,
                attributes: f.row.attributes.clone().unwrap_or_default(),
            })
            .collect();
        let ids = on_db!(c.re(), |c| {
            c.insert_contacts(list.id, &new_rows, now).await?
        });
        for (f, n) in inserts.iter().zip(&new_rows) {
            let id = *ids
                .get(&n.key)
                .ok_or_else(|| StoreError::unreadable("the id of an inserted contact"))?;
            new_prefs.extend(f.prefs.iter().map(|(t, o)| (id, *t, *o)));
        }
        counts.created += inserts.len() as u64;
        // What the new contacts now hold leaves their tombstones; opt-outs of topics the
        // list does not have stay for a topic of that name.
        let tomb_hashes: Vec<&Vec<u8>> = inserts
            .iter()
            .filter(|f| tombs.contains_key(&f.hash))
            .map(|f| &f.hash)
            .collect();
        for chunk in tomb_hashes.chunks(CHUNK) {
            let sql = c.fast(format!(
                "DELETE FROM tombstones WHERE list_name = $1 AND email_hash IN ({})",
                placeholders(2, chunk.len())
            ));
            on_db!(c.re(), |c| {
                let mut q = sqlx::query(&sql).bind(list.name.as_str());
                for h in chunk {
                    q = q.bind(tomb_keys[*h].as_slice());
                }
                q.execute(c).await?;
            });
        }
        let beyond: Vec<(Vec<u8>, Tombstone)> = tomb_hashes
            .iter()
            .map(|h| ((*h).clone(), tombs[*h].beyond(list)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        opt_outs::merge(c.re(), self.keyer, list.name.as_str(), &beyond).await?;

        // Existing contacts: merge, keeping recorded opt-outs unless overridden.
        for row in rows {
            let Some(old) = existing.get(&row.email.key()) else {
                continue;
            };
            let mut kept = false;
            let mut overridden = false;
            let unsub = match row.unsubscribe_all {
                Some(true) => true,
                Some(false) if old.unsub => {
                    if override_opt_outs {
                        overridden = true;
                        false
                    } else {
                        kept = true;
                        true
                    }
                }
                Some(false) => false,
                None => old.unsub,
            };
            let mut prefs = old.prefs.clone();
            let mut changed_prefs: Vec<(i64, bool)> = Vec::new();
            for (t, s) in &row.preferences {
                let id = tid(t)?;
                let want = *s == SubscriptionStatus::OptIn;
                let cur = prefs.iter().find(|(p, _)| *p == id).map(|(_, o)| *o);
                if cur == Some(want) {
                    continue;
                }
                if want && cur == Some(false) {
                    if override_opt_outs {
                        overridden = true
                    } else {
                        kept = true;
                        continue;
                    }
                }
                prefs.retain(|(p, _)| *p != id);
                prefs.push((id, want));
                changed_prefs.push((id, want));
            }
            let attrs = row.attributes.clone().unwrap_or_else(|| old.attrs.clone());
            if kept {
                counts.opt_outs_kept += 1;
            }
            let prefs_changed = unsub != old.unsub || !changed_prefs.is_empty();
            if !prefs_changed && attrs == old.attrs {
                counts.unchanged += 1;
                continue;
            }
            counts.updated += 1;
            on_db!(c.re(), |c| {
                sqlx::query(
                    "UPDATE contacts SET unsubscribe_all = $1, attributes = $2, \
                     updated_at = $3 WHERE id = $4",
                )
                .bind(unsub)
                .bind(&attrs)
                .bind(now)
                .bind(old.id)
                .execute(c)
                .await?;
            });
            pref_rows.extend(changed_prefs.iter().map(|(t, o)| (old.id, *t, *o)));
            if prefs_changed {
                if overridden {
                    counts.opt_outs_overridden += 1;
                }
                let topic = (changed_prefs.len() == 1 && unsub == old.unsub)
                    .then(|| names.0.get(&changed_prefs[0].0).copied())
                    .flatten();
                events::write(
                    c.re(),
                    self.keyer,
                    NewEvent::new(
                        "subscription",
                        audit,
                        serde_json::json!({
                            "overrideOptOuts": overridden, "line": row.line
                        }),
                    )
                    .list(list.name.as_str())
                    .topic(topic)
                    .contact(old.email.as_str())
                    .prefs(
                        Some(&names.prefs(old.unsub, &old.prefs)),
                        Some(&names.prefs(unsub, &prefs)),
                    ),
                )
                .await?;
            }
        }
        on_db!(c.re(), |c| c.put_prefs(&new_prefs, false).await?);
        on_db!(c.re(), |c| c.put_prefs(&pref_rows, true).await?);
        self.record_progress(c, counts).await
    }

    /// The job's progress, in the batch's transaction: only on top of the batch before
    /// it (see [`BatchProgress::after_line`]).
    async fn record_progress(
        &self,
        c: Conn<'_>,
        counts: ImportCounts,
    ) -> StoreResult<ImportCounts> {
        let Some(p) = self.progress else {
            return Ok(counts);
        };
        if let Some(before) = p.after_batch
            && !before.committed().await
        {
            return Err(StoreError::ImportBatchBefore {
                job_id: p.job_id.to_owned(),
                line: p.after_line + 1,
            });
        }
        save_progress(c, &p, &counts).await?;
        Ok(counts)
    }
}

/// Records a committed batch's progress on its job, in the batch's transaction; fails
/// when the job is not where the batch follows on (another process moved it, or the
/// batch before failed).
pub(super) async fn save_progress(
    c: Conn<'_>,
    p: &BatchProgress<'_>,
    counts: &ImportCounts,
) -> StoreResult<()> {
    let moved: u64 = on_db!(c, |c| {
        sqlx::query(
            "UPDATE import_jobs SET status = 'PROCESSING', heartbeat_at = $11, \
             lines_done = $1, failed = failed + $2, created = created + $3, \
             updated = updated + $4, unchanged = unchanged + $5, deleted = deleted + $6, \
             absent = absent + $7, opt_outs_kept = opt_outs_kept + $8, \
             opt_outs_overridden = opt_outs_overridden + $9 \
             WHERE job_id = $10 AND lines_done = $12",
        )
        .bind(p.lines_done as i64)
        .bind(p.failed as i64)
        .bind(counts.created as i64)
        .bind(counts.updated as i64)
        .bind(counts.unchanged as i64)
        .bind(counts.deleted as i64)
        .bind(counts.absent as i64)
        .bind(counts.opt_outs_kept as i64)
        .bind(counts.opt_outs_overridden as i64)
        .bind(p.job_id)
        .bind(now_ms())
        .bind(p.after_line as i64)
        .execute(c)
        .await?
        .rows_affected()
    });
    if moved != 1 {
        return Err(StoreError::ImportJobElsewhere {
            job_id: p.job_id.to_owned(),
            after_line: p.after_line,
        });
    }
    Ok(())
}

/// A list's topic names by id.
struct TopicNames<'a>(&'a HashMap<i64, &'a str>);

impl TopicNames<'_> {
    /// Preferences as the event log records them, from (topic id, opt_in) pairs.
    fn prefs(&self, unsub: bool, prefs: &[(i64, bool)]) -> Preferences {
        let mut topics: Vec<TopicPreference> = prefs
            .iter()
            .filter_map(|(tid, opt_in)| {
                let name = TopicName::parse(self.0.get(tid)?).ok()?;
                Some(TopicPreference {
                    topic: name,
                    status: status(*opt_in),
                })
            })
            .collect();
        topics.sort_by(|a, b| a.topic.as_str().cmp(b.topic.as_str()));
        Preferences {
            unsubscribe_all: unsub,
            topics,
        }
    }
}
