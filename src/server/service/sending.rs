//! Sending: the list-management pipeline every submitted message goes through: parse the
//! options, refuse opted-out recipients, add the one-click headers,
//! fill the unsubscribe placeholder, DKIM-sign. Messages without options pass through
//! untouched apart from DKIM. No message, list-managed or not, goes to an address on the
//! account suppression list: as SES does, the message is accepted, that recipient's copy
//! is dropped and a `bounce` event (`OnAccountSuppressionList`) is logged.
//!
//! Two promises hold for everything that leaves: no recipient gets the literal
//! placeholder (a list-managed message that carries it to several recipients with
//! `fan_out` off is refused), and no DKIM signature on it is broken (a sender's signature
//! our changes would break is replaced by ours for its domain, or the message is refused).

use super::{ServiceError, contacts, recipient};
use crate::domain::{ContactList, EmailAddress, SubscriptionStatus, SuppressionReason, Topic};
use crate::server::config::{ExistingHeaders, PipelineSettings, TokenKey};
use crate::server::mail::dkim::{self, Signer};
use crate::server::mail::headers::{list_headers, public_host};
use crate::server::mail::issued::{self, Purpose, new_send_id};
use crate::server::mail::relay::Outgoing;
use crate::server::mail::{options, rewrite};
use crate::server::store::{Audit, SendInfo, Source, Store, StoreError, SubmissionEvents};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a message came from (recorded in events; SMTP and the API answer refusals differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Api,
    Smtp,
}

/// One message as submitted: envelope plus the raw RFC 5322 bytes.
#[derive(Debug, Clone)]
pub struct Submission {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub data: Vec<u8>,
    /// Options given out of band (API); `None` means "read the header, if any".
    pub options: Option<options::ListOptions>,
    pub via: Via,
    /// The access key id that submitted it (SES API, SMTP AUTH), when there is one.
    pub key_id: Option<String>,
    /// SES `ConfigurationSetName` and `EmailTags`, kept with each send record.
    pub configuration_set: Option<String>,
    pub tags: Vec<(String, String)>,
    /// What the submitting key may do: its lists and sending identities.
    pub scope: crate::domain::KeyScope,
}

/// A recipient the pipeline will not send to (opted out), with the reason to report.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub rcpt: String,
    pub reason: String,
}

/// The pipeline's answer: what to relay and whom it refused.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    pub outgoing: Vec<Outgoing>,
    pub refused: Vec<Refusal>,
    /// Recipients on the account suppression list: accepted (the message is not refused
    /// for them) but not in `outgoing`; each has a `bounce` event.
    pub suppressed: Vec<String>,
    /// The id of the submission (the SES `MessageId`); every copy's
    /// `Outgoing::message_id` is this.
    pub message_id: String,
    /// Warnings also written to the event log (no DKIM key, several recipients without
    /// `fan_out`).
    pub warnings: Vec<String>,
}

/// Why a whole message is refused.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The list named in the options does not exist.
    #[error("{0}")]
    UnknownList(String),
    /// The topic named in the options does not exist on the list.
    #[error("{0}")]
    UnknownTopic(String),
    /// The options or the message cannot be parsed.
    #[error("{0}")]
    BadRequest(String),
    /// A list-managed message with the unsubscribe placeholder to several recipients
    /// while `fan_out` is off: no copy could carry a link of its own.
    #[error("{0}")]
    Unpersonalised(String),
    /// Our changes would break a DKIM signature already on the message, and no key is
    /// stored for its domain to sign again.
    #[error("{0}")]
    DkimWouldBreak(String),
    /// The From is not a registered sending identity (`require_verified_identity`).
    #[error("{0}")]
    NotVerified(String),
    /// The submitting key may not send this: another list, another identity.
    #[error("{0}")]
    AccessDenied(String),
    /// The configuration set named does not exist.
    #[error("{0}")]
    UnknownConfigurationSet(String),
    /// The configuration set's sending is disabled (its SendingOptions).
    #[error("{0}")]
    SendingPaused(String),
    /// Worth trying again; the cause is logged, never shown.
    #[error("the database is unavailable")]
    Unavailable(#[source] super::Cause),
    /// Ours: the cause (with its own causes) is logged, never shown.
    #[error("internal error")]
    Internal(#[source] super::Cause),
}

/// DKIM signers by From domain, looked up in the database at most once a minute per
/// domain (so `optbox dkim generate` takes effect within a minute without a restart).
#[derive(Clone, Default)]
pub struct SignerCache {
    inner: Arc<Mutex<HashMap<String, Cached>>>,
}

/// When a domain was looked up, and its signer if it has a key.
type Cached = (Instant, Option<Arc<Signer>>);

/// An event to log: kind, list, topic, contact, detail.
type Ev = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    serde_json::Value,
);

