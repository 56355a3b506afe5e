//! Data-subject requests (GDPR Art. 15 and 17) and retention.
//!
//! - [`show`]: everything stored about an address — each list's contact (preferences,
//!   attributes), the opt-outs kept for it, its suppression-list entry, every event
//!   naming it, the messages to it still stored and the send records of its copies.
//! - [`erase`]: removes the address everywhere (`store::PrivacyStore::erase_subject`)
//!   and from the import failure reports on disk; afterwards the address is refused at
//!   sending, and the request itself is a `contact.erased` event.
//! - [`prune`]: the retention schedule (`retention_messages_days`,
//!   `retention_events_days`).

use super::auth::{Actor, Role};
use super::{ServiceError, ServiceResult};
use crate::domain::EmailAddress;
use crate::server::config::RetentionSettings;
use crate::server::store::{
    Audit, DynStore, Erasure, EventRecord, Pruned, Store, StoreError, SubjectMessage, SubjectSend,
    Suppression, email_hash,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One list's contact for the address.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectContact {
    pub list: String,
    pub unsubscribe_all: bool,
    /// Topic name → `OPT_IN` / `OPT_OUT` (explicit choices only).
    pub preferences: BTreeMap<String, String>,
    /// The attributes JSON as stored (empty when none).
    pub attributes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An opt-out kept for the address on a list where it is no contact (a tombstone).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectOptOut {
    pub list: String,
    pub unsubscribe_all: bool,
    pub topics: Vec<String>,
}

/// The address's suppression-list entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectSuppression {
    /// `BOUNCE` or `COMPLAINT`.
    pub reason: String,
    pub updated_at: i64,
    pub message_id: Option<String>,
    pub feedback_id: Option<String>,
}

impl From<Suppression> for SubjectSuppression {
    fn from(s: Suppression) -> Self {
        Self {
            reason: s.reason.as_str().to_owned(),
            updated_at: s.updated_at,
            message_id: s.message_id,
            feedback_id: s.feedback_id,
        }
    }
}

/// Everything stored about an address (the right of access), as `optbox contacts show`
/// prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectReport {
    pub email: String,
    pub contacts: Vec<SubjectContact>,
    pub opt_outs: Vec<SubjectOptOut>,
    pub suppression: Option<SubjectSuppression>,
    pub events: Vec<EventRecord>,
    pub messages: Vec<SubjectMessage>,
    pub sends: Vec<SubjectSend>,
    /// When the address was erased, if it was (epoch ms).
    pub erased_at: Option<i64>,
}

impl SubjectReport {
    /// Nothing is stored about the address.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
            && self.opt_outs.is_empty()
            && self.suppression.is_none()
            && self.events.is_empty()
            && self.messages.is_empty()
            && self.sends.is_empty()
    }
}

pub(super) fn parse(email: &str) -> ServiceResult<EmailAddress> {
    EmailAddress::parse(email.trim())
        .map_err(|_| ServiceError::BadRequest(format!("{:?} is not an email address", email)))
}

