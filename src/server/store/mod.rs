//! Persistence: the `Store` trait, its error type, and the one store over SQLite or
//! PostgreSQL, chosen by URL (`sqlite:` or `postgres://`). All SQL of the application
//! lives below this module, one file per aggregate, each with its part of `Store`:
//!
//! | file | part | what |
//! |---|---|---|
//! | `lists.rs` | [`ListStore`] | lists, their topics and tags; the recipient path's list cache |
//! | `contacts.rs` | [`ContactStore`] | contacts, their preferences, filtered listings |
//! | `opt_outs.rs` | [`OptOutStore`] | tombstones (under keyed hashes), batches of RFC 8058 opt-outs |
//! | `one_click/` | [`OneClickStore`] | the one-click intake: group commit, or the SQLite log and its applier; the opt-outs readers wait for |
//! | `events.rs` | [`EventStore`] | the event log (every change writes its event and webhook deliveries) |
//! | `accounts.rs` | [`AccountStore`] | dashboard users and their sessions |
//! | `admin.rs` | [`AdminStore`] | sign-in attempts, counted across instances |
//! | `api_keys.rs` | [`ApiKeyStore`] | SES-API credentials |
//! | `import.rs` | [`ImportStore`] | import jobs and their batches |
//! | `webhooks.rs` | [`WebhookStore`] | webhook destinations and their delivery outbox |
//! | `mail_queue.rs` | [`MailQueueStore`] | the relay queue |
//! | `outbox.rs` | | how both outboxes (webhook deliveries, the relay queue) are claimed under a lease and settled |
//! | `mail.rs` | [`MailStore`] | DKIM keys, the sending pipeline's events |
//! | `logos.rs` | [`LogoStore`] | list logos |
//! | `sends.rs` | [`SendStore`] | send records: one per recipient of every relayed message |
//! | `templates.rs` | [`TemplateStore`] | SES stored email templates |
//! | `identities.rs` | [`IdentityStore`] | SES sending identities |
//! | `configuration_sets.rs` | [`ConfigurationSetStore`] | SES configuration sets and event destinations |
//! | `suppressions.rs` | [`SuppressionStore`] | the account suppression list, the relay's breaker |
//! | `privacy.rs` | [`PrivacyStore`] | data-subject access and erasure, retention pruning |
//! | `recipient.rs` | [`RecipientStore`] | pauses, the lists of an address, the requests public pages mail links for |
//! | `copy.rs` | | `optbox copy`: a stopped SQLite database into an empty PostgreSQL one |
//! | `system.rs` | [`SystemStore`] | the engine, liveness, statistics, server secrets, start and stop |
//!
//! `db.rs` has the store type and how one body of SQL code runs on either backend;
//! `sqlite.rs` and `postgres.rs` open each (pools, pragmas, migrations) and hold the
//! statements that differ; `sql.rs` has small shared helpers.

mod accounts;
mod admin;
mod api_keys;
mod configuration_sets;
mod contact_key;
mod contacts;
pub mod copy;
mod db;
mod events;
mod identities;
mod import;
mod lists;
mod logos;
mod mail;
mod mail_queue;
pub mod one_click;
mod opt_outs;
mod outbox;
mod postgres;
mod privacy;
mod recipient;
mod seals;
mod sends;
mod sql;
mod sqlite;
mod sqlite_inline;
mod suppressions;
mod system;
mod templates;
mod webhooks;

use crate::domain::EmailAddress;
use std::sync::Arc;