const SIGNER_TTL: Duration = Duration::from_secs(60);

impl SignerCache {
    /// The signer for `domain`, if a key is stored for it, and whether this call looked
    /// in the database (at most once a minute per domain: the "no key" warning is
    /// logged then, not for every message).
    pub async fn get(
        &self,
        store: &dyn Store,
        domain: &str,
    ) -> Result<(Option<Arc<Signer>>, bool), StoreError> {
        if let Ok(m) = self.inner.lock()
            && let Some((at, s)) = m.get(domain)
            && at.elapsed() < SIGNER_TTL
        {
            return Ok((s.clone(), false));
        }
        let signer = match store.dkim_key_for(domain).await? {
            Some(k) => {
                let alg = dkim::Algorithm::parse(&k.algorithm).ok_or_else(|| {
                    StoreError::unreadable(format!("DKIM algorithm {:?}", k.algorithm))
                })?;
                let s = Signer::new(alg, &k.domain, &k.selector, &k.private_key)
                    .map_err(|e| StoreError::unreadable(format!("DKIM key for {domain} ({e})")))?;
                Some(Arc::new(s))
            }
            None => None,
        };
        if let Ok(mut m) = self.inner.lock() {
            m.insert(domain.to_owned(), (Instant::now(), signer.clone()));
        }
        Ok((signer, true))
    }
}

fn new_message_id() -> String {
    // One format for every edge: the relay queue's SES-like id.
    crate::server::mail::relay::new_message_id()
}

fn service_err(e: ServiceError) -> SendError {
    match e {
        ServiceError::NotFound(m) => SendError::UnknownList(m),
        ServiceError::Unavailable(m) => SendError::Unavailable(m),
        ServiceError::Internal(cause) => SendError::Internal(cause),
        other => SendError::BadRequest(other.to_string()),
    }
}

fn store_err(e: StoreError) -> SendError {
    match e {
        StoreError::Unavailable(m) => SendError::Unavailable(Box::new(m)),
        other => SendError::Internal(Box::new(other)),
    }
}

/// Everything `process` needs besides the message (the edges build it from their state;
/// benchmarks and tests from a bare store).
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub settings: &'a PipelineSettings,
    pub token_keys: &'a [TokenKey],
    pub public_base: &'a str,
    pub signers: &'a SignerCache,
    /// `inbound_domain`: the unsubscribe mailto and the VERP envelope sender, when set.
    pub inbound_domain: Option<&'a str>,
    /// A From outside the registered sending identities is refused.
    pub require_identity: bool,
}

