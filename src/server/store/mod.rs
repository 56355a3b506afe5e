//! Persistence: the `Store` trait, its error type, and the two backends chosen by URL
//! (`sqlite:` or `postgres://`). All SQL of the application lives below this module.

mod admin;
mod import;
mod logos;
mod mail;
mod mail_queue;
pub mod pending;
mod postgres;
mod shared;
pub use shared::LIST_CACHE_TTL;
mod sqlite;
mod webhooks;

use crate::domain::{
    Contact, ContactList, EmailAddress, ListDefinition, SubscriptionStatus, Tombstone, TopicName,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::domain::{Audit, Source};
pub use admin::{AdminStore, FailureCounts};
pub use import::{
    BatchProgress, ImportAction, ImportCounts, ImportJob, ImportRow, JobStatus, Predecessor,
};
pub use logos::{ListLogo, LogoStore};
pub use mail::{DkimKeyRecord, MailEvent, MailStore};
pub use mail_queue::{ClaimedMail, MailOutcome, MailQueueStore, MailRecord, MailState, NewMail};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use webhooks::{
    ClaimedDelivery, DeliveryOutcome, DeliveryRecord, DeliveryStatus, EventQuery, NewWebhook,
    WebhookRecord, WebhookStore,
};

/// Storage errors, in kinds callers can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Conflict,
    #[error("limit reached")]
    LimitReached,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict,
            // PostgreSQL going away: connection exceptions (08xxx) and operator
            // intervention (57P01 shutdown, 57P02 crash, 57P03 starting up).
            sqlx::Error::Database(d)
                if d.code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Other(e.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How a preference update treats topics it does not mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefMode {
    /// Topics not mentioned keep their explicit preference.
    Merge,
    /// Topics not mentioned lose their explicit preference.
    Replace,
}

/// A change to a contact. `None` fields are left as they are.
#[derive(Debug, Clone)]
pub struct ContactChange {
    pub unsubscribe_all: Option<bool>,
    pub preferences: Option<(PrefMode, Vec<(TopicName, SubscriptionStatus)>)>,
    pub attributes: Option<String>,
}

/// A new contact.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub email: EmailAddress,
    pub unsubscribe_all: bool,
    pub preferences: Vec<(TopicName, SubscriptionStatus)>,
    pub attributes: String,
}

/// ListContacts filtering, in terms of effective status.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub status: Option<SubscriptionStatus>,
    pub topic: Option<TopicFilter>,
    /// Only addresses whose matching key starts with this (admin search). Such a
    /// listing is in matching-key order and pages with `after_key`, not the id.
    pub email_prefix: Option<String>,
    /// With `email_prefix`: only keys after this one (the last key of the previous page).
    pub after_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TopicFilter {
    pub topic: TopicName,
    /// With true, the topic default stands in for a missing explicit preference; with
    /// false only contacts with an explicit preference are considered.
    pub use_default: bool,
}

/// An entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: i64,
    pub created_at: i64,
    pub kind: String,
    pub source: Option<String>,
    pub list_name: Option<String>,
    pub topic_name: Option<String>,
    pub contact_email: Option<String>,
    pub old_prefs: Option<String>,
    pub new_prefs: Option<String>,
    pub ip_hash: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
}

/// One RFC 8058 opt-out: the token's list, address hash and topic (none: everything).
#[derive(Debug, Clone)]
pub struct OptOut {
    pub list: std::sync::Arc<ContactList>,
    pub hash: Vec<u8>,
    pub topic: Option<TopicName>,
    pub audit: Audit,
}

/// A dashboard user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: i64,
    /// A session is valid only while it holds this value: it changes when the role
    /// changes, and a new user starts at a random one.
    pub session_epoch: i64,
}

/// An SES-API credential. The secret is derived from the salt and the server's
/// `api_key_master`, never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub access_key_id: String,
    pub salt: Vec<u8>,
    pub description: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A list with its topic and contact counts, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStats {
    pub name: String,
    pub topics: i64,
    pub contacts: i64,
}