pub use crate::domain::{Audit, Source};
pub use accounts::{AccountStore, SessionBackend, UserRecord};
pub use admin::{AdminStore, FailureCounts};
pub use api_keys::{ApiKeyRecord, ApiKeyStore};
pub use configuration_sets::{
    ConfigurationSetRecord, ConfigurationSetStore, DestinationSpec, EventDestinationRecord,
};
pub use contacts::{ContactChange, ContactFilter, ContactStore, NewContact, PrefMode, TopicFilter};
pub use events::{EventQuery, EventRecord, EventStore};
pub use identities::{IdentityRecord, IdentityStore};
pub use import::{
    BatchProgress, ImportAction, ImportCounts, ImportDestination, ImportJob, ImportRow,
    ImportStore, JobStatus, Predecessor,
};
use lists::ListCache;
pub use lists::{LIST_CACHE_TTL, ListStats, ListStore, ListSummary};
pub use logos::{ListLogo, LogoStore};
pub use mail::{DkimKeyRecord, MailEvent, MailStore, SubmissionEvents};
pub use mail_queue::{ClaimedMail, MailOutcome, MailQueueStore, MailRecord, MailState, NewMail};
pub use one_click::{OneClickLogError, OneClickStore};
pub use opt_outs::{OptOut, OptOutStore};
pub use privacy::{Erasure, PrivacyStore, Pruned, SubjectMessage, SubjectSend};
pub use recipient::{NewRequest, RecipientStore, StoredRequest};
pub use seals::{BrokenSeal, ChainHead, SealProof, SealStore, Verification};
pub use sends::{SendInfo, SendRecord, SendStore};
pub use suppressions::{NewSuppression, Suppression, SuppressionQuery, SuppressionStore};
pub use system::{Gauges, SystemStore};
pub use templates::{TemplateContent, TemplateRecord, TemplateStore};
pub use webhooks::{
    ClaimedDelivery, DeliveryOutcome, DeliveryRecord, DeliveryStatus, NewWebhook, WebhookRecord,
    WebhookStore,
};

/// Storage errors, in kinds callers can act on; each keeps its cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Conflict,
    #[error("limit reached")]
    LimitReached,
    /// An operation this store will not do, and why (a backup of PostgreSQL, a backup
    /// over an existing file).
    #[error("{0}")]
    Refused(String),
    /// Worth trying again: the database cannot be reached now, or acknowledged one-click
    /// opt-outs are still being applied.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Unavailable),
    /// Any other error the database returned.
    #[error("storage error: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// An error of a SQLite read off sqlx (`sqlite_inline`).
    #[error("storage error: {0}")]
    Inline(#[source] Arc<rusqlite::Error>),
    /// A stored value this version cannot read or use.
    #[error("corrupt {what} in the database")]
    Corrupt {
        what: std::borrow::Cow<'static, str>,
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// An import batch did not commit because the batch before it failed.
    #[error("import job {job_id}: the batch before line {line} failed")]
    ImportBatchBefore { job_id: String, line: u64 },
    /// An import batch did not commit because the job's progress was not where it
    /// followed on.
    #[error(
        "import job {job_id}: the batch after line {after_line} found the job elsewhere \
         (the batch before it failed, or another process runs the job)"
    )]
    ImportJobElsewhere { job_id: String, after_line: u64 },
}