/// Runs the pipeline and returns what to relay.
pub async fn process(ctx: &Ctx<'_>, s: Submission) -> Result<Processed, SendError> {
    if s.rcpts.is_empty() {
        return Err(SendError::BadRequest(
            "the message has no recipients".into(),
        ));
    }
    let data = rewrite::to_crlf(&s.data).into_owned();
    let ins = rewrite::inspect(&data).map_err(|e| SendError::BadRequest(e.0))?;
    let opts = match s.options {
        Some(o) => Some(o),
        None => match ins.options.as_slice() {
            [] => None,
            [one] => Some(options::parse(one).map_err(SendError::BadRequest)?),
            _ => {
                return Err(SendError::BadRequest(format!(
                    "{} is given more than once",
                    options::OPTIONS_HEADER
                )));
            }
        },
    };
    if !s.scope.allows(crate::domain::Permission::Send) {
        return Err(SendError::AccessDenied(
            "This access key may not send mail.".into(),
        ));
    }
    if !s
        .scope
        .allows_sender(ins.from_address.as_deref().unwrap_or(""))
    {
        return Err(SendError::AccessDenied(format!(
            "This access key may not send as {}.",
            ins.from_address.as_deref().unwrap_or("(no From address)")
        )));
    }
    if let Some(o) = &opts
        && !s.scope.allows_list(&o.list)
    {
        return Err(SendError::AccessDenied(format!(
            "This access key may not use contact list {}.",
            o.list
        )));
    }
    if ctx.require_identity {
        let allowed = match &ins.from_address {
            Some(a) => ctx.store.identity_allows(a).await.map_err(store_err)?,
            None => false,
        };
        if !allowed {
            return Err(SendError::NotVerified(format!(
                "Email address is not verified. The following identities failed the check: {}",
                ins.from_address.as_deref().unwrap_or("(no From address)")
            )));
        }
    }
    // The sender's set, or else the From identity's default one.
    let set_name = match (&s.configuration_set, &ins.from_address) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(from)) => ctx
            .store
            .default_configuration_set(&from.to_lowercase())
            .await
            .map_err(store_err)?,
        (None, None) => None,
    };
    let set = match &set_name {
        None => None,
        Some(name) => match ctx.store.get_configuration_set(name).await {
            Ok(set) => Some(set),
            Err(StoreError::NotFound) => {
                return Err(SendError::UnknownConfigurationSet(format!(
                    "Configuration set <{name}> does not exist."
                )));
            }
            Err(e) => return Err(store_err(e)),
        },
    };
    if let Some(set) = &set
        && !set.sending_enabled
    {
        return Err(SendError::SendingPaused(format!(
            "Sending is paused for configuration set <{}>.",
            set.name
        )));
    }
    let message_id = new_message_id();
    // Whatever this submission changes or logs, the key that sent it did, for this message
    // (and its events go to the configuration set's event destinations).
    let mut audit = Audit::new(Source::Send)
        .caused_by(&message_id)
        .in_set(set_name.clone());
    audit.actor_id = s.key_id.clone();
    let submitted_at = crate::server::store::now_ms();
    let mut out = Processed {
        message_id: message_id.clone(),
        ..Default::default()
    };
    let mut events: Vec<Ev> = Vec::new();
    let via = match s.via {
        Via::Api => "api",
        Via::Smtp => "smtp",
    };

    let (signer, fresh) = match &ins.from_domain {
        Some(d) => ctx.signers.get(ctx.store, d).await.map_err(store_err)?,
        None => (None, true),
    };
    if signer.is_none() && fresh {
        out.warnings.push(format!(
            "no DKIM key for {}: relayed unsigned; mailbox providers will not show one-click unsubscribe",
            ins.from_domain.as_deref().unwrap_or("(no From domain)")
        ));
    }
    let dkim = Dkim {
        ctx,
        ins: &ins,
        original: &data,
        from_signer: signer.as_ref(),
    };

    let mut send_info = SendInfo {
        identity: ins.from_domain.clone(),
        configuration_set: set_name.clone(),
        tags: s.tags.clone(),
        ..Default::default()
    };
    // The account suppression list, for every recipient at once.
    let lowered: Vec<String> = s.rcpts.iter().map(|r| r.trim().to_lowercase()).collect();
    let on_list: HashMap<String, SuppressionReason> = ctx
        .store
        .suppressed_among(&lowered)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|x| (x.email, x.reason))
        .collect();
    // Erased addresses are never mailed again, whatever the set says; nothing about
    // them is written (no event, no contact), so the address is not stored again.
    let erased: std::collections::HashSet<String> = ctx
        .store
        .erased_among(&lowered)
        .await
        .map_err(store_err)?
        .into_iter()
        .collect();
    let is_erased = |rcpt: &str| erased.contains(&rcpt.trim().to_lowercase());
    // A configuration set's SuppressionOptions choose which reasons stop its messages.
    let applies = |reason: &SuppressionReason| {
        set.as_ref()
            .and_then(|c| c.suppressed_reasons.as_ref())
            .is_none_or(|reasons| reasons.contains(reason))
    };
    let suppressed = |rcpt: &str| {
        on_list
            .get(&rcpt.trim().to_lowercase())
            .copied()
            .filter(|r| applies(r))
    };
    let mail = Mail {
        message_id: &message_id,
        at: submitted_at,
        source: &s.mail_from,
        rcpts: &s.rcpts,
    };

    let Some(opts) = opts else {
        // Transactional mail: untouched apart from DKIM.
        let mut to: Vec<&String> = Vec::new();
        for rcpt in &s.rcpts {
            if is_erased(rcpt) {
                out.suppressed.push(rcpt.clone());
                continue;
            }
            match suppressed(rcpt) {
                Some(reason) => {
                    events.push(bounce_event(&message_id, rcpt, None, None, rcpt, reason));
                    out.suppressed.push(rcpt.clone());
                }
                None => to.push(rcpt),
            }
        }
        if !to.is_empty() {
            // SES's own headers (configuration set, tags) are for optbox, not the recipient.
            let plan = rewrite::Plan {
                drop_headers: SES_HEADERS.to_vec(),
                ..Default::default()
            };
            let changed = changed_headers(&ins, &plan);
            let (signed, ours) = if changed.is_empty() {
                dkim.seal(data.clone(), &[]).await?
            } else {
                let rw = rewrite::rewrite(&data, &plan).map_err(|e| SendError::BadRequest(e.0))?;
                dkim.seal(rw.data, &changed).await?
            };
            for (i, rcpt) in to.iter().enumerate() {
                out.outgoing.push(outgoing(
                    ctx,
                    new_send_id(),
                    copy_id(&message_id, i, to.len()),
                    &s.mail_from,
                    rcpt,
                    signed.clone(),
                    &send_info,
                ));
            }
            events.push(("send".into(), None, None, None, json!({
                "messageId": message_id, "via": via, "recipients": to.len(), "listManagement": false,
                "dkim": ours,
            })));
        }
        finish(ctx, &audit, &mail, &send_info, &mut out, events).await?;
        return Ok(out);
    };

    let list = match ctx.store.get_list(&opts.list).await {
        Ok(l) => l,
        Err(StoreError::NotFound) => {
            return Err(SendError::UnknownList(format!(
                "List with name: {} doesn't exist.",
                opts.list
            )));
        }
        Err(e) => return Err(store_err(e)),
    };
    let topic: Option<Topic> = match &opts.topic {
        Some(t) => Some(list.topic(t).cloned().ok_or_else(|| {
            SendError::UnknownTopic(format!("List: {} doesn't contain Topic: {t}", list.name))
        })?),
        None => None,
    };
    let topic_name = topic.as_ref().map(|t| t.name.as_str().to_owned());
    send_info.list_name = Some(list.name.to_string());
    send_info.topic_name = topic_name.clone();

    // Suppression, adding unknown recipients to the list (SES behaviour).
    let mut accepted: Vec<(String, EmailAddress)> = Vec::new();
    for rcpt in &s.rcpts {
        if is_erased(rcpt) {
            out.suppressed.push(rcpt.clone());
            continue;
        }
        let email = EmailAddress::parse(rcpt)
            .map_err(|e| SendError::BadRequest(format!("recipient {rcpt:?}: {e}")))?;
        let contact = contacts::ensure(ctx.store, &list, &email, &audit)
            .await
            .map_err(service_err)?;
        let paused = contact.paused_at(crate::server::store::now_ms());
        let opted_out = paused
            || match &topic {
                Some(t) => contact.status_for(t) == SubscriptionStatus::OptOut,
                None => contact.unsubscribe_all,
            };
        if opted_out {
            let reason = match &topic {
                _ if paused => format!(
                    "{email} has paused list {} until {}",
                    list.name,
                    crate::server::events::iso(contact.paused_until.unwrap_or_default())
                ),
                Some(t) => format!(
                    "{email} has unsubscribed from topic {} of list {}",
                    t.name, list.name
                ),
                None => format!("{email} has unsubscribed from list {}", list.name),
            };
            events.push((
                "reject".into(),
                Some(list.name.to_string()),
                topic_name.clone(),
                Some(email.to_string()),
                json!({
                    "messageId": message_id, "via": via, "reason": reason,
                }),
            ));
            out.refused.push(Refusal {
                rcpt: rcpt.clone(),
                reason,
            });
        } else if let Some(reason) = suppressed(rcpt) {
            events.push(bounce_event(
                &message_id,
                rcpt,
                Some(list.name.as_str()),
                topic_name.as_deref(),
                email.as_str(),
                reason,
            ));
            out.suppressed.push(rcpt.clone());
        } else {
            accepted.push((rcpt.clone(), email));
        }
    }

    let mut drop: Vec<&'static str> = vec![options::OPTIONS_HEADER];
    drop.extend(SES_HEADERS);
    let preserve =
        ctx.settings.existing_headers == ExistingHeaders::Preserve && ins.has_list_unsubscribe;
    if !preserve {
        drop.extend(["List-Unsubscribe", "List-Unsubscribe-Post"]);
    }
    if !(ctx.settings.existing_headers == ExistingHeaders::Preserve && ins.has_list_id) {
        drop.push("List-Id");
    }
    let host = public_host(ctx.public_base);
    let personalised = accepted.len() == 1 || ctx.settings.fan_out;
    let mut copies: Vec<(i64, Vec<u8>, bool, bool)> = Vec::with_capacity(accepted.len());
    if !accepted.is_empty() && !personalised {
        // One copy for everyone cannot carry anyone's link: refuse rather than deliver
        // the placeholder or strip the visible unsubscribe link.
        if rewrite::has_placeholder(&data).map_err(|e| SendError::BadRequest(e.0))? {
            return Err(SendError::Unpersonalised(format!(
                "list-managed message with {} to {} recipients: send one message per recipient or set fan_out = true",
                String::from_utf8_lossy(rewrite::PLACEHOLDER),
                accepted.len()
            )));
        }
        let w = format!(
            "{} recipients and fan_out is off: no list headers and no unsubscribe link were added (SES sends list-managed mail to one recipient)",
            accepted.len()
        );
        events.push((
            "send.warning".into(),
            Some(list.name.to_string()),
            topic_name.clone(),
            None,
            json!({
                "messageId": message_id, "via": via, "warning": w,
            }),
        ));
        out.warnings.push(w);
        let plan = rewrite::Plan {
            drop_headers: [&[options::OPTIONS_HEADER][..], &SES_HEADERS[..]].concat(),
            ..Default::default()
        };
        let rw = rewrite::rewrite(&data, &plan).map_err(|e| SendError::BadRequest(e.0))?;
        let (bytes, ours) = dkim.seal(rw.data, &changed_headers(&ins, &plan)).await?;
        for _ in &accepted {
            copies.push((new_send_id(), bytes.clone(), false, ours));
        }
    } else {
        for (_, email) in &accepted {
            let send_id = new_send_id();
            let url = recipient::sent_url(
                ctx.token_keys,
                ctx.public_base,
                &list.name,
                topic.as_ref().map(|t| t.name.clone()),
                email,
                Some(send_id),
            );
            let mailto = ctx
                .inbound_domain
                .map(|d| issued::address(ctx.token_keys, d, Purpose::Unsubscribe, send_id));
            let mut add = list_headers(&list, &url, mailto.as_deref(), &host);
            if preserve {
                add.retain(|(n, _)| *n == "List-Id");
            }
            if ctx.settings.existing_headers == ExistingHeaders::Preserve && ins.has_list_id {
                add.retain(|(n, _)| *n != "List-Id");
            }
            let plan = rewrite::Plan {
                drop_headers: drop.clone(),
                add_headers: add,
                url: Some(url),
            };
            let rw = rewrite::rewrite(&data, &plan).map_err(|e| SendError::BadRequest(e.0))?;
            let (bytes, ours) = dkim.seal(rw.data, &changed_headers(&ins, &plan)).await?;
            copies.push((send_id, bytes, true, ours));
        }
    }
    // Each accepted recipient's copy: (send id, the message, with list headers, signed by us).
    for (i, ((rcpt, email), (send_id, bytes, headers, ours))) in
        accepted.iter().zip(copies).enumerate()
    {
        out.outgoing.push(outgoing(
            ctx,
            send_id,
            copy_id(&message_id, i, accepted.len()),
            &s.mail_from,
            rcpt,
            bytes,
            &send_info,
        ));
        events.push(send_event(
            &message_id,
            via,
            &list,
            &topic_name,
            email,
            headers,
            ours,
        ));
    }
    finish(ctx, &audit, &mail, &send_info, &mut out, events).await?;
    Ok(out)
}

