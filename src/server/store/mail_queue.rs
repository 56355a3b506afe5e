//! The durable relay queue (`mail_queue`): one row per envelope recipient, committed
//! before the submitter is answered, claimed by relay workers under a lease, marked sent
//! or failed. Claims and outcomes follow the leased outbox (`outbox.rs`): two instances
//! never hold one row at once, a killed instance's claims become due again when the
//! lease runs out, and a late answer never overwrites a newer claim.

use super::db::{Conn, Pools, on_db};
use super::events;
use super::outbox::{MAIL_QUEUE, Value};
use super::{SqlStore, StoreError, StoreResult, now_ms};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tokio::sync::{mpsc, oneshot};

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailState {
    /// Waiting for (or being handed to) the upstream server.
    Queued,
    /// Accepted by the upstream server.
    Sent,
    /// Refused permanently by the upstream server (or retried for the whole window).
    Failed,
    /// No upstream is configured (dev mode): kept for the dashboard, never sent.
    Outbox,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Queued => "queued",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
            MailState::Outbox => "outbox",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => MailState::Queued,
            "sent" => MailState::Sent,
            "failed" => MailState::Failed,
            "outbox" => MailState::Outbox,
            _ => return None,
        })
    }
}

/// A message to store: one envelope recipient.
#[derive(Debug, Clone)]
pub struct NewMail {
    /// The id of its send record, chosen by the pipeline.
    pub send_id: i64,
    pub message_id: String,
    pub mail_from: String,
    pub rcpt: String,
    pub data: Vec<u8>,
    /// `Queued` or `Outbox`.
    pub state: MailState,
    /// What its send record holds besides the message id and the recipient.
    pub send: super::SendInfo,
}

/// One row of the queue; `data` is empty in listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailRecord {
    pub id: i64,
    pub message_id: String,
    pub mail_from: String,
    pub rcpt: String,
    pub size: i64,
    #[serde(skip)]
    pub data: Vec<u8>,
    pub state: MailState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// A message claimed by this instance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedMail {
    pub id: i64,
    /// The attempt this claim is (1 for the first); the fencing token of the claim.
    #[sqlx(rename = "attempts")]
    pub attempt: i64,
    pub message_id: String,
    pub mail_from: String,
    pub rcpt: String,
    pub data: Vec<u8>,
    pub created_at: i64,
    /// Its send record (none for rows queued before send records existed).
    pub send_id: Option<i64>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum MailOutcome {
    Sent {
        id: i64,
        attempt: i64,
    },
    /// A temporary failure: try again at `retry_at`.
    Retry {
        id: i64,
        attempt: i64,
        error: String,
        retry_at: i64,
    },
    /// A permanent failure: the row becomes `failed` and a `delivery.failed` event is
    /// written in the same transaction.
    Failed {
        id: i64,
        attempt: i64,
        error: String,
    },
}

