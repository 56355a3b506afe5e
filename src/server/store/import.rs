//! Bulk import: batches of rows applied in one transaction each, with the job's progress
//! recorded in the same transaction, so a crash leaves every batch either applied and
//! counted or not applied at all, and a re-run resumes after the last committed batch.
//!
//! The rule that matters most: an import never turns a recorded opt-out (an explicit
//! OPT_OUT, UnsubscribeAll, or a tombstone of a deleted contact) into a subscription
//! unless the caller sets `override_opt_outs`, and every such override is logged.

use crate::domain::{EmailAddress, SubscriptionStatus, TopicName};
use serde::{Deserialize, Serialize};

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

/// A contact row for the bulk insert of an import batch.
pub(super) struct NewContactRow<'a> {
    pub email: &'a str,
    pub key: String,
    pub hash: &'a [u8],
    pub unsubscribe_all: bool,
    pub attributes: String,
}

/// Store methods for imports, instantiated per backend next to `impl_store!`.
macro_rules! impl_import {
    ($store:ty, $conn:ty) => {
        impl $store {
            fn job_from(r: &<<$conn as sqlx::Connection>::Database as sqlx::Database>::Row) -> StoreResult<ImportJob> {
                let bad = |what: &str| shared::corrupt(what);
                Ok(ImportJob {
                    job_id: r.try_get("job_id")?,
                    list_name: r.try_get("list_name")?,
                    action: ImportAction::parse(&r.try_get::<String, _>("action")?).ok_or_else(|| bad("import action"))?,
                    format: r.try_get("format")?,
                    source: r.try_get("source")?,
                    source_size: r.try_get("source_size")?,
                    override_opt_outs: r.try_get("override_opt_outs")?,
                    status: JobStatus::parse(&r.try_get::<String, _>("status")?).ok_or_else(|| bad("import status"))?,
                    lines_done: r.try_get("lines_done")?,
                    counts: ImportCounts {
                        created: r.try_get::<i64, _>("created")? as u64,
                        updated: r.try_get::<i64, _>("updated")? as u64,
                        unchanged: r.try_get::<i64, _>("unchanged")? as u64,
                        deleted: r.try_get::<i64, _>("deleted")? as u64,
                        absent: r.try_get::<i64, _>("absent")? as u64,
                        opt_outs_kept: r.try_get::<i64, _>("opt_outs_kept")? as u64,
                        opt_outs_overridden: r.try_get::<i64, _>("opt_outs_overridden")? as u64,
                    },
                    failed: r.try_get("failed")?,
                    error: r.try_get("error")?,
                    created_at: r.try_get("created_at")?,
                    completed_at: r.try_get("completed_at")?,
                    claimed_by: r.try_get("claimed_by")?,
                })
            }

            async fn create_import_job_impl(&self, job: &ImportJob) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO import_jobs (job_id, list_name, action, format, source, source_size, override_opt_outs, status, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn get_import_job_impl(&self, job_id: &str) -> StoreResult<ImportJob> {
                let r = sqlx::query("SELECT * FROM import_jobs WHERE job_id = $1")
                    .bind(job_id)
                    .fetch_optional(&self.write)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Self::job_from(&r)
            }

            async fn list_import_jobs_impl(&self, before: Option<i64>, limit: u32) -> StoreResult<Vec<(i64, ImportJob)>> {
                let rows = sqlx::query("SELECT * FROM import_jobs WHERE id < $1 ORDER BY id DESC LIMIT $2")
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit as i64)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get::<i64, _>("id")?, Self::job_from(r)?))).collect()
            }

            async fn resumable_import_impl(&self, list_name: &str, action: ImportAction, source: &str, source_size: i64) -> StoreResult<Option<ImportJob>> {
                let r = sqlx::query(
                    "SELECT * FROM import_jobs WHERE list_name = $1 AND action = $2 AND source = $3 AND source_size = $4 \
                     AND status IN ('CREATED', 'PROCESSING') ORDER BY id DESC LIMIT 1",
                )
                .bind(list_name)
                .bind(action.as_str())
                .bind(source)
                .bind(source_size)
                .fetch_optional(&self.write)
                .await?;
                r.as_ref().map(Self::job_from).transpose()
            }

            async fn claim_import_job_impl(&self, job_id: &str, me: &str, stale_before: i64, dead_owner: Option<&str>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE import_jobs SET status = 'PROCESSING', heartbeat_at = $1, claimed_by = $2 WHERE job_id = $3 \
                     AND status IN ('CREATED', 'PROCESSING') \
                     AND (heartbeat_at IS NULL OR heartbeat_at < $4 OR claimed_by = $5)",
                )
                .bind(now_ms())
                .bind(me)
                .bind(job_id)
                .bind(stale_before)
                .bind(dead_owner)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_import_job_impl(&self, job_id: &str, status: JobStatus, error: Option<&str>, audit: &Audit) -> StoreResult<ImportJob> {
                let mut tx = self.write.begin().await?;
                sqlx::query("UPDATE import_jobs SET status = $1, error = $2, completed_at = $3 WHERE job_id = $4")
                    .bind(status.as_str())
                    .bind(error)
                    .bind(now_ms())
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
                let r = sqlx::query("SELECT * FROM import_jobs WHERE job_id = $1")
                    .bind(job_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let job = Self::job_from(&r)?;
                Self::q_event(&mut tx, shared::NewEvent {
                    kind: "import",
                    audit: Some(audit),
                    list_name: Some(job.list_name.as_str()),
                    topic_name: None,
                    contact_email: None,
                    old: None,
                    new: None,
                    detail: serde_json::json!({
                        "jobId": job.job_id,
                        "status": job.status.as_str(),
                        "action": job.action.as_str(),
                        "source": job.source,
                        "counts": job.counts,
                        "failed": job.failed,
                        "overrideOptOuts": job.override_opt_outs,
                        "error": job.error,
                    }),
                })
                .await?;
                tx.commit().await?;
                Ok(job)
            }

            /// One batch in one transaction. Most batches of a first import hold only new
            /// addresses: with `may_assume_new`, when a sample of the batch's addresses
            /// finds none on the list, the batch is applied as all new, without looking up
            /// the rest. The unique index on the address refuses any that exists after
            /// all: then this fails with `Conflict`, the batch is rolled back, and the
            /// caller (`Store::import_batch`) applies it again without the assumption.
            /// Either way the result is the same.
            #[allow(clippy::too_many_arguments)]
            async fn import_batch_impl(
                &self,
                list: &ContactList,
                action: ImportAction,
                rows: &[ImportRow],
                override_opt_outs: bool,
                audit: &Audit,
                progress: Option<BatchProgress<'_>>,
                may_assume_new: bool,
            ) -> StoreResult<ImportCounts> {
                use std::collections::HashMap;
                const CHUNK: usize = 500;
                let mut counts = ImportCounts::default();
                let mut conn = self.bulk_begin(list.id).await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                let sqlite = self.backend() == crate::server::store::Backend::Sqlite;
                let fast = |sql: String| if sqlite { shared::positional(&sql) } else { sql };
                let topic_ids = Self::q_topic_ids(&mut tx, list.id).await?;
                let topic_names: HashMap<i64, &str> = topic_ids.iter().map(|(n, id)| (*id, n.as_str())).collect();

                // Existing contacts of the batch and their explicit preferences.
                struct Old { id: i64, email: String, unsub: bool, attrs: String, prefs: Vec<(i64, bool)> }
                let mut existing: HashMap<String, Old> = HashMap::new();
                let keys: Vec<String> = rows.iter().map(|r| r.email.key()).collect();
                // A sample spread over the batch first (see above).
                const SAMPLE: usize = 500;
                let step = (keys.len() / SAMPLE).max(1);
                let sample: Vec<String> = keys.iter().step_by(step).cloned().collect();
                let mut found = Self::bulk_contacts_by_key(&mut tx, list.id, &sample).await?;
                let assume_new = may_assume_new && action == ImportAction::Put && found.is_empty();
                if !assume_new {
                    let rest: Vec<String> = keys
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| k % step != 0)
                        .map(|(_, key)| key.clone())
                        .collect();
                    found.extend(Self::bulk_contacts_by_key(&mut tx, list.id, &rest).await?);
                }
                for r in found {
                    existing.insert(r.try_get("email_key")?, Old {
                        id: r.try_get("id")?,
                        email: r.try_get("email")?,
                        unsub: r.try_get("unsubscribe_all")?,
                        attrs: r.try_get("attributes")?,
                        prefs: Vec::new(),
                    });
                }
                if !existing.is_empty() {
                    let by_id: HashMap<i64, String> = existing.iter().map(|(k, o)| (o.id, k.clone())).collect();
                    let ids: Vec<i64> = by_id.keys().copied().collect();
                    for r in Self::bulk_prefs_of(&mut tx, &ids).await? {
                        let cid: i64 = r.try_get("contact_id")?;
                        if let Some(o) = by_id.get(&cid).and_then(|k| existing.get_mut(k)) {
                            o.prefs.push((r.try_get("topic_id")?, r.try_get("opt_in")?));
                        }
                    }
                }
                let prefs_of = |unsub: bool, prefs: &[(i64, bool)]| -> crate::domain::Preferences {
                    let mut topics: Vec<TopicPreference> = prefs
                        .iter()
                        .filter_map(|(tid, opt_in)| {
                            let name = TopicName::parse(topic_names.get(tid)?).ok()?;
                            Some(TopicPreference { topic: name, status: shared::status(*opt_in) })
                        })
                        .collect();
                    topics.sort_by(|a, b| a.topic.as_str().cmp(b.topic.as_str()));
                    crate::domain::Preferences { unsubscribe_all: unsub, topics }
                };

                if action == ImportAction::Delete {
                    let mut doomed: Vec<i64> = Vec::new();
                    let mut kept: Vec<(Vec<u8>, Tombstone)> = Vec::new();
                    for row in rows {
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
                                    .filter_map(|(tid, _)| TopicName::parse(topic_names.get(tid)?).ok())
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
                    Self::q_merge_tombstones(&mut tx, list.name.as_str(), &kept).await?;
                    for chunk in doomed.chunks(CHUNK) {
                        for table in ["contact_topic_prefs WHERE contact_id", "contacts WHERE id"] {
                            let sql = fast(format!("DELETE FROM {table} IN ({})", shared::placeholders(1, chunk.len())));
                            let mut q = sqlx::query(&sql);
                            for id in chunk {
                                q = q.bind(*id);
                            }
                            q.execute(&mut *tx).await?;
                        }
                    }
                } else {
                    // Tombstones of the addresses that are not contacts yet.
                    let fresh: Vec<(&ImportRow, Vec<u8>)> = rows
                        .iter()
                        .filter(|r| !existing.contains_key(&r.email.key()))
                        .map(|r| (r, email_hash(&r.email)))
                        .collect();
                    let mut tombs: HashMap<Vec<u8>, Tombstone> = HashMap::new();
                    // Most lists have no tombstones at all: one probe then saves one
                    // index look-up per new address.
                    let any_tomb = sqlx::query("SELECT 1 FROM tombstones WHERE list_name = $1 LIMIT 1")
                        .bind(list.name.as_str())
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    let hashes: Vec<&[u8]> = if any_tomb { fresh.iter().map(|(_, h)| h.as_slice()).collect() } else { Vec::new() };
                    for r in Self::bulk_tombstones(&mut tx, list.name.as_str(), &hashes).await? {
                        tombs.insert(
                            r.try_get("email_hash")?,
                            shared::tombstone_from(r.try_get("unsubscribe_all")?, &r.try_get::<String, _>("topics")?)?,
                        );
                    }
                    let tid = |t: &TopicName| topic_ids.get(t.as_str()).copied().ok_or(StoreError::NotFound);
                    let now = now_ms();

                    // New contacts: one multi-row insert per chunk, then their preferences.
                    struct Fresh<'r> { row: &'r ImportRow, hash: Vec<u8>, unsub: bool, prefs: Vec<(i64, bool)> }
                    let mut inserts: Vec<Fresh<'_>> = Vec::with_capacity(fresh.len());
                    for (row, hash) in fresh {
                        let mut unsub = row.unsubscribe_all.unwrap_or(false);
                        let mut prefs: Vec<(i64, bool)> = Vec::with_capacity(row.preferences.len());
                        for (t, s) in &row.preferences {
                            // One row per topic (the last one wins), so the plain insert
                            // below never meets itself.
                            let id = tid(t)?;
                            prefs.retain(|(p, _)| *p != id);
                            prefs.push((id, *s == SubscriptionStatus::OptIn));
                        }
                        if let Some(tomb) = tombs.get(&hash) {
                            // The tombstone's opt-outs stand wherever the row is silent;
                            // where the row contradicts one, only an override wins.
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
                                let Some(id) = topic_ids.get(t.as_str()).copied() else { continue };
                                let asks_in = prefs.iter().any(|(p, opt_in)| *p == id && *opt_in);
                                undoes |= asks_in;
                                if !asks_in || !override_opt_outs {
                                    prefs.retain(|(p, _)| *p != id);
                                    prefs.push((id, false));
                                }
                            }
                            if undoes && override_opt_outs {
                                counts.opt_outs_overridden += 1;
                                Self::q_event(&mut tx, shared::NewEvent {
                                    kind: "subscription",
                                    audit: Some(audit),
                                    list_name: Some(list.name.as_str()),
                                    topic_name: None,
                                    contact_email: Some(row.email.as_str()),
                                    old: None,
                                    new: Some(&prefs_of(unsub, &prefs)),
                                    detail: serde_json::json!({ "overrideOptOuts": true, "tombstone": tomb, "line": row.line }),
                                })
                                .await?;
                            } else if undoes {
                                counts.opt_outs_kept += 1;
                            }
                        }
                        inserts.push(Fresh { row, hash, unsub, prefs });
                    }
                    // New contacts' preferences cannot conflict: a plain insert, without
                    // the upsert's extra index probe per row.
                    let mut new_prefs: Vec<(i64, i64, bool)> = Vec::new();
                    let mut pref_rows: Vec<(i64, i64, bool)> = Vec::new();
                    let new_rows: Vec<super::import::NewContactRow<'_>> = inserts
                        .iter()
                        .map(|f| super::import::NewContactRow {
                            email: f.row.email.as_str(),
                            key: f.row.email.key(),
                            hash: &f.hash,
                            unsubscribe_all: f.unsub,
                            attributes: f.row.attributes.clone().unwrap_or_default(),
                        })
                        .collect();
                    let ids = Self::bulk_insert_contacts(&mut tx, list.id, &new_rows, now).await?;
                    for (f, n) in inserts.iter().zip(&new_rows) {
                        let id = *ids.get(&n.key).ok_or_else(|| shared::corrupt("insert"))?;
                        new_prefs.extend(f.prefs.iter().map(|(t, o)| (id, *t, *o)));
                    }
                    counts.created += inserts.len() as u64;
                    // What the new contacts now hold leaves their tombstones; opt-outs of
                    // topics the list does not have stay for a topic of that name.
                    let tomb_hashes: Vec<&Vec<u8>> = inserts.iter().filter(|f| tombs.contains_key(&f.hash)).map(|f| &f.hash).collect();
                    for chunk in tomb_hashes.chunks(CHUNK) {
                        let sql = fast(format!(
                            "DELETE FROM tombstones WHERE list_name = $1 AND email_hash IN ({})",
                            shared::placeholders(2, chunk.len())
                        ));
                        let mut q = sqlx::query(&sql).bind(list.name.as_str());
                        for h in chunk {
                            q = q.bind((*h).clone());
                        }
                        q.execute(&mut *tx).await?;
                    }
                    let beyond: Vec<(Vec<u8>, Tombstone)> = tomb_hashes
                        .iter()
                        .map(|h| ((*h).clone(), tombs[*h].beyond(list)))
                        .filter(|(_, t)| !t.is_empty())
                        .collect();
                    Self::q_merge_tombstones(&mut tx, list.name.as_str(), &beyond).await?;

                    // Existing contacts: merge, keeping recorded opt-outs unless overridden.
                    for row in rows {
                        let Some(old) = existing.get(&row.email.key()) else { continue };
                        let mut kept = false;
                        let mut overridden = false;
                        let unsub = match row.unsubscribe_all {
                            Some(true) => true,
                            Some(false) if old.unsub => {
                                if override_opt_outs { overridden = true; false } else { kept = true; true }
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
                                if override_opt_outs { overridden = true } else { kept = true; continue }
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
                        sqlx::query("UPDATE contacts SET unsubscribe_all = $1, attributes = $2, updated_at = $3 WHERE id = $4")
                            .bind(unsub)
                            .bind(&attrs)
                            .bind(now)
                            .bind(old.id)
                            .execute(&mut *tx)
                            .await?;
                        pref_rows.extend(changed_prefs.iter().map(|(t, o)| (old.id, *t, *o)));
                        if prefs_changed {
                            if overridden {
                                counts.opt_outs_overridden += 1;
                            }
                            let old_p = prefs_of(old.unsub, &old.prefs);
                            let new_p = prefs_of(unsub, &prefs);
                            let topic = (changed_prefs.len() == 1 && unsub == old.unsub)
                                .then(|| topic_names.get(&changed_prefs[0].0).copied())
                                .flatten();
                            Self::q_event(&mut tx, shared::NewEvent {
                                kind: "subscription",
                                audit: Some(audit),
                                list_name: Some(list.name.as_str()),
                                topic_name: topic,
                                contact_email: Some(old.email.as_str()),
                                old: Some(&old_p),
                                new: Some(&new_p),
                                detail: serde_json::json!({ "overrideOptOuts": overridden, "line": row.line }),
                            })
                            .await?;
                        }
                    }
                    Self::bulk_upsert_prefs(&mut tx, &new_prefs, false).await?;
                    Self::bulk_upsert_prefs(&mut tx, &pref_rows, true).await?;
                }

                if let Some(p) = progress {
                    if let Some(before) = p.after_batch
                        && !before.committed().await
                    {
                        return Err(StoreError::Other(format!(
                            "import job {}: the batch before line {} failed",
                            p.job_id,
                            p.after_line + 1
                        )));
                    }
                    let moved = sqlx::query(
                        "UPDATE import_jobs SET status = 'PROCESSING', heartbeat_at = $11, lines_done = $1, failed = failed + $2, created = created + $3, \
                         updated = updated + $4, unchanged = unchanged + $5, deleted = deleted + $6, absent = absent + $7, \
                         opt_outs_kept = opt_outs_kept + $8, opt_outs_overridden = opt_outs_overridden + $9 \
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
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    // Another process moved the job on (or the batch before failed).
                    if moved != 1 {
                        return Err(StoreError::Other(format!(
                            "import job {}: the batch after line {} found the job elsewhere (the batch before it failed, or another process runs the job)",
                            p.job_id, p.after_line
                        )));
                    }
                }
                tx.commit().await?;
                self.bulk_end(&mut conn).await;
                Ok(counts)
            }
        }
    };
}
pub(super) use impl_import;