/// SES's submission headers optbox reads and removes: the recipient never sees them.
const SES_HEADERS: [&str; 2] = ["X-SES-CONFIGURATION-SET", "X-SES-MESSAGE-TAGS"];

/// The header fields a plan changes: those it drops that the message has, and those it
/// adds (as the plan spells them).
fn changed_headers(ins: &rewrite::Inspection, plan: &rewrite::Plan) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = plan
        .drop_headers
        .iter()
        .copied()
        .filter(|d| ins.header_names.iter().any(|h| h.eq_ignore_ascii_case(d)))
        .collect();
    for &(n, _) in &plan.add_headers {
        if !names.iter().any(|x| x.eq_ignore_ascii_case(n)) {
            names.push(n);
        }
    }
    names
}

/// DKIM for one message: the sender's signatures that our changes leave intact stay; one
/// they would break is replaced by ours for its `d=` domain, or the message is refused;
/// and ours for the From domain is added when a key is stored for it.
struct Dkim<'a> {
    ctx: &'a Ctx<'a>,
    ins: &'a rewrite::Inspection,
    /// The message as submitted (CRLF line ends).
    original: &'a [u8],
    from_signer: Option<&'a Arc<Signer>>,
}

impl Dkim<'_> {
    /// Signs `rewritten` (the original with the header fields `changed` added or
    /// dropped, and perhaps its body changed); returns the bytes and whether we signed.
    async fn seal(
        &self,
        rewritten: Vec<u8>,
        changed: &[&'static str],
    ) -> Result<(Vec<u8>, bool), SendError> {
        let body_changed = rewrite::body(self.original) != rewrite::body(&rewritten);
        let mut ours: Vec<Arc<Signer>> = self.from_signer.cloned().into_iter().collect();
        let mut removed: Vec<usize> = Vec::new();
        // Adding our signature or removing one of the sender's changes the
        // DKIM-Signature fields, which another signature may cover: repeat until no
        // further signature has to go.
        loop {
            let signatures_changed = !ours.is_empty() || !removed.is_empty();
            let mut again = false;
            for sig in &self.ins.signatures {
                if removed.contains(&sig.ordinal) {
                    continue;
                }
                let covered: Vec<&str> = changed
                    .iter()
                    .copied()
                    .chain(signatures_changed.then_some("DKIM-Signature"))
                    .filter(|n| sig.covers(n))
                    .collect();
                if !body_changed && covered.is_empty() {
                    continue;
                }
                let signer = match ours.iter().find(|s| s.domain() == sig.domain) {
                    Some(s) => Some(s.clone()),
                    None => {
                        self.ctx
                            .signers
                            .get(self.ctx.store, &sig.domain)
                            .await
                            .map_err(store_err)?
                            .0
                    }
                };
                let Some(signer) = signer else {
                    return Err(SendError::DkimWouldBreak(broken(
                        &sig.domain,
                        body_changed,
                        &covered,
                    )));
                };
                removed.push(sig.ordinal);
                if !ours.iter().any(|s| Arc::ptr_eq(s, &signer)) {
                    ours.push(signer);
                }
                again = true;
            }
            if !again {
                break;
            }
        }
        let mut bytes = if removed.is_empty() {
            rewritten
        } else {
            rewrite::drop_signatures(&rewritten, &removed).map_err(|e| {
                SendError::Internal(format!("removing a DKIM signature: {e}").into())
            })?
        };
        for s in &ours {
            bytes = s
                .sign(&bytes)
                .map_err(|e| SendError::Internal(format!("DKIM signing: {e}").into()))?;
        }
        Ok((bytes, !ours.is_empty()))
    }
}