/// Relay-queue storage; a part of `Store`.
#[async_trait::async_trait]
pub trait MailQueueStore {
    /// Stores the messages in one transaction (committed when this returns); their ids.
    async fn enqueue_mail(&self, msgs: &[NewMail]) -> StoreResult<Vec<i64>> {
        self.enqueue_mail_with(msgs, &[]).await
    }
    /// As `enqueue_mail`, writing the submissions' events in the same transaction (one
    /// durable commit per submission).
    async fn enqueue_mail_with(
        &self,
        msgs: &[NewMail],
        events: &[&super::mail::SubmissionEvents],
    ) -> StoreResult<Vec<i64>>;
    /// A cheap read: is any queued message due at `now`?
    async fn mail_due(&self, now: i64) -> StoreResult<bool>;
    /// Claims up to `limit` due messages until `lease_until`.
    async fn claim_mail(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedMail>>;
    /// Records outcomes in one transaction.
    async fn finish_mail(&self, outcomes: &[MailOutcome]) -> StoreResult<()>;
    /// Messages, newest first, optionally of one state; keyset-paged by id.
    async fn list_mail(
        &self,
        state: Option<MailState>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<MailRecord>>;
    /// One message with its bytes.
    async fn get_mail(&self, id: i64) -> StoreResult<MailRecord>;
}

/// A queue row as read.
#[derive(sqlx::FromRow)]
struct MailRow {
    id: i64,
    message_id: String,
    mail_from: String,
    rcpt: String,
    size: i64,
    #[sqlx(default)]
    data: Vec<u8>,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl TryFrom<MailRow> for MailRecord {
    type Error = StoreError;

    fn try_from(r: MailRow) -> StoreResult<Self> {
        Ok(MailRecord {
            id: r.id,
            message_id: r.message_id,
            mail_from: r.mail_from,
            rcpt: r.rcpt,
            size: r.size,
            data: r.data,
            state: MailState::parse(&r.state)
                .ok_or_else(|| StoreError::unreadable(format!("mail state {:?}", r.state)))?,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
    }
}

/// A submission on its way to the group-commit writer, with where to send its answer.
type MailJob = (
    Vec<NewMail>,
    Vec<super::mail::SubmissionEvents>,
    oneshot::Sender<StoreResult<Vec<i64>>>,
);

/// The most submissions one commit holds.
const MAX_MAIL_BATCH: usize = 128;

/// SQLite's mail intake: submissions that arrive while a batch is being written wait and
/// are committed together in the next transaction, each in its own savepoint, so one
/// fsync serves them all and a failing submission fails alone. Each caller is answered
/// after the commit that holds its rows. (SQLite has one writer connection, so calls
/// were serialised anyway; PostgreSQL commits concurrent calls in parallel and writes
/// directly.)
#[derive(Default)]
pub(crate) struct MailIntake(OnceLock<mpsc::Sender<MailJob>>);

impl MailIntake {
    async fn submit(
        &self,
        pools: &Pools,
        msgs: Vec<NewMail>,
        events: Vec<super::mail::SubmissionEvents>,
    ) -> StoreResult<Vec<i64>> {
        let queue = self.0.get_or_init(|| group_commit(pools.clone()));
        let gone = || StoreError::Unavailable(super::Unavailable::MailWriterStopped);
        let (reply, rx) = oneshot::channel();
        queue
            .send((msgs, events, reply))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// The group-commit writer task; it ends when its sender (the store) is dropped.
fn group_commit(pools: Pools) -> mpsc::Sender<MailJob> {
    let (tx, mut rx) = mpsc::channel::<MailJob>(4 * MAX_MAIL_BATCH);
    tokio::spawn(async move {
        let mut batch: Vec<MailJob> = Vec::with_capacity(MAX_MAIL_BATCH);
        while rx.recv_many(&mut batch, MAX_MAIL_BATCH).await > 0 {
            match write_batch(&pools, &batch).await {
                Ok(results) => {
                    for ((_, _, reply), r) in batch.drain(..).zip(results) {
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    for (_, _, reply) in batch.drain(..) {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    });
    tx
}

/// Writes many submissions in one transaction, each in a savepoint. The outer error
/// means nothing was committed.
async fn write_batch(pools: &Pools, jobs: &[MailJob]) -> StoreResult<Vec<StoreResult<Vec<i64>>>> {
    let now = now_ms();
    let mut tx = pools.write().begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for (msgs, events, _) in jobs {
        let mut c = tx.conn();
        let mut sp = c.begin().await?;
        let subs: Vec<&super::mail::SubmissionEvents> = events.iter().collect();
        match write_submission(sp.conn(), pools.keyer(), msgs, &subs, now).await {
            Ok(ids) => {
                sp.commit().await?;
                results.push(Ok(ids));
            }
            Err(e) => {
                sp.rollback().await?;
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// One submission's queue rows, send records and events, in the caller's transaction.
async fn write_submission(
    mut c: Conn<'_>,
    keyer: &events::ContactKeyer,
    msgs: &[NewMail],
    subs: &[&super::mail::SubmissionEvents],
    now: i64,
) -> StoreResult<Vec<i64>> {
    for sub in subs {
        super::mail::write_events(c.re(), keyer, &sub.audit, &sub.as_events()).await?;
    }
    let mut ids = Vec::with_capacity(msgs.len());
    for m in msgs {
        let send_id =
            super::sends::insert(c.re(), m.send_id, &m.message_id, &m.rcpt, &m.send, now).await?;
        let id: i64 = on_db!(c.re(), |c| {
            sqlx::query_scalar(
                "INSERT INTO mail_queue (message_id, mail_from, rcpt, data, state, attempts, \
                 next_attempt_at, created_at, send_id) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $7) RETURNING id",
            )
            .bind(&m.message_id)
            .bind(&m.mail_from)
            .bind(&m.rcpt)
            .bind(&m.data)
            .bind(m.state.as_str())
            .bind(now)
            .bind(send_id)
            .fetch_one(c)
            .await?
        });
        ids.push(id);
    }
    Ok(ids)
}

#[async_trait::async_trait]
impl MailQueueStore for SqlStore {
    async fn enqueue_mail_with(
        &self,
        msgs: &[NewMail],
        events: &[&super::mail::SubmissionEvents],
    ) -> StoreResult<Vec<i64>> {
        if self.pools.backend() == super::Backend::Sqlite {
            let events = events.iter().map(|e| (*e).clone()).collect();
            return self
                .mail_intake
                .submit(&self.pools, msgs.to_vec(), events)
                .await;
        }
        let mut tx = self.pools.write().begin().await?;
        let ids = write_submission(tx.conn(), self.pools.keyer(), msgs, events, now_ms()).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn mail_due(&self, now: i64) -> StoreResult<bool> {
        MAIL_QUEUE.any_due(&self.pools, now).await
    }

    async fn claim_mail(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedMail>> {
        let mut out: Vec<ClaimedMail> = MAIL_QUEUE
            .claim(
                &self.pools,
                now,
                lease_until,
                limit,
                "id, attempts, message_id, mail_from, rcpt, data, created_at, send_id",
            )
            .await?;
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    async fn finish_mail(&self, outcomes: &[MailOutcome]) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pools.write().begin().await?;
        // Sent is sent, whoever holds the claim now: no fencing needed.
        let sent: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| match o {
                MailOutcome::Sent { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let done = [
            ("state", Value::Text(Some("sent"))),
            ("sent_at", Value::Int(Some(now))),
            ("last_error", Value::Text(None)),
        ];
        MAIL_QUEUE.complete(tx.conn(), &sent, &done).await?;
        for o in outcomes {
            match o {
                MailOutcome::Sent { .. } => {}
                MailOutcome::Retry {
                    id,
                    attempt,
                    error,
                    retry_at,
                } => {
                    let again = [
                        ("next_attempt_at", Value::Int(Some(*retry_at))),
                        ("last_error", Value::Text(Some(error))),
                    ];
                    MAIL_QUEUE.settle(tx.conn(), *id, *attempt, &again).await?;
                }
                MailOutcome::Failed { id, attempt, error } => {
                    let failed = [
                        ("state", Value::Text(Some("failed"))),
                        ("last_error", Value::Text(Some(error))),
                    ];
                    if !MAIL_QUEUE.settle(tx.conn(), *id, *attempt, &failed).await? {
                        continue;
                    }
                    let (message_id, mail_from, rcpt): (String, String, String) =
                        on_db!(tx.conn(), |c| {
                            sqlx::query_as(
                                "SELECT message_id, mail_from, rcpt FROM mail_queue WHERE id = $1",
                            )
                            .bind(*id)
                            .fetch_one(c)
                            .await?
                        });
                    let detail = serde_json::json!({
                        "queueId": id,
                        "messageId": message_id,
                        "mailFrom": mail_from,
                        "attempts": attempt,
                        "error": error,
                    });
                    events::write_plain(
                        tx.conn(),
                        self.pools.keyer(),
                        "delivery.failed",
                        None,
                        Some(&rcpt),
                        &detail,
                        None,
                    )
                    .await?;
                }
            }
        }
        tx.commit().await
    }

    async fn list_mail(
        &self,
        state: Option<MailState>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<MailRecord>> {
        let rows: Vec<MailRow> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT id, message_id, mail_from, rcpt, CAST(length(data) AS BIGINT) AS size, \
                 state, attempts, next_attempt_at, last_error, created_at, sent_at \
                 FROM mail_queue WHERE id < $1 AND ($2 = '' OR state = $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(state.map(|s| s.as_str()).unwrap_or(""))
            .bind(limit.clamp(1, 1000) as i64)
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(MailRecord::try_from).collect()
    }

    async fn get_mail(&self, id: i64) -> StoreResult<MailRecord> {
        let row: Option<MailRow> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT id, message_id, mail_from, rcpt, CAST(length(data) AS BIGINT) AS size, \
                 data, state, attempts, next_attempt_at, last_error, created_at, sent_at \
                 FROM mail_queue WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }
}
