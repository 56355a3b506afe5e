//! SES configuration sets (`configuration_sets`) and their event destinations
//! (`event_destinations`, each naming an optbox webhook). Routing events to the
//! destinations is part of writing an event (`events.rs`). The service checks names and
//! options before anything gets here.

use super::db::on_db;
use super::{SqlStore, StoreError, StoreResult, now_ms};
use crate::domain::SuppressionReason;
use crate::server::store::{found, unique};

/// A configuration set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationSetRecord {
    pub name: String,
    /// The option objects as the sender gave them (a JSON object; GetConfigurationSet
    /// answers with them), without SuppressionOptions and SendingOptions, which are kept
    /// apart below.
    pub options: String,
    pub tags: Vec<(String, String)>,
    /// The suppression reasons that apply to this set's messages; `None` leaves it to
    /// the account (every reason).
    pub suppressed_reasons: Option<Vec<SuppressionReason>>,
    pub sending_enabled: bool,
    pub created_at: i64,
}

/// An event destination of a configuration set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDestinationRecord {
    pub configuration_set: String,
    pub name: String,
    pub enabled: bool,
    /// SES event types (`SEND`, `BOUNCE`, …).
    pub event_types: Vec<String>,
    pub webhook_id: i64,
    /// The destination as the sender named it (`SnsDestination.TopicArn`).
    pub topic_arn: String,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct SetRow {
    name: String,
    options: String,
    tags: String,
    suppressed_reasons: Option<String>,
    sending_enabled: i64,
    created_at: i64,
}

fn corrupt(what: &'static str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        source: Some(std::sync::Arc::new(e)),
    }
}

impl TryFrom<SetRow> for ConfigurationSetRecord {
    type Error = StoreError;
    fn try_from(r: SetRow) -> StoreResult<Self> {
        let tags =
            serde_json::from_str(&r.tags).map_err(|e| corrupt("configuration set tags", e))?;
        let suppressed_reasons = match r.suppressed_reasons {
            None => None,
            Some(s) => {
                let names: Vec<String> = serde_json::from_str(&s)
                    .map_err(|e| corrupt("configuration set suppression reasons", e))?;
                Some(
                    names
                        .iter()
                        .filter_map(|n| SuppressionReason::parse(n))
                        .collect(),
                )
            }
        };
        Ok(ConfigurationSetRecord {
            name: r.name,
            options: r.options,
            tags,
            suppressed_reasons,
            sending_enabled: r.sending_enabled != 0,
            created_at: r.created_at,
        })
    }
}

fn reasons_json(r: &Option<Vec<SuppressionReason>>) -> Option<String> {
    r.as_ref().map(|v| {
        serde_json::to_string(&v.iter().map(|x| x.as_str()).collect::<Vec<_>>())
            .expect("strings serialise")
    })
}

#[derive(sqlx::FromRow)]
struct DestRow {
    configuration_set: String,
    name: String,
    enabled: i64,
    event_types: String,
    webhook_id: i64,
    topic_arn: String,
    created_at: i64,
}

impl From<DestRow> for EventDestinationRecord {
    fn from(r: DestRow) -> Self {
        EventDestinationRecord {
            configuration_set: r.configuration_set,
            name: r.name,
            enabled: r.enabled != 0,
            event_types: r
                .event_types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            webhook_id: r.webhook_id,
            topic_arn: r.topic_arn,
            created_at: r.created_at,
        }
    }
}

/// What an event destination routes, and where.
#[derive(Debug, Clone)]
pub struct DestinationSpec<'a> {
    pub enabled: bool,
    pub event_types: &'a [String],
    pub webhook_id: i64,
    pub topic_arn: &'a str,
}