/// Why a sender's signature would break, and what to do about it (one SMTP reply line).
fn broken(domain: &str, body_changed: bool, covered: &[&str]) -> String {
    let mut why = Vec::new();
    if body_changed {
        why.push("the unsubscribe link changes the signed body".to_owned());
    }
    if !covered.is_empty() {
        why.push(format!("h= covers {}", covered.join(", ")));
    }
    format!(
        "the DKIM signature of {domain} would break ({}) and optbox has no DKIM key for {domain}: sign after optbox, leave List-Unsubscribe, List-Unsubscribe-Post and List-Id out of h=, or store a key with `optbox dkim generate --domain {domain} --selector SELECTOR`",
        why.join("; ")
    )
}

/// One recipient's copy. With `inbound_domain` set its envelope sender is the send
/// record's bounce address (VERP), so bounces and complaints come back to optbox naming it.
fn outgoing(
    ctx: &Ctx<'_>,
    send_id: i64,
    message_id: String,
    mail_from: &str,
    rcpt: &str,
    data: Vec<u8>,
    send: &SendInfo,
) -> Outgoing {
    let mail_from = match ctx.inbound_domain {
        Some(d) => issued::address(ctx.token_keys, d, Purpose::Bounce, send_id),
        None => mail_from.to_owned(),
    };
    Outgoing {
        send_id,
        message_id,
        mail_from,
        rcpt: rcpt.to_owned(),
        data,
        send: send.clone(),
        events: None,
    }
}