/// Why the store is unavailable for now.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// The database went away, is starting or stopping, or the pool is exhausted.
    #[error(transparent)]
    Database(Arc<sqlx::Error>),
    #[error("one-click opt-outs are still being applied; try again")]
    Settling,
    #[error("the one-click writer has stopped")]
    OneClickStopped,
    #[error("the mail queue's writer has stopped")]
    MailWriterStopped,
    #[error("the one-click log is not accepting writes")]
    LogClosed,
    #[error("the one-click log: {what}: {source}")]
    Log {
        what: &'static str,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A stored value this version cannot read or use, and why (when known).
    pub fn corrupt<E>(what: impl Into<std::borrow::Cow<'static, str>>, source: Option<E>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        StoreError::Corrupt {
            what: what.into(),
            source: source.map(|e| Arc::new(e) as Arc<dyn std::error::Error + Send + Sync>),
        }
    }

    /// A stored value this version cannot read or use, with no further cause.
    pub fn unreadable(what: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            source: None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let unavailable = match &e {
            sqlx::Error::RowNotFound => return StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => return StoreError::Conflict,
            // PostgreSQL going away: connection exceptions (08xxx) and operator
            // intervention (57P01 shutdown, 57P02 crash, 57P03 starting up).
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => true,
            _ => false,
        };
        if unavailable {
            StoreError::Unavailable(Unavailable::Database(Arc::new(e)))
        } else {
            StoreError::Database(Arc::new(e))
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// `NotFound` unless a write changed a row (`n` rows changed).
pub(crate) fn found(n: u64) -> StoreResult<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// `Conflict` unless an insert that skips an existing row added one (`n` rows added).
pub(crate) fn unique(n: u64) -> StoreResult<()> {
    if n == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store: SQLite or PostgreSQL, chosen by URL, behind every part of
/// [`Store`]. Each aggregate's file implements its part for it.
pub struct SqlStore {
    pub(crate) pools: db::Pools,
    /// Lists read on the recipient path (`ListStore::get_list_cached`).
    pub(crate) lists: ListCache,
    /// One-click opt-outs: their intake and the ones acknowledged but not yet applied.
    pub(crate) one_click: one_click::OneClick,
    /// SQLite's group commit of submissions to the relay queue.
    pub(crate) mail_intake: mail_queue::MailIntake,
    /// The SQLite database file (`None` in memory and on PostgreSQL).
    pub(crate) file: Option<std::path::PathBuf>,
    /// The recipient pages' point reads of a SQLite file, off sqlx (`sqlite_inline`).
    pub(crate) inline: Option<sqlite_inline::InlineReads>,
    /// SQLite's WAL checkpointer; it stops with the store (held for its `Drop`).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) checkpointer: Option<sqlite::Checkpointer>,
}

/// Everything optbox persists: the parts, one per aggregate (see the module
/// documentation). [`SqlStore`] is the one implementation, on either backend; both
/// backends pass the same conformance suite (`tests/store_conformance.rs`).
pub trait Store:
    SystemStore
    + ListStore
    + ContactStore
    + OptOutStore
    + OneClickStore
    + EventStore
    + AccountStore
    + AdminStore
    + ApiKeyStore
    + ImportStore
    + WebhookStore
    + MailQueueStore
    + MailStore
    + LogoStore
    + SendStore
    + SuppressionStore
    + TemplateStore
    + IdentityStore
    + ConfigurationSetStore
    + PrivacyStore
    + SealStore
    + RecipientStore
    + Send
    + Sync
    + 'static
{
}

impl Store for SqlStore {}

/// A shared handle to the configured store.
pub type DynStore = Arc<dyn Store>;

/// The SHA-256 of an address's matching key: how contacts and tokens identify an
/// address without holding it. Tombstones hold only its keyed form
/// (`ContactKeyer::tombstone`).
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
    #[error("cannot open the database at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot apply migrations to {url}: {source}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot prepare the keyed hashes of {url}: {source}")]
    Prepare {
        url: String,
        #[source]
        source: StoreError,
    },
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
/// `sqlite:` and `postgres:`/`postgresql:` is refused. Background work a server needs
/// (the one-click log on SQLite) starts with [`SystemStore::start`].
pub async fn open(url: &str, migrate: bool) -> Result<DynStore, OpenError> {
    let store = if url.starts_with("sqlite:") {
        sqlite::open(url, migrate).await?
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres::open(url, migrate).await?
    } else {
        return Err(OpenError::Scheme(redact_url(url)));
    };
    prepare(&store).await.map_err(|source| OpenError::Prepare {
        url: redact_url(url),
        source,
    })?;
    Ok(Arc::new(store))
}

/// What an opened store does before anything else uses it: loads the key of its keyed
/// hashes (made on first use), and moves what older versions kept unkeyed under it (the
/// addresses of old events, tombstones written before they were keyed).
pub(crate) async fn prepare(store: &SqlStore) -> StoreResult<()> {
    events::prepare(store).await?;
    let moved = opt_outs::key_unkeyed(&store.pools).await?;
    if moved > 0 {
        tracing::info!(tombstones = moved, "tombstones keyed");
    }
    Ok(())
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

    #[test]
    fn errors_keep_their_cause() {
        use std::error::Error as _;
        let e = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(e, StoreError::Unavailable(_)));
        assert!(e.to_string().starts_with("database unavailable: "));
        let e = StoreError::from(sqlx::Error::Protocol("bad".into()));
        let cause = e.source().expect("the sqlx error");
        assert!(cause.downcast_ref::<Arc<sqlx::Error>>().is_some());
        let json = serde_json::from_str::<Vec<String>>("{").unwrap_err();
        let e = StoreError::corrupt("tags", Some(json));
        assert_eq!(e.to_string(), "corrupt tags in the database");
        assert!(e.source().is_some());
    }
}
