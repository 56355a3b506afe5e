//! What a recipient asks for on a public page and gets by mail: a link to manage every
//! subscription of an address (`/manage`), and a subscription that takes effect only
//! once confirmed from the mailed link (`/s/{list}`, double opt-in).
//!
//! - **No enumeration:** a manage request is answered the same whether or not the
//!   address is on any list; only a known address gets mail.
//! - **Limits:** each address is mailed at most `form_mails_per_address_per_day` of each
//!   kind a day, counted in the database (so across instances, whoever asks); the
//!   per-client rate is the HTTP layer's.
//! - **Capabilities:** the mailed token is 32 random bytes; only its SHA-256 is stored.
//!   Opening a link changes nothing: confirming is a POST from the page it opens.
//! - **The mail is transactional:** no list headers, never refused for an opt-out, but
//!   not sent to an address on the suppression list (bounce, complaint): it goes
//!   through the sending pipeline without list options.

use super::{ServiceError, ServiceResult, recipient, sending};
use crate::domain::lang::Lang;
use crate::domain::{
    Audit, ContactList, EmailAddress, KeyScope, Source, SubscriptionStatus, TopicName,
};
use crate::server::store::{
    ContactChange, NewRequest, PrefMode, Store, StoreError, email_hash, now_ms,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long a manage link works.
pub const MANAGE_TTL_MS: i64 = 24 * 3_600_000;
/// How long a subscription waits for its confirmation.
pub const CONFIRM_TTL_MS: i64 = 7 * 24 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// How recipient-requested mail leaves: the sending pipeline and the relay queue.
pub struct Mailer<'a> {
    pub ctx: sending::Ctx<'a>,
    /// The same store as `ctx.store`, shared: the relay queue's handle.
    pub queue: &'a crate::server::store::DynStore,
    /// A relay upstream is configured (else the mail waits in the outbox).
    pub has_upstream: bool,
    pub from: String,
    pub public_base: &'a str,
    /// Mails of each kind per address per day.
    pub per_address_per_day: u32,
}

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Not an email address.
    #[error("not an email address")]
    BadAddress,
    /// This address has had its mails for today.
    #[error("too many requests for this address today")]
    Throttled,
    /// The list takes no subscriptions here (or does not exist).
    #[error("no subscription form")]
    NoForm,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for RequestError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// A new random token, URL-safe.