/// Everything stored about `email`.
pub async fn show(store: &dyn Store, email: &str) -> ServiceResult<SubjectReport> {
    let email = parse(email)?;
    let hash = email_hash(&email);
    let mut contacts = Vec::new();
    let mut opt_outs = Vec::new();
    let mut names: Vec<String> = Vec::new();
    loop {
        let page = store
            .list_lists(names.last().map(String::as_str), 1000)
            .await?;
        let done = page.len() < 1000;
        names.extend(page.into_iter().map(|l| l.name.to_string()));
        if done {
            break;
        }
    }
    for name in &names {
        let list = match store.get_list(name).await {
            Ok(l) => l,
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        match store.get_contact(&list, &email).await {
            Ok(c) => contacts.push(SubjectContact {
                list: list.name.to_string(),
                unsubscribe_all: c.unsubscribe_all,
                preferences: c
                    .preferences
                    .iter()
                    .map(|p| (p.topic.to_string(), p.status.as_api().to_owned()))
                    .collect(),
                attributes: c.attributes.clone(),
                created_at: c.created_at,
                updated_at: c.updated_at,
            }),
            Err(StoreError::NotFound) => {
                if let Some(t) = store.get_tombstone(&list, &hash).await? {
                    opt_outs.push(SubjectOptOut {
                        list: list.name.to_string(),
                        unsubscribe_all: t.unsubscribe_all,
                        topics: t.opted_out_topics.iter().map(|t| t.to_string()).collect(),
                    });
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let suppression = store
        .get_suppression(&email.as_str().to_ascii_lowercase())
        .await?
        .map(SubjectSuppression::from);
    Ok(SubjectReport {
        email: email.to_string(),
        contacts,
        opt_outs,
        suppression,
        events: store.events_about(&email).await?,
        messages: store.messages_to(&email).await?,
        sends: store.sends_to(&email).await?,
        erased_at: store.erased_at(&email).await?,
    })
}

/// Erases `email` everywhere; `NotFound` when nothing is stored about it.
pub async fn erase(
    store: &DynStore,
    import_dir: &Path,
    email: &str,
    audit: &Audit,
) -> ServiceResult<Erasure> {
    let email = parse(email)?;
    let done = match store.erase_subject(&email, audit).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => {
            let why = match store.erased_at(&email).await? {
                Some(_) => "it was erased before",
                None => "no list, event, message or suppression names it",
            };
            return Err(ServiceError::NotFound(format!(
                "nothing is stored about {email}: {why}"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    redact_reports(&import_dir.join("failures"), email.as_str())
        .map_err(|e| ServiceError::internal(format!("import failure reports: {e}")))?;
    Ok(done)
}

/// [`show`] for a dashboard user: owners only.
pub async fn show_as(
    store: &dyn Store,
    actor: &Actor,
    email: &str,
) -> ServiceResult<SubjectReport> {
    actor.require(Role::Owner)?;
    show(store, email).await
}

/// [`erase`] for a dashboard user: owners only.
pub async fn erase_as(
    store: &DynStore,
    import_dir: &Path,
    actor: &Actor,
    email: &str,
    audit: &Audit,
) -> ServiceResult<Erasure> {
    actor.require(Role::Owner)?;
    erase(store, import_dir, email, audit).await
}

/// Removes the lines naming `email` from the import failure reports in `dir`.
fn redact_reports(dir: &Path, email: &str) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let needle = email.to_ascii_lowercase();
    for entry in entries {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        if !text.to_ascii_lowercase().contains(&needle) {
            continue;
        }
        let kept: String = text
            .split_inclusive('\n')
            .filter(|l| !l.to_ascii_lowercase().contains(&needle))
            .collect();
        std::fs::write(&path, kept)?;
    }
    Ok(())
}

/// One run of the retention schedule at `now` (epoch ms); nothing when both settings
/// are off.
pub async fn prune(store: &dyn Store, r: &RetentionSettings, now: i64) -> ServiceResult<Pruned> {
    const DAY_MS: i64 = 86_400_000;
    let before = |days: Option<u32>| days.map(|d| now - i64::from(d) * DAY_MS);
    Ok(store
        .prune(
            before(r.retention_messages_days),
            before(r.retention_events_days),
        )
        .await?)
}

/// The retention schedule: prunes at start and then hourly, until aborted.
pub fn spawn_retention(
    store: DynStore,
    r: RetentionSettings,
) -> Option<tokio::task::JoinHandle<()>> {
    if r.retention_messages_days.is_none() && r.retention_events_days.is_none() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let run = prune(store.as_ref(), &r, crate::server::store::now_ms());
            let span = tracing::info_span!("job", job = "retention");
            match tracing::Instrument::instrument(run, span).await {
                Ok(p) if p.messages + p.events > 0 => {
                    tracing::info!(messages = p.messages, events = p.events, "retention pruned")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::server::service::chain(&e), "retention pruning failed")
                }
            }
        }
    }))
}
