//! What recipients do: resolve a token, unsubscribe with one click, view and save
//! preferences. Every change is recorded in the same transaction as its event.

use super::{ServiceError, ServiceResult};
use crate::domain::lang::Lang;
use crate::domain::{
    Contact, ContactList, EmailAddress, ListName, SubscriptionStatus, Tombstone, Topic, TopicName,
};
use crate::server::config::TokenKey;
use crate::server::store::{Audit, ContactChange, OptOut, PrefMode, Store, StoreError, email_hash};
use crate::server::token::{self, TokenError, Unsubscribe};

/// A verified token with what it points at.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Shared with the list cache: the one-click path clones no list.
    pub list: std::sync::Arc<ContactList>,
    /// The token's topic, if it names one the list still has.
    pub topic: Option<Topic>,
    pub hash: Vec<u8>,
    /// `None` when the contact has been deleted since the mail was sent.
    pub contact: Option<Contact>,
    /// The send record of the copy whose link this is (links in mail optbox sent).
    pub send_id: Option<i64>,
}

/// The state a preference page shows and saves: UnsubscribeAll and the visible topics
/// whose effective status is OPT_IN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageState {
    pub unsubscribe_all: bool,
    pub opted_in: Vec<TopicName>,
}

impl PageState {
    /// A compact, URL-safe encoding (`1.news.offers`) used to offer undo after a save.
    pub fn encode(&self) -> String {
        let mut s = String::from(if self.unsubscribe_all { "1" } else { "0" });
        for t in &self.opted_in {
            s.push('.');
            s.push_str(t.as_str());
        }
        s
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let unsubscribe_all = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let opted_in = parts
            .map(TopicName::parse)
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Some(Self {
            unsubscribe_all,
            opted_in,
        })
    }
}

