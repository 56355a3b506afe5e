//! Webhook destinations, their durable outbox, and event-log queries.
//!
//! Enqueueing is part of writing an event: `q_event` (in `shared.rs`) calls
//! `q_enqueue_webhooks` in the same transaction, which inserts one `webhook_deliveries`
//! row per matching destination. A committed event therefore always has its deliveries,
//! and a rolled-back change has none. (A cursor over `events` would be simpler but is not
//! safe on PostgreSQL: sequence values are not committed in order, so a cursor can pass
//! an id whose transaction commits later.)
//!
//! Claiming takes due rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one
//! writer, so the claim is serialised anyway) and pushes their `next_attempt_at` forward
//! by a lease longer than the HTTP timeout: while one instance's request is in flight no
//! other instance can claim the row, and if the instance dies the row becomes due again
//! when the lease runs out.

use serde::{Deserialize, Serialize};

/// A webhook destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    pub id: i64,
    pub url: String,
    /// The HMAC key of the `Optbox-Signature` header.
    #[serde(skip_serializing)]
    pub secret: String,
    /// Event kinds delivered; empty means every kind except `webhook.failed`.
    pub event_types: Vec<String>,
    /// Only events of this list, when set.
    pub list_name: Option<String>,
    pub created_at: i64,
}

/// A destination to create.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub secret: String,
    pub event_types: Vec<String>,
    pub list_name: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Retried for the whole retry window without success; replayable.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "dead" => DeliveryStatus::Dead,
            _ => return None,
        })
    }
}

/// One row of the outbox (the delivery log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// A delivery claimed by this instance, with what is needed to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    /// The attempt this claim is (1 for the first); also the fencing token of the claim.
    pub attempt: i64,
    pub created_at: i64,
    pub webhook: WebhookRecord,
    pub event: super::EventRecord,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered {
        id: i64,
        http_status: i64,
    },
    Failed {
        id: i64,
        attempt: i64,
        webhook_id: i64,
        event_id: i64,
        http_status: Option<i64>,
        error: String,
        /// When to try again; `None` dead-letters the delivery (and logs `webhook.failed`).
        retry_at: Option<i64>,
    },
}

/// Event-log filters; every one optional. Results are newest first, keyset-paged by id.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub list: Option<String>,
    pub topic: Option<String>,
    pub contact: Option<String>,
    pub kind: Option<String>,
    /// Inclusive lower bound on `created_at` (epoch ms).
    pub since_ms: Option<i64>,
    /// Exclusive upper bound on `created_at` (epoch ms).
    pub until_ms: Option<i64>,
    /// Only events with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Webhook and event-log storage; a supertrait of `Store`, implemented per backend by
/// `impl_webhooks!`.
#[async_trait::async_trait]
pub trait WebhookStore {
    async fn create_webhook(&self, new: &NewWebhook) -> super::StoreResult<WebhookRecord>;
    async fn get_webhook(&self, id: i64) -> super::StoreResult<WebhookRecord>;
    /// Every destination, oldest first.
    async fn list_webhooks(&self) -> super::StoreResult<Vec<WebhookRecord>>;
    /// Removes a destination and its outbox rows.
    async fn delete_webhook(&self, id: i64) -> super::StoreResult<()>;
    /// Replaces a destination's URL, secret, event kinds and list; its deliveries stay.
    async fn update_webhook(&self, id: i64, new: &NewWebhook) -> super::StoreResult<WebhookRecord>;
    /// A cheap read: is any pending delivery due at `now`?
    async fn deliveries_due(&self, now: i64) -> super::StoreResult<bool>;
    /// Claims up to `limit` due deliveries until `lease_until`.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> super::StoreResult<Vec<ClaimedDelivery>>;
    /// Records outcomes in one transaction; a dead-lettered delivery writes a
    /// `webhook.failed` event in the same transaction.
    async fn finish_deliveries(&self, outcomes: &[DeliveryOutcome]) -> super::StoreResult<()>;
    /// A destination's deliveries, newest first.
    async fn list_deliveries(
        &self,
        webhook_id: i64,
        status: Option<DeliveryStatus>,
        before_id: Option<i64>,
        limit: u32,
    ) -> super::StoreResult<Vec<DeliveryRecord>>;
    /// Puts dead deliveries (one, or all of the destination's) back in the queue with a
    /// fresh retry window; returns how many.
    async fn replay_deliveries(
        &self,
        webhook_id: i64,
        delivery_id: Option<i64>,
    ) -> super::StoreResult<u64>;
    /// The event log, filtered and keyset-paged.
    async fn query_events(&self, q: &EventQuery) -> super::StoreResult<Vec<super::EventRecord>>;
}