/// Configuration-set storage; a part of `Store`.
#[async_trait::async_trait]
pub trait ConfigurationSetStore {
    /// `Conflict` when a set of that name exists; `LimitReached` when `max` exist.
    async fn create_configuration_set(
        &self,
        set: &ConfigurationSetRecord,
        max: u32,
    ) -> StoreResult<()>;
    async fn get_configuration_set(&self, name: &str) -> StoreResult<ConfigurationSetRecord>;
    /// By name, after `after`.
    async fn list_configuration_sets(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ConfigurationSetRecord>>;
    /// False when there was no such set; its event destinations go with it.
    async fn delete_configuration_set(&self, name: &str) -> StoreResult<bool>;
    /// Changes the suppression reasons (`Some`) and/or sending (`Some`); `NotFound`
    /// when there is no such set.
    async fn update_configuration_set(
        &self,
        name: &str,
        suppressed_reasons: Option<Option<Vec<SuppressionReason>>>,
        sending_enabled: Option<bool>,
    ) -> StoreResult<()>;
    /// Creates (`create`) or replaces an event destination: `NotFound` when the set (or,
    /// replacing, the destination) does not exist, `Conflict` when creating one that does.
    async fn put_event_destination(
        &self,
        set: &str,
        name: &str,
        spec: &DestinationSpec<'_>,
        create: bool,
        max: u32,
    ) -> StoreResult<()>;
    async fn list_event_destinations(&self, set: &str) -> StoreResult<Vec<EventDestinationRecord>>;
    /// False when there was no such destination.
    async fn delete_event_destination(&self, set: &str, name: &str) -> StoreResult<bool>;
    /// Every event destination as (webhook id, configuration set, destination name).
    async fn webhook_routes(&self) -> StoreResult<Vec<(i64, String, String)>>;
}

const SET_COLUMNS: &str = "name, options, tags, suppressed_reasons, sending_enabled, created_at";

#[async_trait::async_trait]
impl ConfigurationSetStore for SqlStore {
    async fn create_configuration_set(
        &self,
        set: &ConfigurationSetRecord,
        max: u32,
    ) -> StoreResult<()> {
        let mut tx = self.pools.write().begin().await?;
        let n: i64 = on_db!(tx.conn(), |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM configuration_sets")
                .fetch_one(c)
                .await?
        });
        if n >= max as i64 {
            return Err(StoreError::LimitReached);
        }
        let tags = serde_json::to_string(&set.tags).expect("strings serialise");
        let inserted: u64 = on_db!(tx.conn(), |c| {
            sqlx::query(
                "INSERT INTO configuration_sets (name, options, tags, suppressed_reasons, \
                 sending_enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&set.name)
            .bind(&set.options)
            .bind(&tags)
            .bind(reasons_json(&set.suppressed_reasons))
            .bind(set.sending_enabled as i64)
            .bind(now_ms())
            .execute(c)
            .await?
            .rows_affected()
        });
        unique(inserted)?;
        tx.commit().await
    }