fn new_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Whether a string has the shape of our tokens (so garbage never reaches the store).
pub fn token_shape(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The mail a page asks for, in the recipient's language.
pub struct Letter {
    pub subject: String,
    pub body: String,
}

/// Sends one transactional message through the pipeline and queues it. An address on
/// the suppression list gets nothing (the pipeline records why).
async fn send(m: &Mailer<'_>, to: &EmailAddress, letter: &Letter) -> ServiceResult<()> {
    use mail_builder::MessageBuilder;
    use mail_builder::headers::raw::Raw;
    use mail_builder::headers::text::Text;
    let data = MessageBuilder::new()
        .header("From", Raw::new(m.from.clone()))
        .header("To", Raw::new(to.as_str().to_owned()))
        .header("Subject", Text::new(letter.subject.clone()))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(letter.body.clone())
        .write_to_vec()
        .map_err(|e| ServiceError::internal(format!("building the message: {e}")))?;
    let s = sending::Submission {
        mail_from: m.from.clone(),
        rcpts: vec![to.as_str().to_owned()],
        data,
        options: None,
        via: sending::Via::Api,
        key_id: None,
        configuration_set: None,
        tags: vec![],
        scope: KeyScope::default(),
    };
    let processed = sending::process(&m.ctx, s)
        .await
        .map_err(|e| ServiceError::internal(format!("recipient mail refused: {e}")))?;
    crate::server::mail::relay::enqueue(m.queue, m.has_upstream, &processed.outgoing)
        .await
        .map(|_| ())
        .map_err(ServiceError::from)
}

/// Counts a request against the address's daily limit; `Throttled` once it is used up.
async fn within_limit(
    store: &dyn Store,
    kind: &str,
    email: &EmailAddress,
    per_day: u32,
) -> Result<(), RequestError> {
    let n = store.count_requests(kind, email, now_ms() - DAY_MS).await?;
    if n >= i64::from(per_day) {
        return Err(RequestError::Throttled);
    }
    Ok(())
}

/// A manage link stored for an address, not mailed yet.
pub struct ManageRequest {
    email: EmailAddress,
    token: String,
}

/// `/manage`: stores a link to manage every subscription of `address`, whether or not
/// it is on any list (the per-address limit counts every request). The caller answers
/// the same whatever happens next but a bad address or the limit, and mails the link
/// with [`mail_manage_link`] after answering, so that the time of the answer does not
/// tell whether the address is known either.
pub async fn request_manage(
    store: &dyn Store,
    address: &str,
    lang: Lang,
    per_address_per_day: u32,
) -> Result<ManageRequest, RequestError> {
    let email = EmailAddress::parse(address.trim()).map_err(|_| RequestError::BadAddress)?;
    within_limit(store, "manage", &email, per_address_per_day).await?;
    let token = new_token();
    let hash = email_hash(&email);
    store
        .put_request(&NewRequest {
            kind: "manage",
            token: &token,
            email: &email,
            list_name: None,
            payload: serde_json::json!({
                "hash": crate::server::hex::encode(&hash),
                "lang": lang.code(),
            }),
            expires_at: now_ms() + MANAGE_TTL_MS,
        })
        .await?;
    Ok(ManageRequest { email, token })
}

/// Mails a stored manage link, if the address is on any list.
pub async fn mail_manage_link(
    m: &Mailer<'_>,
    req: &ManageRequest,
    letter: impl FnOnce(&str) -> Letter,
) -> Result<(), RequestError> {
    let hash = email_hash(&req.email);
    if m.ctx.store.contacts_of_address(&hash).await?.is_empty() {
        return Ok(());
    }
    let link = format!("{}/m/{}", m.public_base, req.token);
    Ok(send(m, &req.email, &letter(&link)).await?)
}

/// What a manage link opens.
pub enum ManageLink {
    /// The address's contact on each of its lists.
    Valid {
        lists: Vec<super::recipient::Resolved>,
    },
    Expired,
    Unknown,
}

/// Reads a manage link (a GET: changes nothing).
pub async fn open_manage(store: &dyn Store, token: &str) -> ServiceResult<ManageLink> {
    if !token_shape(token) {
        return Ok(ManageLink::Unknown);
    }
    let Some(req) = store.get_request(token).await? else {
        return Ok(ManageLink::Unknown);
    };
    if req.kind != "manage" {
        return Ok(ManageLink::Unknown);
    }
    if req.expires_at <= now_ms() {
        return Ok(ManageLink::Expired);
    }
    let v: serde_json::Value = serde_json::from_str(&req.payload).unwrap_or_default();
    let Some(hash) = v["hash"]
        .as_str()
        .and_then(|h| data_encoding::HEXLOWER_PERMISSIVE.decode(h.as_bytes()).ok())
    else {
        return Ok(ManageLink::Unknown);
    };
    let mut lists = Vec::new();
    for (name, contact) in store.contacts_of_address(&hash).await? {
        match store.get_list_cached(&name).await {
            Ok(list) => lists.push(super::recipient::Resolved {
                list,
                topic: None,
                hash: hash.clone(),
                contact: Some(contact),
                send_id: None,
            }),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ManageLink::Valid { lists })
}

/// What a subscription request carries until it is confirmed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub email: String,
    pub topics: Vec<String>,
    pub lang: String,
    /// When and how it was asked for: the consent record's first half.
    pub requested_at: i64,
    pub ip_hash: Option<String>,
    pub user_agent: Option<String>,
    /// The words the form showed beside its button.
    pub wording: String,
}

/// The list of a hosted subscription form: it must exist and take subscriptions.
pub async fn form_list(store: &dyn Store, list: &str) -> Result<Arc<ContactList>, RequestError> {
    if crate::domain::ListName::parse(list).is_err() {
        return Err(RequestError::NoForm);
    }
    match store.get_list_cached(list).await {
        Ok(l) if l.branding.subscribe_form => Ok(l),
        Ok(_) | Err(StoreError::NotFound) => Err(RequestError::NoForm),
        Err(e) => Err(e.into()),
    }
}

/// `/s/{list}`: stores a subscription and mails the link that confirms it. `topics` are
/// the visible topics chosen (unknown names are dropped); none chosen means the topics
/// whose default is OPT_IN.
#[allow(clippy::too_many_arguments)]
pub async fn request_subscription(
    m: &Mailer<'_>,
    list: &ContactList,
    address: &str,
    topics: &[String],
    lang: Lang,
    audit: &Audit,
    wording: &str,
    letter: impl FnOnce(&str) -> Letter,
) -> Result<(), RequestError> {
    let email = EmailAddress::parse(address.trim()).map_err(|_| RequestError::BadAddress)?;
    let store = m.ctx.store;
    within_limit(store, "subscribe", &email, m.per_address_per_day).await?;
    let chosen: Vec<String> = recipient::visible_topics(list)
        .filter(|t| topics.iter().any(|n| n == t.name.as_str()))
        .map(|t| t.name.to_string())
        .collect();
    let token = new_token();
    let pending = Pending {
        email: email.to_string(),
        topics: chosen,
        lang: lang.code().to_owned(),
        requested_at: now_ms(),
        ip_hash: audit.ip_hash.clone(),
        user_agent: audit.user_agent.clone(),
        wording: wording.to_owned(),
    };
    store
        .put_request(&NewRequest {
            kind: "subscribe",
            token: &token,
            email: &email,
            list_name: Some(list.name.as_str()),
            payload: serde_json::to_value(&pending)
                .map_err(|e| ServiceError::internal(e.to_string()))?,
            expires_at: now_ms() + CONFIRM_TTL_MS,
        })
        .await?;
    let link = format!("{}/c/{token}", m.public_base);
    send(m, &email, &letter(&link)).await?;
    Ok(())
}

/// What a confirmation link opens.
pub enum ConfirmLink {
    Valid {
        list: Arc<ContactList>,
        pending: Pending,
    },
    /// Confirmed already (by this link).
    Used {
        list: Option<Arc<ContactList>>,
    },
    Expired,
    Unknown,
}

/// Reads a confirmation link (a GET: changes nothing).
pub async fn open_confirmation(store: &dyn Store, token: &str) -> ServiceResult<ConfirmLink> {
    if !token_shape(token) {
        return Ok(ConfirmLink::Unknown);
    }
    let Some(req) = store.get_request(token).await? else {
        return Ok(ConfirmLink::Unknown);
    };
    if req.kind != "subscribe" {
        return Ok(ConfirmLink::Unknown);
    }
    let list = match &req.list_name {
        Some(n) => match store.get_list_cached(n).await {
            Ok(l) => Some(l),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    if req.used_at.is_some() {
        return Ok(ConfirmLink::Used { list });
    }
    if req.expires_at <= now_ms() {
        return Ok(ConfirmLink::Expired);
    }
    let (Some(list), Ok(pending)) = (list, serde_json::from_str::<Pending>(&req.payload)) else {
        return Ok(ConfirmLink::Unknown);
    };
    Ok(ConfirmLink::Valid { list, pending })
}

/// Confirms a subscription (the POST of the confirmation page): adds the contact, or
/// subscribes it again, to the chosen topics, and records the consent as a
/// `subscription.confirmed` event. A link works once.
pub async fn confirm(store: &dyn Store, token: &str, audit: &Audit) -> ServiceResult<ConfirmLink> {
    let link = open_confirmation(store, token).await?;
    let ConfirmLink::Valid { list, pending } = &link else {
        return Ok(link);
    };
    if !store.use_request(token, now_ms()).await? {
        return open_confirmation(store, token).await;
    }
    let email = EmailAddress::parse(&pending.email)
        .map_err(|e| ServiceError::internal(format!("stored address: {e}")))?;
    let audit = Audit {
        source: Source::SubscribeForm,
        ..audit.clone()
    };
    super::contacts::ensure(store, list, &email, &audit).await?;
    let prefs: Vec<(TopicName, SubscriptionStatus)> = list
        .topics
        .iter()
        .filter(|t| {
            if pending.topics.is_empty() {
                !t.hidden && t.default_status == SubscriptionStatus::OptIn
            } else {
                pending.topics.iter().any(|n| n == t.name.as_str())
            }
        })
        .map(|t| (t.name.clone(), SubscriptionStatus::OptIn))
        .collect();
    let change = ContactChange {
        unsubscribe_all: Some(false),
        preferences: Some((PrefMode::Merge, prefs)),
        attributes: None,
    };
    store.update_contact(list, &email, &change, &audit).await?;
    store
        .record_contact_event(
            &audit,
            "subscription.confirmed",
            list.name.as_str(),
            Some(&email),
            serde_json::json!({
                "topics": pending.topics,
                "requestedAt": pending.requested_at,
                "requestIpHash": pending.ip_hash,
                "requestUserAgent": pending.user_agent,
                "wording": pending.wording,
                "language": pending.lang,
            }),
        )
        .await?;
    Ok(link)
}

/// Clears pauses that have ended and forgets expired requests, every minute on every
/// instance (each round is a couple of indexed statements).
pub fn spawn_housekeeping(store: crate::server::store::DynStore) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let run = housekeeping(store.as_ref());
            let span = tracing::info_span!("job", job = "recipient_housekeeping");
            if let Err(e) = tracing::Instrument::instrument(run, span).await {
                tracing::warn!(error = %crate::server::service::chain(&e), "recipient housekeeping failed");
            }
        }
    })
}

/// One round of [`spawn_housekeeping`]: returns the pauses resumed.
pub async fn housekeeping(store: &dyn Store) -> ServiceResult<u64> {
    let now = now_ms();
    let mut resumed = 0;
    loop {
        let n = store.resume_ended_pauses(now, 500).await?;
        resumed += n;
        if n < 500 {
            break;
        }
    }
    store.prune_requests(now).await?;
    Ok(resumed)
}

/// A list's name for the recipient: its display name, else its name.
pub fn list_title(list: &ContactList) -> String {
    list.branding
        .display_name
        .clone()
        .unwrap_or_else(|| list.name.to_string())
}