/// Verifies a token and loads its list and contact. Malformed tokens are a bad request;
/// forged ones and vanished lists are not found.
pub async fn resolve(store: &dyn Store, keys: &[TokenKey], tok: &str) -> ServiceResult<Resolved> {
    let mut r = resolve_link(store, keys, tok).await?;
    r.contact = match store.get_contact_by_hash(&r.list, &r.hash).await {
        Ok(c) => Some(c),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(r)
}

/// As [`resolve`] without reading the contact (`contact` is `None`): what the one-click
/// POST needs, since its writer reads the whole batch's contacts in one query and answers
/// a repeat without a write. No database read when the list is cached.
pub async fn resolve_link(
    store: &dyn Store,
    keys: &[TokenKey],
    tok: &str,
) -> ServiceResult<Resolved> {
    let u = token::verify(keys, tok).map_err(|e| match e {
        TokenError::Malformed => ServiceError::BadRequest("malformed unsubscribe link".into()),
        TokenError::Invalid => ServiceError::NotFound("unknown unsubscribe link".into()),
    })?;
    // The list (topics, branding) may come from memory: see `LIST_CACHE_TTL`.
    let list = match store.get_list_cached(u.list.as_str()).await {
        Ok(l) => l,
        Err(StoreError::NotFound) => {
            return Err(ServiceError::NotFound("this list no longer exists".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let topic = u
        .topic
        .as_ref()
        .and_then(|t| list.topic(t.as_str()).cloned());
    Ok(Resolved {
        list,
        topic,
        hash: u.email_hash,
        contact: None,
        send_id: u.send_id,
    })
}

/// RFC 8058 one-click: the token's topic goes OPT_OUT, or without a topic UnsubscribeAll.
/// Idempotent: a repeat changes nothing and writes no event (the group-commit writer reads
/// the batch's contacts and decides). For a deleted contact the opt-out is kept as a
/// tombstone. A topic opt-out of a contact already unsubscribed from everything is still
/// recorded: it stands if UnsubscribeAll is undone later. (A token whose topic was removed
/// from the list since unsubscribes from everything: the recipient's intent is to stop
/// mail.) `Ok` means the change is durable: committed, or fsynced in the one-click log
/// (`store::one_click`).
pub async fn one_click(store: &dyn Store, r: Resolved, mut audit: Audit) -> ServiceResult<()> {
    // The writer finds the message and configuration set of the send record, a batch at once.
    audit.send_id = r.send_id;
    let item = OptOut {
        list: r.list,
        hash: r.hash,
        topic: r.topic.map(|t| t.name),
        audit,
    };
    Ok(store.opt_out_one_click(item).await?)
}

/// The audit of a change made from the link in a message's copy: it names the send
/// record, the message and its configuration set. A record that is gone (or a link that
/// names none) leaves the audit as it is.
async fn attributed(
    store: &dyn Store,
    send_id: Option<i64>,
    mut audit: Audit,
) -> ServiceResult<Audit> {
    let Some(id) = send_id else {
        return Ok(audit);
    };
    match store.get_send_record(id).await {
        Ok(rec) => {
            audit.send_id = Some(rec.id);
            audit.message_id = Some(rec.message_id);
            audit.configuration_set = rec.info.configuration_set;
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(audit)
}

/// The topics a recipient sees: all but hidden ones, in list order.
pub fn visible_topics(list: &ContactList) -> impl Iterator<Item = &Topic> {
    list.topics.iter().filter(|t| !t.hidden)
}

/// What the page shows now, for a contact or (when deleted) from its tombstone.
pub async fn current_state(store: &dyn Store, r: &Resolved) -> ServiceResult<PageState> {
    if let Some(c) = &r.contact {
        return Ok(PageState {
            unsubscribe_all: c.unsubscribe_all,
            opted_in: visible_topics(&r.list)
                .filter(|t| {
                    c.explicit(t.name.as_str()).unwrap_or(t.default_status)
                        == SubscriptionStatus::OptIn
                })
                .map(|t| t.name.clone())
                .collect(),
        });
    }
    let tomb = store
        .get_tombstone(&r.list, &r.hash)
        .await?
        .unwrap_or_default();
    Ok(PageState {
        unsubscribe_all: tomb.unsubscribe_all,
        opted_in: visible_topics(&r.list)
            .filter(|t| {
                t.default_status == SubscriptionStatus::OptIn
                    && !tomb.opted_out_topics.contains(&t.name)
            })
            .map(|t| t.name.clone())
            .collect(),
    })
}

/// The preference page of a resolved link: the visitor's language, the subscription
/// now, the topics it shows, and what the last save changed (with the state to undo to).
pub struct PageView {
    pub lang: Lang,
    pub now: PageState,
    /// The visible topics, their display name and description in the page's language.
    pub topics: Vec<Topic>,
    pub saved: Option<SavedChanges>,
    /// Until when (Unix ms) the contact has paused the list, if it has.
    pub paused_until: Option<i64>,
    /// The pause lengths the list offers, in days (empty: none).
    pub pause_days: Vec<u32>,
}

/// What the last save changed, by topic display name.
pub struct SavedChanges {
    pub undo: PageState,
    pub subscribed: Vec<String>,
    pub unsubscribed: Vec<String>,
}

/// The page's language: the one asked for in the link, else the contact's `language`
/// attribute, else the list's default, else the browser's `Accept-Language`.
pub fn page_lang(
    asked: Option<&str>,
    contact: Option<&Contact>,
    list: &ContactList,
    accept_language: Option<&str>,
) -> Lang {
    let contact_lang = contact.and_then(|c| {
        serde_json::from_str::<serde_json::Value>(&c.attributes)
            .ok()
            .and_then(|v| {
                v.get("language")
                    .and_then(|l| l.as_str())
                    .map(str::to_owned)
            })
    });
    Lang::negotiate(
        asked,
        contact_lang.as_deref(),
        list.branding.default_language.as_deref(),
        accept_language,
    )
}

/// Reads the page of a resolved link. `saved` is the state before the last save, as the
/// page's `saved=` parameter carries it.
pub async fn page(
    store: &dyn Store,
    r: &Resolved,
    asked_lang: Option<&str>,
    accept_language: Option<&str>,
    saved: Option<&str>,
) -> ServiceResult<PageView> {
    let lang = page_lang(asked_lang, r.contact.as_ref(), &r.list, accept_language);
    let now = current_state(store, r).await?;
    let topics = localised_topics(&r.list, lang);
    let display = |n: &TopicName| {
        topics
            .iter()
            .find(|t| &t.name == n)
            .map(|t| t.display_name.clone())
            .unwrap_or_else(|| n.to_string())
    };
    let saved = saved
        .and_then(PageState::decode)
        .map(|before| SavedChanges {
            subscribed: now
                .opted_in
                .iter()
                .filter(|t| !before.opted_in.contains(t))
                .map(display)
                .collect(),
            unsubscribed: before
                .opted_in
                .iter()
                .filter(|t| !now.opted_in.contains(t))
                .map(display)
                .collect(),
            undo: before,
        });
    let paused_until = r
        .contact
        .as_ref()
        .filter(|c| c.paused_at(crate::server::store::now_ms()))
        .and_then(|c| c.paused_until);
    Ok(PageView {
        lang,
        now,
        topics,
        saved,
        paused_until,
        pause_days: if r.contact.is_some() {
            r.list.branding.pause_lengths()
        } else {
            Vec::new()
        },
    })
}

/// The visible topics of a list with their display name and description in `lang`
/// (the list's own where it has no translation).
pub fn localised_topics(list: &ContactList, lang: Lang) -> Vec<Topic> {
    visible_topics(list)
        .map(|t| {
            let (name, desc) = list.branding.topic_text(t, lang.code());
            Topic {
                display_name: name.to_owned(),
                description: desc.to_owned(),
                ..t.clone()
            }
        })
        .collect()
}

/// Pauses the list for the contact of a link for `days` days, which the list must offer.
/// Returns when the pause ends (Unix ms). A running pause is replaced.
pub async fn pause(
    store: &dyn Store,
    r: &Resolved,
    days: u32,
    audit: &Audit,
) -> ServiceResult<i64> {
    if !r.list.branding.pause_lengths().contains(&days) {
        return Err(ServiceError::BadRequest(format!(
            "list {} does not offer a pause of {days} days",
            r.list.name
        )));
    }
    if r.contact.is_none() {
        return Err(ServiceError::NotFound(
            "this address is no longer on the list".into(),
        ));
    }
    let audit = attributed(store, r.send_id, audit.clone()).await?;
    let until = crate::server::store::now_ms() + i64::from(days) * 86_400_000;
    match store.set_pause(&r.list, &r.hash, Some(until), &audit).await {
        Ok(_) => Ok(until),
        Err(StoreError::NotFound) => Err(ServiceError::NotFound(
            "this address is no longer on the list".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Ends the pause of the contact of a link now (nothing happens without one).
pub async fn resume(store: &dyn Store, r: &Resolved, audit: &Audit) -> ServiceResult<()> {
    if r.contact.as_ref().is_none_or(|c| c.paused_until.is_none()) {
        return Ok(());
    }
    match store.set_pause(&r.list, &r.hash, None, audit).await {
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Saves what the recipient chose on the preference page; returns the state before, for
/// undo. Only visible topics are touched. A deleted contact is only re-created when the
/// recipient opts in to something; pure opt-outs are kept as a tombstone.
pub async fn save(
    store: &dyn Store,
    r: &Resolved,
    want: &PageState,
    audit: &Audit,
) -> ServiceResult<PageState> {
    let audit = &attributed(store, r.send_id, audit.clone()).await?;
    let before = current_state(store, r).await?;
    let prefs: Vec<(TopicName, SubscriptionStatus)> = visible_topics(&r.list)
        .map(|t| {
            let s = if want.opted_in.contains(&t.name) {
                SubscriptionStatus::OptIn
            } else {
                SubscriptionStatus::OptOut
            };
            (t.name.clone(), s)
        })
        .collect();
    let change = ContactChange {
        unsubscribe_all: Some(want.unsubscribe_all),
        preferences: Some((PrefMode::Merge, prefs)),
        attributes: None,
    };
    let email = match &r.contact {
        Some(c) => c.email.clone(),
        None if want.unsubscribe_all || want.opted_in.is_empty() => {
            let tomb = Tombstone {
                unsubscribe_all: want.unsubscribe_all,
                opted_out_topics: visible_topics(&r.list)
                    .filter(|t| !want.opted_in.contains(&t.name))
                    .map(|t| t.name.clone())
                    .collect(),
            };
            store
                .record_tombstone(&r.list, &r.hash, &tomb, audit)
                .await?;
            return Ok(before);
        }
        // The recipient opts in again: they may; but we no longer know their address.
        None => {
            return Err(ServiceError::NotFound(
                "this address is no longer on the list; ask the sender to add it again".into(),
            ));
        }
    };
    match store.update_contact(&r.list, &email, &change, audit).await {
        Ok(_) => Ok(before),
        Err(StoreError::NotFound) => Err(ServiceError::NotFound(
            "this address is no longer on the list".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The unsubscribe URL for an address, adding the contact if needed (`optbox link`).
pub async fn link(
    store: &dyn Store,
    keys: &[TokenKey],
    public_base: &str,
    list: &str,
    topic: Option<&str>,
    email: &str,
    audit: &Audit,
) -> ServiceResult<String> {
    let list = super::lists::get(store, list).await?;
    let topic = match topic {
        Some(t) => Some(
            list.topic(t)
                .ok_or_else(|| {
                    ServiceError::BadRequest(format!(
                        "List: {} doesn't contain Topic: {t}",
                        list.name
                    ))
                })?
                .name
                .clone(),
        ),
        None => None,
    };
    let email = EmailAddress::parse(email).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    super::contacts::ensure(store, &list, &email, audit).await?;
    Ok(url_for(keys, public_base, &list.name, topic, &email))
}

/// The unsubscribe URL for a known contact.
pub fn url_for(
    keys: &[TokenKey],
    public_base: &str,
    list: &ListName,
    topic: Option<TopicName>,
    email: &EmailAddress,
) -> String {
    sent_url(keys, public_base, list, topic, email, None)
}

/// As [`url_for`], for the link in one recipient's copy of a message: it names that
/// copy's send record, so an unsubscribe made with it is attributed to the message.
pub fn sent_url(
    keys: &[TokenKey],
    public_base: &str,
    list: &ListName,
    topic: Option<TopicName>,
    email: &EmailAddress,
    send_id: Option<i64>,
) -> String {
    let tok = token::sign(
        keys,
        &Unsubscribe {
            list: list.clone(),
            topic,
            email_hash: email_hash(email),
            send_id,
        },
    );
    format!("{public_base}/u/{tok}")
}

/// The event kind of an unsubscribe survey's answer (the overview counts them).
pub const REASON_KIND: &str = "unsubscribe.reason";

/// Records an answer to the survey after an unsubscribe: one of the answers the list
/// offers, with optional free text (cut to [`crate::domain::MAX_SURVEY_COMMENT_CHARS`]),
/// as an `unsubscribe.reason` event. `BadRequest` for an answer the list does not offer.
pub async fn record_reason(
    store: &dyn Store,
    r: &Resolved,
    reason: &str,
    comment: &str,
    audit: &Audit,
) -> ServiceResult<()> {
    let offered = r.list.branding.survey_reasons(Lang::En);
    let Some((reason, _)) = offered.iter().find(|(stored, _)| stored == reason.trim()) else {
        return Err(ServiceError::BadRequest(format!(
            "list {} offers no such answer",
            r.list.name
        )));
    };
    let comment: String = comment
        .trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(crate::domain::MAX_SURVEY_COMMENT_CHARS)
        .collect();
    let audit = attributed(store, r.send_id, audit.clone()).await?;
    let mut detail = serde_json::json!({ "reason": reason });
    if !comment.is_empty() {
        detail["comment"] = comment.into();
    }
    if let Some(t) = &r.topic {
        detail["topic"] = t.name.as_str().into();
    }
    store
        .record_contact_event(
            &audit,
            REASON_KIND,
            r.list.name.as_str(),
            r.contact.as_ref().map(|c| &c.email),
            detail,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_state_round_trips_through_its_encoding() {
        let s = PageState {
            unsubscribe_all: true,
            opted_in: vec![
                TopicName::parse("a-b").unwrap(),
                TopicName::parse("c_d").unwrap(),
            ],
        };
        assert_eq!(s.encode(), "1.a-b.c_d");
        assert_eq!(PageState::decode(&s.encode()), Some(s));
        assert_eq!(PageState::decode("0"), Some(PageState::default()));
        assert_eq!(PageState::decode("2.x"), None);
        assert_eq!(PageState::decode("0.bad name"), None);
    }
}