fn copy_id(base: &str, _i: usize, _n: usize) -> String {
    // Every copy of one submission carries its MessageId (the queue rows have their own
    // ids), as the SMTP reply and the SES answer report one id per message.
    base.to_owned()
}

fn send_event(
    message_id: &str,
    via: &str,
    list: &ContactList,
    topic: &Option<String>,
    email: &EmailAddress,
    headers: bool,
    dkim: bool,
) -> Ev {
    (
        "send".into(),
        Some(list.name.to_string()),
        topic.clone(),
        Some(email.to_string()),
        json!({ "messageId": message_id, "via": via, "listManagement": true, "listHeaders": headers, "dkim": dkim }),
    )
}

/// The `bounce` event of a recipient on the suppression list (the SES bounce of
/// subtype `OnAccountSuppressionList`; `suppressed` false: this bounce puts nobody on
/// the list).
fn bounce_event(
    message_id: &str,
    rcpt: &str,
    list: Option<&str>,
    topic: Option<&str>,
    contact: &str,
    reason: SuppressionReason,
) -> Ev {
    (
        "bounce".into(),
        list.map(str::to_owned),
        topic.map(str::to_owned),
        Some(contact.to_owned()),
        json!({
            "messageId": message_id,
            "recipient": rcpt,
            "bounceType": "Permanent",
            "bounceSubType": "OnAccountSuppressionList",
            "suppressed": false,
            "via": "suppression",
            "reason": reason.as_str(),
        }),
    )
}