/// `,a,b,` for LIKE matching, or `*` for every kind.
pub(super) fn encode_types(types: &[String]) -> String {
    if types.is_empty() {
        "*".into()
    } else {
        format!(",{},", types.join(","))
    }
}

pub(super) fn decode_types(s: &str) -> Vec<String> {
    if s == "*" {
        Vec::new()
    } else {
        s.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A bound parameter of a dynamically built query.
pub(super) enum Arg {
    Text(String),
    Int(i64),
}

/// Store methods for webhooks, instantiated per backend; `$lock` is the row-locking
/// clause of the claim (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
macro_rules! impl_webhooks {
    ($store:ty, $conn:ty, $lock:literal) => {
        impl $store {
            fn webhook_from(r: &<<$conn as sqlx::Connection>::Database as sqlx::Database>::Row) -> StoreResult<WebhookRecord> {
                Ok(WebhookRecord {
                    id: r.try_get("id")?,
                    url: r.try_get("url")?,
                    secret: r.try_get("secret")?,
                    event_types: webhooks::decode_types(&r.try_get::<String, _>("event_types")?),
                    list_name: r.try_get("list_name")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            fn delivery_from(r: &<<$conn as sqlx::Connection>::Database as sqlx::Database>::Row) -> StoreResult<DeliveryRecord> {
                Ok(DeliveryRecord {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    event_id: r.try_get("event_id")?,
                    status: DeliveryStatus::parse(&r.try_get::<String, _>("status")?)
                        .ok_or_else(|| shared::corrupt("delivery status"))?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    last_status: r.try_get("last_status")?,
                    last_error: r.try_get("last_error")?,
                    created_at: r.try_get("created_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                })
            }

            fn event_from(r: &<<$conn as sqlx::Connection>::Database as sqlx::Database>::Row) -> StoreResult<EventRecord> {
                Ok(EventRecord {
                    id: r.try_get("id")?,
                    created_at: r.try_get("created_at")?,
                    kind: r.try_get("kind")?,
                    source: r.try_get("source")?,
                    list_name: r.try_get("list_name")?,
                    topic_name: r.try_get("topic_name")?,
                    contact_email: r.try_get("contact_email")?,
                    old_prefs: r.try_get("old_prefs")?,
                    new_prefs: r.try_get("new_prefs")?,
                    ip_hash: r.try_get("ip_hash")?,
                    user_agent: r.try_get("user_agent")?,
                    detail: r.try_get("detail")?,
                })
            }

            /// Queues the event for every matching destination (other than `exclude`), in
            /// the caller's transaction.
            async fn q_enqueue_webhooks(
                conn: &mut $conn,
                event_id: i64,
                kind: &str,
                list_name: Option<&str>,
                exclude: Option<i64>,
            ) -> StoreResult<()> {
                let now = now_ms();
                sqlx::query(
                    "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, next_attempt_at, created_at) \
                     SELECT id, $1, 'pending', 0, $2, $2 FROM webhooks \
                     WHERE ((event_types = '*' AND $3 <> 'webhook.failed') OR event_types LIKE $4) \
                     AND (list_name IS NULL OR list_name = $5) AND id <> $6",
                )
                .bind(event_id)
                .bind(now)
                .bind(kind)
                .bind(format!("%,{kind},%"))
                .bind(list_name)
                .bind(exclude.unwrap_or(-1))
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl WebhookStore for $store {
            async fn create_webhook(&self, new: &NewWebhook) -> StoreResult<WebhookRecord> {
                let r = sqlx::query(
                    "INSERT INTO webhooks (url, secret, event_types, list_name, created_at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, url, secret, event_types, list_name, created_at",
                )
                .bind(&new.url)
                .bind(&new.secret)
                .bind(webhooks::encode_types(&new.event_types))
                .bind(new.list_name.as_deref())
                .bind(now_ms())
                .fetch_one(&self.write)
                .await?;
                Self::webhook_from(&r)
            }

            async fn get_webhook(&self, id: i64) -> StoreResult<WebhookRecord> {
                let r = sqlx::query("SELECT * FROM webhooks WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.write)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Self::webhook_from(&r)
            }

            async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
                let rows = sqlx::query("SELECT * FROM webhooks ORDER BY id").fetch_all(&self.write).await?;
                rows.iter().map(Self::webhook_from).collect()
            }

            async fn delete_webhook(&self, id: i64) -> StoreResult<()> {
                let mut tx = self.write.begin().await?;
                sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
                let n = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn update_webhook(&self, id: i64, new: &NewWebhook) -> StoreResult<WebhookRecord> {
                let r = sqlx::query(
                    "UPDATE webhooks SET url = $1, secret = $2, event_types = $3, list_name = $4 WHERE id = $5 \
                     RETURNING id, url, secret, event_types, list_name, created_at",
                )
                .bind(&new.url)
                .bind(&new.secret)
                .bind(webhooks::encode_types(&new.event_types))
                .bind(new.list_name.as_deref())
                .bind(id)
                .fetch_optional(&self.write)
                .await?
                .ok_or(StoreError::NotFound)?;
                Self::webhook_from(&r)
            }

            async fn deliveries_due(&self, now: i64) -> StoreResult<bool> {
                let r = sqlx::query("SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1")
                    .bind(now)
                    .fetch_optional(&self.read)
                    .await?;
                Ok(r.is_some())
            }

            async fn claim_deliveries(&self, now: i64, lease_until: i64, limit: u32) -> StoreResult<Vec<ClaimedDelivery>> {
                let mut tx = self.write.begin().await?;
                let rows = sqlx::query(concat!(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1 \
                     WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $2 \
                     ORDER BY next_attempt_at, id LIMIT $3",
                    $lock,
                    ") RETURNING id, webhook_id, event_id, attempts, created_at"
                ))
                .bind(lease_until)
                .bind(now)
                .bind(limit as i64)
                .fetch_all(&mut *tx)
                .await?;
                if rows.is_empty() {
                    tx.commit().await?;
                    return Ok(Vec::new());
                }
                let mut claims = Vec::with_capacity(rows.len());
                for r in &rows {
                    claims.push((
                        r.try_get::<i64, _>("id")?,
                        r.try_get::<i64, _>("webhook_id")?,
                        r.try_get::<i64, _>("event_id")?,
                        r.try_get::<i64, _>("attempts")?,
                        r.try_get::<i64, _>("created_at")?,
                    ));
                }
                let mut event_ids: Vec<i64> = claims.iter().map(|c| c.2).collect();
                event_ids.sort_unstable();
                event_ids.dedup();
                let mut events = std::collections::HashMap::new();
                for chunk in event_ids.chunks(500) {
                    let sql = format!(
                        "SELECT id, created_at, kind, source, list_name, topic_name, contact_email, old_prefs, new_prefs, ip_hash, user_agent, detail \
                         FROM events WHERE id IN ({})",
                        shared::placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    for r in q.fetch_all(&mut *tx).await? {
                        let e = Self::event_from(&r)?;
                        events.insert(e.id, e);
                    }
                }
                let mut hook_ids: Vec<i64> = claims.iter().map(|c| c.1).collect();
                hook_ids.sort_unstable();
                hook_ids.dedup();
                let sql = format!("SELECT * FROM webhooks WHERE id IN ({})", shared::placeholders(1, hook_ids.len()));
                let mut q = sqlx::query(&sql);
                for id in &hook_ids {
                    q = q.bind(*id);
                }
                let mut hooks = std::collections::HashMap::new();
                for r in q.fetch_all(&mut *tx).await? {
                    let h = Self::webhook_from(&r)?;
                    hooks.insert(h.id, h);
                }
                tx.commit().await?;
                Ok(claims
                    .into_iter()
                    .filter_map(|(id, hook, event, attempt, created_at)| {
                        Some(ClaimedDelivery {
                            id,
                            attempt,
                            created_at,
                            webhook: hooks.get(&hook)?.clone(),
                            event: events.get(&event)?.clone(),
                        })
                    })
                    .collect())
            }

            async fn finish_deliveries(&self, outcomes: &[DeliveryOutcome]) -> StoreResult<()> {
                let now = now_ms();
                let mut tx = self.write.begin().await?;
                // Delivered is delivered, whoever holds the claim now: no fencing needed.
                let delivered: Vec<(i64, i64)> = outcomes
                    .iter()
                    .filter_map(|o| match o {
                        DeliveryOutcome::Delivered { id, http_status } => Some((*id, *http_status)),
                        _ => None,
                    })
                    .collect();
                for chunk in delivered.chunks(500) {
                    let sql = format!(
                        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $1, last_status = $2, last_error = NULL \
                         WHERE status = 'pending' AND id IN ({})",
                        shared::placeholders(3, chunk.len())
                    );
                    // Most receivers answer 200; other 2xx codes are written one by one.
                    let mut q = sqlx::query(&sql).bind(now).bind(200i64);
                    for (id, _) in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *tx).await?;
                    for (id, s) in chunk.iter().filter(|(_, s)| *s != 200) {
                        sqlx::query("UPDATE webhook_deliveries SET last_status = $1 WHERE id = $2")
                            .bind(*s)
                            .bind(*id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                for o in outcomes {
                    let DeliveryOutcome::Failed { id, attempt, webhook_id, event_id, http_status, error, retry_at } = o else {
                        continue;
                    };
                    // Fenced by the attempt number: a claim taken over by another instance
                    // after the lease ran out is not overwritten.
                    let n = sqlx::query(
                        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, last_status = $3, last_error = $4 \
                         WHERE id = $5 AND attempts = $6 AND status = 'pending'",
                    )
                    .bind(if retry_at.is_some() { "pending" } else { "dead" })
                    .bind(retry_at.unwrap_or(now))
                    .bind(*http_status)
                    .bind(error)
                    .bind(*id)
                    .bind(*attempt)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if n == 1 && retry_at.is_none() {
                        let hook = sqlx::query("SELECT url, list_name FROM webhooks WHERE id = $1")
                            .bind(*webhook_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let (url, list): (Option<String>, Option<String>) = match &hook {
                            Some(r) => (r.try_get("url")?, r.try_get("list_name")?),
                            None => (None, None),
                        };
                        let detail = serde_json::json!({
                            "webhookId": webhook_id,
                            "url": url,
                            "deliveryId": id,
                            "eventId": event_id,
                            "attempts": attempt,
                            "httpStatus": http_status,
                            "error": error,
                        });
                        let ev: i64 = sqlx::query_scalar(
                            "INSERT INTO events (created_at, kind, list_name, detail) VALUES ($1, 'webhook.failed', $2, $3) RETURNING id",
                        )
                        .bind(now)
                        .bind(list.as_deref())
                        .bind(detail.to_string())
                        .fetch_one(&mut *tx)
                        .await?;
                        Self::q_enqueue_webhooks(&mut *tx, ev, "webhook.failed", list.as_deref(), Some(*webhook_id)).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_deliveries(&self, webhook_id: i64, status: Option<DeliveryStatus>, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 AND id < $2 AND ($3 = '' OR status = $3) ORDER BY id DESC LIMIT $4",
                )
                .bind(webhook_id)
                .bind(before_id.unwrap_or(i64::MAX))
                .bind(status.map(|s| s.as_str()).unwrap_or(""))
                .bind(limit as i64)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::delivery_from).collect()
            }

            async fn replay_deliveries(&self, webhook_id: i64, delivery_id: Option<i64>) -> StoreResult<u64> {
                let now = now_ms();
                let n = sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, created_at = $1 \
                     WHERE webhook_id = $2 AND status = 'dead' AND ($3 < 0 OR id = $3)",
                )
                .bind(now)
                .bind(webhook_id)
                .bind(delivery_id.unwrap_or(-1))
                .execute(&self.write)
                .await?
                .rows_affected();
                Ok(n)
            }

            async fn query_events(&self, f: &EventQuery) -> StoreResult<Vec<EventRecord>> {
                self.pending.settle_all().await?;
                use webhooks::Arg;
                // Only the filters given become conditions, so each shape of query gets a
                // plan that uses its index.
                let mut conds = vec!["id < $1".to_owned()];
                let mut args = vec![Arg::Int(f.before_id.unwrap_or(i64::MAX))];
                let mut add = |col: &str, op: &str, a: Arg| {
                    args.push(a);
                    conds.push(format!("{col} {op} ${}", args.len()));
                };
                if let Some(v) = &f.list { add("list_name", "=", Arg::Text(v.clone())); }
                if let Some(v) = &f.topic { add("topic_name", "=", Arg::Text(v.clone())); }
                if let Some(v) = &f.contact { add("contact_email", "=", Arg::Text(v.clone())); }
                if let Some(v) = &f.kind { add("kind", "=", Arg::Text(v.clone())); }
                if let Some(v) = f.since_ms { add("created_at", ">=", Arg::Int(v)); }
                if let Some(v) = f.until_ms { add("created_at", "<", Arg::Int(v)); }
                let sql = format!(
                    "SELECT id, created_at, kind, source, list_name, topic_name, contact_email, old_prefs, new_prefs, ip_hash, user_agent, detail \
                     FROM events WHERE {} ORDER BY id DESC LIMIT {}",
                    conds.join(" AND "),
                    f.limit.clamp(1, 1000)
                );
                let mut q = sqlx::query(&sql);
                for a in args {
                    q = match a {
                        Arg::Text(s) => q.bind(s),
                        Arg::Int(i) => q.bind(i),
                    };
                }
                let rows = q.fetch_all(&self.read).await?;
                rows.iter().map(Self::event_from).collect()
            }
        }
    };
}
pub(super) use impl_webhooks;
