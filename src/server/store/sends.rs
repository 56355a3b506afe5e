//! Send records: one per recipient of every message optbox relays, written with its relay
//! queue row. A returning bounce, complaint or unsubscribe mail is matched to one by its
//! compact id, and events that a message caused cite its `message_id`.

use super::db::{Conn, on_db};
use super::{SqlStore, StoreError, StoreResult};
use serde::Serialize;

/// What a send record holds besides its message and recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SendInfo {
    /// The contact list and topic of a list-managed message.
    pub list_name: Option<String>,
    pub topic_name: Option<String>,
    /// The sending identity: the From address's domain.
    pub identity: Option<String>,
    /// SES `ConfigurationSetName`, when the sender gave one.
    pub configuration_set: Option<String>,
    /// SES `EmailTags` (name, value), when the sender gave them.
    pub tags: Vec<(String, String)>,
}

/// One recipient of one relayed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendRecord {
    /// The compact id returning mail is matched by.
    pub id: i64,
    pub message_id: String,
    pub rcpt: String,
    pub info: SendInfo,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    message_id: String,
    rcpt: String,
    list_name: Option<String>,
    topic_name: Option<String>,
    identity: Option<String>,
    configuration_set: Option<String>,
    tags: String,
    created_at: i64,
}

impl TryFrom<Row> for SendRecord {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        let tags = serde_json::from_str(&r.tags).map_err(|e| StoreError::Corrupt {
            what: "send record tags".into(),
            source: Some(std::sync::Arc::new(e)),
        })?;
        Ok(SendRecord {
            id: r.id,
            message_id: r.message_id,
            rcpt: r.rcpt,
            info: SendInfo {
                list_name: r.list_name,
                topic_name: r.topic_name,
                identity: r.identity,
                configuration_set: r.configuration_set,
                tags,
            },
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str = "id, message_id, rcpt, list_name, topic_name, identity, \
     configuration_set, tags, created_at";

/// Writes a send record under the id the pipeline chose for it (its issued addresses
/// carry it), in the caller's transaction, and returns the id.
pub(super) async fn insert(
    c: Conn<'_>,
    id: i64,
    message_id: &str,
    rcpt: &str,
    info: &SendInfo,
    now: i64,
) -> StoreResult<i64> {
    let tags = serde_json::to_string(&info.tags).expect("strings serialise");
    Ok(on_db!(c, |c| {
        sqlx::query_scalar(
            "INSERT INTO send_records (id, message_id, rcpt, list_name, topic_name, identity, \
             configuration_set, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id",
        )
        .bind(id)
        .bind(message_id)
        .bind(rcpt)
        .bind(info.list_name.as_deref())
        .bind(info.topic_name.as_deref())
        .bind(info.identity.as_deref())
        .bind(info.configuration_set.as_deref())
        .bind(&tags)
        .bind(now)
        .fetch_one(c)
        .await?
    }))
}

/// Reading send records; a part of `Store`.
#[async_trait::async_trait]
pub trait SendStore {
    /// One record by its compact id.
    async fn get_send_record(&self, id: i64) -> StoreResult<SendRecord>;
    /// The records of one message (one per recipient), oldest first, then by recipient (ids are random).
    async fn send_records_of(&self, message_id: &str) -> StoreResult<Vec<SendRecord>>;
    /// The records of these ids that exist, in no particular order.
    async fn send_records_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<SendRecord>>;
}

#[async_trait::async_trait]
impl SendStore for SqlStore {
    async fn get_send_record(&self, id: i64) -> StoreResult<SendRecord> {
        let sql = format!("SELECT {COLUMNS} FROM send_records WHERE id = $1");
        let row: Option<Row> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    async fn send_records_of(&self, message_id: &str) -> StoreResult<Vec<SendRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM send_records WHERE message_id = $1 ORDER BY created_at, rcpt, id"
        );
        let rows: Vec<Row> = on_db!(self.pools.read(), |p| {
            sqlx::query_as(&sql).bind(message_id).fetch_all(p).await?
        });
        rows.into_iter().map(SendRecord::try_from).collect()
    }

    async fn send_records_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<SendRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {COLUMNS} FROM send_records WHERE id IN ({})",
                super::sql::placeholders(1, chunk.len())
            );
            let rows: Vec<Row> = on_db!(self.pools.read(), |p| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(p).await?
            });
            for r in rows {
                out.push(SendRecord::try_from(r)?);
            }
        }
        Ok(out)
    }
}