/// Summary row for list pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSummary {
    pub name: String,
    pub updated_at: i64,
}

/// Everything optbox persists. One implementation per backend; both pass the same
/// conformance suite (`tests/store_conformance.rs`).
#[async_trait]
pub trait Store:
    WebhookStore + MailStore + MailQueueStore + AdminStore + LogoStore + Send + Sync + 'static
{
    fn backend(&self) -> Backend;
    /// The admin-session store on the same database.
    fn sessions(&self) -> crate::server::sessions::SessionBackend;
    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Refreshes the planner's statistics of the contact tables (PostgreSQL `ANALYZE`;
    /// nothing on SQLite, whose plans do not depend on them). A bulk import calls it as
    /// a list grows, so lookups keep using the right index.
    async fn refresh_statistics(&self) -> StoreResult<()>;

    /// Creates a list; `max_lists` is the strict-mode cap.
    async fn create_list(
        &self,
        name: &str,
        def: &ListDefinition,
        max_lists: Option<u32>,
    ) -> StoreResult<ContactList>;
    async fn get_list(&self, name: &str) -> StoreResult<ContactList>;
    /// `get_list` for the recipient path: may answer from memory, at most
    /// `LIST_CACHE_TTL` old for changes made by other processes (changes through this
    /// store are seen at once).
    async fn get_list_cached(&self, name: &str) -> StoreResult<std::sync::Arc<ContactList>>;
    async fn get_list_by_id(&self, id: i64) -> StoreResult<ContactList>;
    /// Lists in name order after `after`.
    async fn list_lists(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<ListSummary>>;
    /// Replaces description, topics (matched by name, so preferences of kept topics
    /// survive), tags and branding.
    async fn update_list(&self, name: &str, def: &ListDefinition) -> StoreResult<ContactList>;
    async fn delete_list(&self, name: &str) -> StoreResult<()>;
    async fn count_contacts(&self, list_id: i64) -> StoreResult<i64>;
    /// Lists in name order with topic and contact counts, in one query.
    async fn list_stats(&self, limit: u32) -> StoreResult<Vec<ListStats>>;

    /// Adds a contact; a tombstone for the address re-applies its opt-outs.
    async fn create_contact(
        &self,
        list: &ContactList,
        new: &NewContact,
        audit: &Audit,
    ) -> StoreResult<Contact>;
    async fn get_contact(&self, list: &ContactList, email: &EmailAddress) -> StoreResult<Contact>;
    async fn get_contact_by_hash(&self, list: &ContactList, hash: &[u8]) -> StoreResult<Contact>;
    /// Applies a change and, when preferences changed, writes a subscription event in the
    /// same transaction. Returns the contact before and after.
    async fn update_contact(
        &self,
        list: &ContactList,
        email: &EmailAddress,
        change: &ContactChange,
        audit: &Audit,
    ) -> StoreResult<(Contact, Contact)>;
    /// Deletes a contact, keeping a tombstone of its opt-outs.
    async fn delete_contact(
        &self,
        list: &ContactList,
        email: &EmailAddress,
        audit: &Audit,
    ) -> StoreResult<()>;
    /// Keyset-paged listing in id order after `after_id` (with an address prefix: in
    /// matching-key order after `filter.after_key`).
    async fn list_contacts(
        &self,
        list: &ContactList,
        filter: &ContactFilter,
        after_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Contact>>;
    async fn get_tombstone(
        &self,
        list: &ContactList,
        hash: &[u8],
    ) -> StoreResult<Option<Tombstone>>;
    /// Records an opt-out for an address that has no contact (merged into any tombstone).
    async fn record_tombstone(
        &self,
        list: &ContactList,
        hash: &[u8],
        tomb: &Tombstone,
        audit: &Audit,
    ) -> StoreResult<()>;

    /// Applies many opt-outs in one transaction (group commit: one durable commit for the
    /// batch); each item succeeds or fails on its own. The outer error means nothing was
    /// committed. `log_seq`: the one-click log's sequence number of the last item,
    /// recorded in the same transaction (see [`Store::one_click_log_applied`]).
    async fn apply_opt_outs(
        &self,
        items: &[OptOut],
        log_seq: Option<u64>,
    ) -> StoreResult<Vec<StoreResult<()>>>;

    /// How far the one-click log has been applied (0 when never).
    async fn one_click_log_applied(&self) -> StoreResult<u64>;

    /// Opt-outs acknowledged by the one-click log but not yet applied; the store waits
    /// for them before reading the contacts they touch.
    fn pending(&self) -> &std::sync::Arc<pending::Pending>;

    /// The database file (SQLite on disk), beside which the one-click log lives.
    fn database_file(&self) -> Option<&std::path::Path> {
        None
    }

    async fn list_events(
        &self,
        list_name: Option<&str>,
        kind: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>>;

    async fn create_user(
        &self,
        email: &str,
        role: &str,
        password_hash: &str,
    ) -> StoreResult<UserRecord>;
    async fn get_user_by_email(&self, email: &str) -> StoreResult<UserRecord>;
    async fn get_user(&self, id: i64) -> StoreResult<UserRecord>;
    async fn count_users(&self) -> StoreResult<i64>;

    /// Replaces a list's tags (TagResource / UntagResource).
    async fn set_list_tags(&self, name: &str, tags: &[crate::domain::Tag]) -> StoreResult<()>;

    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key, revoked or not.
    async fn get_api_key(&self, access_key_id: &str) -> StoreResult<ApiKeyRecord>;
    /// All keys, newest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Marks a key revoked; `NotFound` when there is no such unrevoked key.
    async fn revoke_api_key(&self, access_key_id: &str) -> StoreResult<()>;

    // ---- bulk import (see `import.rs`) ----
    async fn create_import_job(&self, job: &ImportJob) -> StoreResult<()>;
    async fn get_import_job(&self, job_id: &str) -> StoreResult<ImportJob>;
    /// Jobs newest first, with their row ids for keyset paging (`before` an id).
    async fn list_import_jobs(
        &self,
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
    /// Marks a job finished and writes its `import` event, in one transaction.
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
    async fn finish_import_job(
        &self,
        job_id: &str,
        status: JobStatus,
        error: Option<&str>,
        audit: &Audit,
    ) -> StoreResult<ImportJob>;

    /// Returns the secret stored under `name`, storing `candidate` first if there is none.
    /// Concurrent callers all get the same value.
    async fn secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
}

/// A shared handle to the configured store.
pub type DynStore = Arc<dyn Store>;

/// The SHA-256 of an address's matching key: how tokens and tombstones identify a
/// contact without holding the address.
pub fn email_hash(email: &EmailAddress) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"optbox-email-v1:");
    h.update(email.key().as_bytes());
    h.finalize()[..16].to_vec()
}

/// Now, in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Errors opening a store, each a one-line message for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "unsupported database URL scheme in {0:?}: use sqlite://PATH or postgres://USER@HOST/DB"
    )]
    Scheme(String),
    #[error("cannot open the database at {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("cannot apply migrations to {url}: {cause}")]
    Migrate { url: String, cause: String },
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Opens the store a URL names and applies pending migrations. Any scheme other than
/// `sqlite:` and `postgres:`/`postgresql:` is refused.
pub async fn open(url: &str, migrate: bool) -> Result<DynStore, OpenError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, migrate).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, migrate).await?))
    } else {
        Err(OpenError::Scheme(redact_url(url)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn email_hashes_follow_the_matching_key() {
        let a = EmailAddress::parse("Ann@EXAMPLE.com").unwrap();
        let b = EmailAddress::parse("Ann@example.com").unwrap();
        let c = EmailAddress::parse("ann@example.com").unwrap();
        assert_eq!(email_hash(&a), email_hash(&b));
        assert_ne!(email_hash(&a), email_hash(&c));
        assert_eq!(email_hash(&a).len(), 16);
    }
}