/// The message a submission's events are about.
struct Mail<'a> {
    message_id: &'a str,
    at: i64,
    source: &'a str,
    rcpts: &'a [String],
}

/// Writes the events (and warnings as `send.warning` events) in one transaction. Each
/// carries SES's `mail` object: for its contact, or for every recipient.
async fn finish(
    ctx: &Ctx<'_>,
    audit: &Audit,
    mail: &Mail<'_>,
    send_info: &SendInfo,
    out: &mut Processed,
    mut events: Vec<Ev>,
) -> Result<(), SendError> {
    for w in &out.warnings {
        if !events
            .iter()
            .any(|e| e.0 == "send.warning" && e.4["warning"] == w.as_str())
        {
            events.push((
                "send.warning".into(),
                None,
                None,
                None,
                json!({ "messageId": out.message_id, "warning": w }),
            ));
        }
    }
    for (_, _, _, contact, detail) in events.iter_mut() {
        let all: Vec<&str> = mail.rcpts.iter().map(String::as_str).collect();
        let one: Vec<&str> = contact.as_deref().into_iter().collect();
        if let Some(d) = detail.as_object_mut() {
            d.insert(
                "mail".into(),
                crate::server::events::mail_object_of(
                    mail.message_id,
                    mail.at,
                    Some(mail.source),
                    if one.is_empty() { &all } else { &one },
                    send_info,
                ),
            );
        }
    }
    if !out.suppressed.is_empty() {
        metrics::counter!("optbox_suppressed_recipients_total")
            .increment(out.suppressed.len() as u64);
    }
    let sub = SubmissionEvents {
        audit: audit.clone(),
        events,
    };
    // With copies to queue, the events go into the queue's transaction (one durable
    // commit per submission); without, they are written now.
    if let Some(first) = out.outgoing.first_mut() {
        first.events = Some(Arc::new(sub));
        return Ok(());
    }
    ctx.store
        .log_mail_events(audit, &sub.as_events())
        .await
        .map_err(store_err)
}