    async fn get_configuration_set(&self, name: &str) -> StoreResult<ConfigurationSetRecord> {
        let sql = format!("SELECT {SET_COLUMNS} FROM configuration_sets WHERE name = $1");
        let row: Option<SetRow> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql).bind(name).fetch_optional(p).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    async fn list_configuration_sets(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ConfigurationSetRecord>> {
        let sql = format!(
            "SELECT {SET_COLUMNS} FROM configuration_sets WHERE name > $1 ORDER BY name LIMIT $2"
        );
        let rows: Vec<SetRow> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql)
                .bind(after.unwrap_or(""))
                .bind(limit.clamp(1, 1000) as i64)
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn delete_configuration_set(&self, name: &str) -> StoreResult<bool> {
        let mut tx = self.pools.write().begin().await?;
        // Identities that used it as their default go back to none.
        on_db!(tx.conn(), |c| {
            sqlx::query(
                "UPDATE email_identities SET configuration_set = NULL WHERE configuration_set = $1",
            )
            .bind(name)
            .execute(c)
            .await?;
        });
        on_db!(tx.conn(), |c| {
            sqlx::query("DELETE FROM event_destinations WHERE configuration_set = $1")
                .bind(name)
                .execute(c)
                .await?;
        });
        let n: u64 = on_db!(tx.conn(), |c| {
            sqlx::query("DELETE FROM configuration_sets WHERE name = $1")
                .bind(name)
                .execute(c)
                .await?
                .rows_affected()
        });
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn update_configuration_set(
        &self,
        name: &str,
        suppressed_reasons: Option<Option<Vec<SuppressionReason>>>,
        sending_enabled: Option<bool>,
    ) -> StoreResult<()> {
        let current = self.get_configuration_set(name).await?;
        let reasons = suppressed_reasons.unwrap_or(current.suppressed_reasons);
        let sending = sending_enabled.unwrap_or(current.sending_enabled);
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query(
                "UPDATE configuration_sets SET suppressed_reasons = $2, sending_enabled = $3 \
                 WHERE name = $1",
            )
            .bind(name)
            .bind(reasons_json(&reasons))
            .bind(sending as i64)
            .execute(p)
            .await?
            .rows_affected()
        });
        found(n)
    }

    async fn put_event_destination(
        &self,
        set: &str,
        name: &str,
        spec: &DestinationSpec<'_>,
        create: bool,
        max: u32,
    ) -> StoreResult<()> {
        let types = format!(",{},", spec.event_types.join(","));
        let mut tx = self.pools.write().begin().await?;
        let exists: Option<String> = on_db!(tx.conn(), |c| {
            sqlx::query_scalar("SELECT name FROM configuration_sets WHERE name = $1")
                .bind(set)
                .fetch_optional(c)
                .await?
        });
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let n: u64 = if create {
            let count: i64 = on_db!(tx.conn(), |c| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM event_destinations WHERE configuration_set = $1",
                )
                .bind(set)
                .fetch_one(c)
                .await?
            });
            if count >= max as i64 {
                return Err(StoreError::LimitReached);
            }
            on_db!(tx.conn(), |c| {
                sqlx::query(
                    "INSERT INTO event_destinations (configuration_set, name, enabled, \
                     event_types, webhook_id, topic_arn, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (configuration_set, name) DO NOTHING",
                )
                .bind(set)
                .bind(name)
                .bind(spec.enabled as i64)
                .bind(&types)
                .bind(spec.webhook_id)
                .bind(spec.topic_arn)
                .bind(now_ms())
                .execute(c)
                .await?
                .rows_affected()
            })
        } else {
            on_db!(tx.conn(), |c| {
                sqlx::query(
                    "UPDATE event_destinations SET enabled = $3, event_types = $4, \
                     webhook_id = $5, topic_arn = $6 WHERE configuration_set = $1 AND name = $2",
                )
                .bind(set)
                .bind(name)
                .bind(spec.enabled as i64)
                .bind(&types)
                .bind(spec.webhook_id)
                .bind(spec.topic_arn)
                .execute(c)
                .await?
                .rows_affected()
            })
        };
        if n == 0 {
            return Err(if create {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            });
        }
        tx.commit().await
    }

    async fn list_event_destinations(&self, set: &str) -> StoreResult<Vec<EventDestinationRecord>> {
        let rows: Vec<DestRow> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT configuration_set, name, enabled, event_types, webhook_id, topic_arn, \
                 created_at FROM event_destinations WHERE configuration_set = $1 ORDER BY name",
            )
            .bind(set)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_event_destination(&self, set: &str, name: &str) -> StoreResult<bool> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM event_destinations WHERE configuration_set = $1 AND name = $2")
                .bind(set)
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    async fn webhook_routes(&self) -> StoreResult<Vec<(i64, String, String)>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT webhook_id, configuration_set, name FROM event_destinations \
                 ORDER BY webhook_id, configuration_set, name",
            )
            .fetch_all(p)
            .await?
        }))
    }
}
