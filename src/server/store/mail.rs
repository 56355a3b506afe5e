//! Storage for the sending pipeline: DKIM keys and the pipeline's own events (`send`,
//! `reject`, `send.warning`), which go through the same event log and webhook outbox as
//! every other event.

use super::db::on_db;
use super::events::{self, NewEvent};
use super::{Audit, SqlStore, StoreResult, now_ms};

/// A stored DKIM key.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DkimKeyRecord {
    pub id: i64,
    /// Lower-cased.
    pub domain: String,
    pub selector: String,
    /// `rsa` or `ed25519`.
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for DkimKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKeyRecord")
            .field("id", &self.id)
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// An event the pipeline logs.
#[derive(Debug, Clone)]
pub struct MailEvent<'a> {
    pub kind: &'a str,
    pub list_name: Option<&'a str>,
    pub topic_name: Option<&'a str>,
    pub contact_email: Option<&'a str>,
    pub detail: serde_json::Value,
}

/// One event of a submission: kind, list, topic, contact, detail.
pub type SubmissionEvent = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    serde_json::Value,
);

/// The events of a submission, written with its queue rows (one transaction, one
/// commit): who submitted it, and each event.
#[derive(Debug, Clone)]
pub struct SubmissionEvents {
    pub audit: crate::domain::Audit,
    pub events: Vec<SubmissionEvent>,
}

impl SubmissionEvents {
    pub fn as_events(&self) -> Vec<MailEvent<'_>> {
        self.events
            .iter()
            .map(|(k, l, t, c, d)| MailEvent {
                kind: k,
                list_name: l.as_deref(),
                topic_name: t.as_deref(),
                contact_email: c.as_deref(),
                detail: d.clone(),
            })
            .collect()
    }
}

/// Pipeline storage; a part of `Store`.
#[async_trait::async_trait]
pub trait MailStore {
    /// Stores a key; `Conflict` when the domain already has that selector.
    async fn create_dkim_key(
        &self,
        domain: &str,
        selector: &str,
        algorithm: &str,
        private_key: &[u8],
        public_key: &[u8],
    ) -> StoreResult<DkimKeyRecord>;
    /// Every key, by domain then newest first.
    async fn list_dkim_keys(&self) -> StoreResult<Vec<DkimKeyRecord>>;
    /// The newest key of a domain.
    async fn dkim_key_for(&self, domain: &str) -> StoreResult<Option<DkimKeyRecord>>;
    /// Appends events (with their webhook deliveries) in one transaction.
    async fn log_mail_events(&self, audit: &Audit, events: &[MailEvent<'_>]) -> StoreResult<()>;
}

#[async_trait::async_trait]
impl MailStore for SqlStore {
    async fn create_dkim_key(
        &self,
        domain: &str,
        selector: &str,
        algorithm: &str,
        private_key: &[u8],
        public_key: &[u8],
    ) -> StoreResult<DkimKeyRecord> {
        Ok(on_db!(self.pools.write(), |p| {
            sqlx::query_as(
                "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING id, domain, selector, algorithm, private_key, public_key, created_at",
            )
            .bind(domain.to_ascii_lowercase())
            .bind(selector)
            .bind(algorithm)
            .bind(private_key)
            .bind(public_key)
            .bind(now_ms())
            .fetch_one(p)
            .await?
        }))
    }

    async fn list_dkim_keys(&self) -> StoreResult<Vec<DkimKeyRecord>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as("SELECT * FROM dkim_keys ORDER BY domain, id DESC")
                .fetch_all(p)
                .await?
        }))
    }

    async fn dkim_key_for(&self, domain: &str) -> StoreResult<Option<DkimKeyRecord>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as("SELECT * FROM dkim_keys WHERE domain = $1 ORDER BY id DESC LIMIT 1")
                .bind(domain.to_ascii_lowercase())
                .fetch_optional(p)
                .await?
        }))
    }

    async fn log_mail_events(&self, audit: &Audit, events: &[MailEvent<'_>]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pools.write().begin().await?;
        write_events(tx.conn(), self.pools.keyer(), audit, events).await?;
        tx.commit().await
    }
}

/// Writes the pipeline's events of one submission, in the caller's transaction.
pub(super) async fn write_events(
    mut c: super::db::Conn<'_>,
    keyer: &events::ContactKeyer,
    audit: &Audit,
    list: &[MailEvent<'_>],
) -> StoreResult<()> {
    for e in list {
        events::write(
            c.re(),
            keyer,
            NewEvent::new(e.kind, audit, e.detail.clone())
                .list(e.list_name)
                .topic(e.topic_name)
                .contact(e.contact_email),
        )
        .await?;
    }
    Ok(())
}
