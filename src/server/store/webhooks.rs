//! Webhook destinations and their durable outbox (`webhook_deliveries`).
//!
//! Enqueueing is part of writing an event (`events.rs`): one `webhook_deliveries` row per
//! matching destination, in the event's transaction. Claiming a delivery under a lease,
//! and recording how it ended, are the leased outbox's (`outbox.rs`).

use super::db::{Conn, on_db};
use super::events::{self, EventRecord};
use super::outbox::{Value, WEBHOOK_DELIVERIES};
use super::sql::placeholders;
use super::{SqlStore, StoreError, StoreResult, now_ms};
use crate::server::store::found;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A webhook destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    pub id: i64,
    pub url: String,
    /// The HMAC key of the `Optbox-Signature` header.
    #[serde(skip_serializing)]
    pub secret: String,
    /// Event kinds delivered; empty means every kind except `webhook.failed` and the
    /// configuration kinds.
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
    pub event: EventRecord,
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

/// Webhook storage; a part of `Store`.
#[async_trait::async_trait]
pub trait WebhookStore {
    async fn create_webhook(&self, new: &NewWebhook) -> StoreResult<WebhookRecord>;
    async fn get_webhook(&self, id: i64) -> StoreResult<WebhookRecord>;
    /// Every destination, oldest first.
    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    /// Removes a destination and its outbox rows.
    async fn delete_webhook(&self, id: i64) -> StoreResult<()>;
    /// Replaces a destination's URL, secret, event kinds and list; its deliveries stay.
    async fn update_webhook(&self, id: i64, new: &NewWebhook) -> StoreResult<WebhookRecord>;
    /// A cheap read: is any pending delivery due at `now`?
    async fn deliveries_due(&self, now: i64) -> StoreResult<bool>;
    /// Claims up to `limit` due deliveries until `lease_until`.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records outcomes in one transaction; a dead-lettered delivery writes a
    /// `webhook.failed` event in the same transaction.
    async fn finish_deliveries(&self, outcomes: &[DeliveryOutcome]) -> StoreResult<()>;
    /// A destination's deliveries, newest first.
    async fn list_deliveries(
        &self,
        webhook_id: i64,
        status: Option<DeliveryStatus>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Puts dead deliveries (one, or all of the destination's) back in the queue with a
    /// fresh retry window; returns how many.
    async fn replay_deliveries(
        &self,
        webhook_id: i64,
        delivery_id: Option<i64>,
    ) -> StoreResult<u64>;
}

/// `,a,b,` for LIKE matching, or `*` for every kind.
fn encode_types(types: &[String]) -> String {
    if types.is_empty() {
        "*".into()
    } else {
        format!(",{},", types.join(","))
    }
}

fn decode_types(s: &str) -> Vec<String> {
    if s == "*" {
        Vec::new()
    } else {
        s.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    url: String,
    secret: String,
    event_types: String,
    list_name: Option<String>,
    created_at: i64,
}

impl From<WebhookRow> for WebhookRecord {
    fn from(r: WebhookRow) -> Self {
        WebhookRecord {
            id: r.id,
            url: r.url,
            secret: r.secret,
            event_types: decode_types(&r.event_types),
            list_name: r.list_name,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event_id: i64,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> StoreResult<Self> {
        Ok(DeliveryRecord {
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: r.event_id,
            status: DeliveryStatus::parse(&r.status)
                .ok_or_else(|| StoreError::unreadable(format!("delivery status {:?}", r.status)))?,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
        })
    }
}

/// A claimed row of the outbox.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    webhook_id: i64,
    event_id: i64,
    attempts: i64,
    created_at: i64,
}

const WEBHOOK_COLUMNS: &str = "id, url, secret, event_types, list_name, created_at";

/// Destinations by id.
async fn webhooks_by_id(c: Conn<'_>, ids: &[i64]) -> StoreResult<HashMap<i64, WebhookRecord>> {
    let sql = format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id IN ({})",
        placeholders(1, ids.len())
    );
    let rows: Vec<WebhookRow> = on_db!(c, |c| {
        let mut q = sqlx::query_as(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await?
    });
    Ok(rows.into_iter().map(|r| (r.id, r.into())).collect())
}

#[async_trait::async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(&self, new: &NewWebhook) -> StoreResult<WebhookRecord> {
        let sql = format!(
            "INSERT INTO webhooks (url, secret, event_types, list_name, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {WEBHOOK_COLUMNS}"
        );
        let row: WebhookRow = on_db!(self.pools.write(), |p| {
            sqlx::query_as(&sql)
                .bind(&new.url)
                .bind(&new.secret)
                .bind(encode_types(&new.event_types))
                .bind(new.list_name.as_deref())
                .bind(now_ms())
                .fetch_one(p)
                .await?
        });
        Ok(row.into())
    }

    async fn get_webhook(&self, id: i64) -> StoreResult<WebhookRecord> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        let row: Option<WebhookRow> = on_db!(self.pools.write(), |p| {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        Ok(row.ok_or(StoreError::NotFound)?.into())
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id");
        let rows: Vec<WebhookRow> = on_db!(self.pools.write(), |p| {
            sqlx::query_as(&sql).fetch_all(p).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_webhook(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.pools.write().begin().await?;
        let n: u64 = on_db!(tx.conn(), |c| {
            sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id)
                .execute(c)
                .await?
                .rows_affected()
        });
        found(n)?;
        tx.commit().await
    }

    async fn update_webhook(&self, id: i64, new: &NewWebhook) -> StoreResult<WebhookRecord> {
        let sql = format!(
            "UPDATE webhooks SET url = $1, secret = $2, event_types = $3, list_name = $4 \
             WHERE id = $5 RETURNING {WEBHOOK_COLUMNS}"
        );
        let row: Option<WebhookRow> = on_db!(self.pools.write(), |p| {
            sqlx::query_as(&sql)
                .bind(&new.url)
                .bind(&new.secret)
                .bind(encode_types(&new.event_types))
                .bind(new.list_name.as_deref())
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.ok_or(StoreError::NotFound)?.into())
    }

    async fn deliveries_due(&self, now: i64) -> StoreResult<bool> {
        WEBHOOK_DELIVERIES.any_due(&self.pools, now).await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let claims: Vec<ClaimRow> = WEBHOOK_DELIVERIES
            .claim(
                &self.pools,
                now,
                lease_until,
                limit,
                "id, webhook_id, event_id, attempts, created_at",
            )
            .await?;
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let mut event_ids: Vec<i64> = claims.iter().map(|c| c.event_id).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let mut hook_ids: Vec<i64> = claims.iter().map(|c| c.webhook_id).collect();
        hook_ids.sort_unstable();
        hook_ids.dedup();
        let mut c = self.pools.read().acquire().await?;
        let events = events::by_ids(c.conn(), &event_ids).await?;
        let hooks = webhooks_by_id(c.conn(), &hook_ids).await?;
        // A claim whose destination was deleted meanwhile went with it.
        Ok(claims
            .into_iter()
            .filter_map(|c| {
                Some(ClaimedDelivery {
                    id: c.id,
                    attempt: c.attempts,
                    created_at: c.created_at,
                    webhook: hooks.get(&c.webhook_id)?.clone(),
                    event: events.get(&c.event_id)?.clone(),
                })
            })
            .collect())
    }

    async fn finish_deliveries(&self, outcomes: &[DeliveryOutcome]) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pools.write().begin().await?;
        let delivered: Vec<(i64, i64)> = outcomes
            .iter()
            .filter_map(|o| match o {
                DeliveryOutcome::Delivered { id, http_status } => Some((*id, *http_status)),
                _ => None,
            })
            .collect();
        let ids: Vec<i64> = delivered.iter().map(|(id, _)| *id).collect();
        // Most receivers answer 200; other 2xx codes are written one by one.
        let done = [
            ("status", Value::Text(Some("delivered"))),
            ("delivered_at", Value::Int(Some(now))),
            ("last_status", Value::Int(Some(200))),
            ("last_error", Value::Text(None)),
        ];
        WEBHOOK_DELIVERIES.complete(tx.conn(), &ids, &done).await?;
        for (id, s) in delivered.iter().filter(|(_, s)| *s != 200) {
            on_db!(tx.conn(), |c| {
                sqlx::query("UPDATE webhook_deliveries SET last_status = $1 WHERE id = $2")
                    .bind(*s)
                    .bind(*id)
                    .execute(c)
                    .await?;
            });
        }
        for o in outcomes {
            let DeliveryOutcome::Failed {
                id,
                attempt,
                webhook_id,
                event_id,
                http_status,
                error,
                retry_at,
            } = o
            else {
                continue;
            };
            let ended = [
                (
                    "status",
                    Value::Text(Some(if retry_at.is_some() {
                        "pending"
                    } else {
                        "dead"
                    })),
                ),
                ("next_attempt_at", Value::Int(Some(retry_at.unwrap_or(now)))),
                ("last_status", Value::Int(*http_status)),
                ("last_error", Value::Text(Some(error))),
            ];
            let settled = WEBHOOK_DELIVERIES
                .settle(tx.conn(), *id, *attempt, &ended)
                .await?;
            if settled && retry_at.is_none() {
                let hook: Option<(String, Option<String>)> = on_db!(tx.conn(), |c| {
                    sqlx::query_as("SELECT url, list_name FROM webhooks WHERE id = $1")
                        .bind(*webhook_id)
                        .fetch_optional(c)
                        .await?
                });
                let (url, list) = match hook {
                    Some((url, list)) => (Some(url), list),
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
                events::write_plain(
                    tx.conn(),
                    self.pools.keyer(),
                    "webhook.failed",
                    list.as_deref(),
                    None,
                    &detail,
                    Some(*webhook_id),
                )
                .await?;
            }
        }
        tx.commit().await
    }

    async fn list_deliveries(
        &self,
        webhook_id: i64,
        status: Option<DeliveryStatus>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let rows: Vec<DeliveryRow> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT id, webhook_id, event_id, status, attempts, next_attempt_at, \
                 last_status, last_error, created_at, delivered_at FROM webhook_deliveries \
                 WHERE webhook_id = $1 AND id < $2 AND ($3 = '' OR status = $3) \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(webhook_id)
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(status.map(|s| s.as_str()).unwrap_or(""))
            .bind(limit as i64)
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }

    async fn replay_deliveries(
        &self,
        webhook_id: i64,
        delivery_id: Option<i64>,
    ) -> StoreResult<u64> {
        let now = now_ms();
        Ok(on_db!(self.pools.write(), |p| {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, \
                 next_attempt_at = $1, created_at = $1 \
                 WHERE webhook_id = $2 AND status = 'dead' AND ($3 < 0 OR id = $3)",
            )
            .bind(now)
            .bind(webhook_id)
            .bind(delivery_id.unwrap_or(-1))
            .execute(p)
            .await?
            .rows_affected()
        }))
    }
}
