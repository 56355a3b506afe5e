//! The dashboard's use-cases. Each takes the caller as an `Actor` and checks its role
//! first (viewer: read; admin: change lists, contacts, webhooks, keys; owner: users too),
//! then delegates to the same services the API and the CLI use.

use super::auth::{Actor, Role};
use super::{ServiceError, ServiceResult, contacts, lists, suppressions};
use crate::domain::{
    Branding, Contact, ContactList, Limits, ListDefinition, SubscriptionStatus, SuppressionReason,
    Topic, TopicName,
};
use crate::server::store::{
    Audit, ContactChange, ContactFilter, EventQuery, EventRecord, ListStats, NewContact, PrefMode,
    Store, Suppression, SuppressionQuery, TopicFilter,
};

/// Lists with their topic and contact counts, for the overview.
pub async fn overview(store: &dyn Store, actor: &Actor) -> ServiceResult<Vec<ListStats>> {
    actor.require(Role::Viewer)?;
    Ok(store.list_stats(200).await?)
}

/// A list as the list page edits it.
pub async fn get_list(store: &dyn Store, actor: &Actor, name: &str) -> ServiceResult<ContactList> {
    actor.require(Role::Viewer)?;
    lists::get(store, name).await
}

/// Creates an empty list (no topics yet).
pub async fn create_list(
    store: &dyn Store,
    limits: &Limits,
    actor: &Actor,
    name: &str,
    description: &str,
    audit: &Audit,
) -> ServiceResult<ContactList> {
    actor.require(Role::Admin)?;
    let def = ListDefinition {
        description: description.trim().to_owned(),
        ..Default::default()
    };
    lists::create(store, limits, name.trim(), &def, audit).await
}

/// Deletes a list with its contacts; `confirm` must repeat the name.
pub async fn delete_list(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    confirm: &str,
    audit: &Audit,
) -> ServiceResult<()> {
    actor.require(Role::Admin)?;
    if confirm.trim() != name {
        return Err(ServiceError::BadRequest(format!(
            "type the list's name ({name}) to confirm the deletion"
        )));
    }
    lists::delete(store, name, audit).await
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Checks landing-page branding: the link is http(s), the colour is `#rrggbb`, the
/// language one the preference page speaks, texts of reasonable length. (The logo is an
/// upload of its own: `service::branding`.)
pub fn check_branding(b: &Branding) -> ServiceResult<()> {
    let bad = |m: &str| Err(ServiceError::BadRequest(m.into()));
    if let Some(u) = &b.privacy_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return bad("the privacy link must be an http:// or https:// address");
    }
    if b.privacy_url.as_ref().is_some_and(|u| u.len() > 2000) {
        return bad("the privacy link is longer than 2,000 characters");
    }
    if let Some(c) = &b.accent_color
        && crate::domain::branding::parse_hex_colour(c).is_none()
    {
        return bad("the accent colour must look like #1f5fbf");
    }
    if let Some(l) = &b.default_language
        && crate::domain::lang::Lang::parse(l).is_none()
    {
        return bad("the default language must be one of en, ru, de, fr, es");
    }
    if b.display_name
        .as_ref()
        .is_some_and(|d| d.chars().count() > 128)
    {
        return bad("the display name can contain up to 128 characters");
    }
    if b.footer_text
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return bad("the footer can contain up to 1,000 characters");
    }
    Ok(())
}

/// The list's description and landing-page branding as the details form sends them
/// (empty fields clear the value).
#[derive(Debug, Clone, Default)]
pub struct ListDetails {
    pub description: String,
    pub display_name: String,
    pub accent_color: String,
    pub privacy_url: String,
    pub footer_text: String,
    pub default_language: String,
    pub subscribe_form: bool,
    /// Comma-separated days; `None` keeps the list's.
    pub pause_days: Option<String>,
    /// `topic lang: name | description` lines; `None` keeps the list's.
    pub topic_texts: Option<String>,
    /// The survey's answers, one per line ([`parse_reasons`]); `None` keeps the list's.
    pub unsubscribe_reasons: Option<String>,
}

/// The survey's answers as the dashboard edits them: one per line, empty for the
/// built-in ones, `none` for no survey.
pub fn reasons_text(r: Option<&[String]>) -> String {
    match r {
        None => String::new(),
        Some([]) => "none".into(),
        Some(r) => r.join("\n"),
    }
}

/// Reads [`reasons_text`]'s form back: `None` for the built-in answers.
pub fn parse_reasons(s: &str) -> ServiceResult<Option<Vec<String>>> {
    let lines: Vec<String> = s
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    if lines.len() == 1 && lines[0].eq_ignore_ascii_case("none") {
        return Ok(Some(Vec::new()));
    }
    if lines.len() > crate::domain::MAX_REASONS {
        return Err(ServiceError::BadRequest(format!(
            "the survey offers at most {} answers",
            crate::domain::MAX_REASONS
        )));
    }
    if let Some(l) = lines
        .iter()
        .find(|l| l.chars().count() > crate::domain::MAX_REASON_CHARS)
    {
        return Err(ServiceError::BadRequest(format!(
            "a survey answer has at most {} characters: {l:?}",
            crate::domain::MAX_REASON_CHARS
        )));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(Some(
        lines
            .into_iter()
            .filter(|l| seen.insert(l.clone()))
            .collect(),
    ))
}

/// Topic translations as the dashboard edits them: one per line,
/// `topic lang: display name | description`.
pub fn topic_texts_text(t: &TopicTexts) -> String {
    let mut out = String::new();
    for (topic, langs) in t {
        for (lang, text) in langs {
            out.push_str(&format!("{topic} {lang}: {}", text.display_name));
            if !text.description.is_empty() {
                out.push_str(&format!(" | {}", text.description));
            }
            out.push('\n');
        }
    }
    out
}

type TopicTexts = std::collections::BTreeMap<
    String,
    std::collections::BTreeMap<String, crate::domain::TopicText>,
>;

/// Reads [`topic_texts_text`]'s form back, checking each topic and language.
pub fn parse_topic_texts(list: &ContactList, s: &str) -> ServiceResult<TopicTexts> {
    let mut out = TopicTexts::new();
    for (i, line) in s.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: &str| {
            Err(ServiceError::BadRequest(format!(
                "translations, line {}: {why} (expected `topic lang: name | description`)",
                i + 1
            )))
        };
        let Some((head, text)) = line.split_once(':') else {
            return bad("no colon");
        };
        let mut words = head.split_whitespace();
        let (Some(topic), Some(lang), None) = (words.next(), words.next(), words.next()) else {
            return bad("name a topic and a language");
        };
        if list.topic(topic).is_none() {
            return bad(&format!("the list has no topic {topic:?}"));
        }
        if crate::domain::lang::Lang::parse(lang).is_none_or(|l| l.code() != lang) {
            return bad(&format!("unknown language {lang:?} (en, ru, de, fr, es)"));
        }
        let (name, desc) = text.split_once('|').unwrap_or((text, ""));
        let (name, desc) = (name.trim(), desc.trim());
        if name.is_empty() || name.chars().count() > 128 || desc.chars().count() > 500 {
            return bad("a name of 1 to 128 characters and a description of up to 500");
        }
        out.entry(topic.to_owned()).or_default().insert(
            lang.to_owned(),
            crate::domain::TopicText {
                display_name: name.to_owned(),
                description: desc.to_owned(),
            },
        );
    }
    Ok(out)
}

/// Reads the pause lengths field: comma-separated whole days, 1 to
/// [`crate::domain::MAX_PAUSE_DAYS`].
pub fn parse_pause_days(s: &str) -> ServiceResult<Vec<u32>> {
    let mut days = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(d) if (1..=crate::domain::MAX_PAUSE_DAYS).contains(&d) => days.push(d),
            _ => {
                return Err(ServiceError::BadRequest(format!(
                    "pause lengths are whole days from 1 to {}, separated by commas; got {part:?}",
                    crate::domain::MAX_PAUSE_DAYS
                )));
            }
        }
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

/// Saves a list's description and branding; topics and tags are kept.
pub async fn save_details(
    store: &dyn Store,
    limits: &Limits,
    actor: &Actor,
    name: &str,
    d: &ListDetails,
    audit: &Audit,
) -> ServiceResult<ContactList> {
    actor.require(Role::Admin)?;
    let list = lists::get(store, name).await?;
    let branding = Branding {
        display_name: opt(&d.display_name),
        accent_color: opt(&d.accent_color).map(|c| c.to_ascii_lowercase()),
        privacy_url: opt(&d.privacy_url),
        footer_text: opt(&d.footer_text),
        default_language: opt(&d.default_language),
        subscribe_form: d.subscribe_form,
        pause_days: match &d.pause_days {
            Some(p) => Some(parse_pause_days(p)?),
            None => list.branding.pause_days.clone(),
        },
        topic_texts: match &d.topic_texts {
            Some(t) => parse_topic_texts(&list, t)?,
            None => list.branding.topic_texts.clone(),
        },
        unsubscribe_reasons: match &d.unsubscribe_reasons {
            Some(r) => parse_reasons(r)?,
            None => list.branding.unsubscribe_reasons.clone(),
        },
    };
    check_branding(&branding)?;
    let def = ListDefinition {
        description: d.description.trim().to_owned(),
        topics: list.topics,
        tags: list.tags,
        branding,
    };
    lists::update(store, limits, name, &def, audit).await
}

/// A topic as the topic form sends it.
#[derive(Debug, Clone)]
pub struct TopicForm {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub default_opt_in: bool,
    pub hidden: bool,
}

/// Adds a topic to a list, or changes the one with that name. Preferences for the topic
/// are kept. Logged as a `list.updated` event naming the topic.
pub async fn save_topic(
    store: &dyn Store,
    limits: &Limits,
    actor: &Actor,
    list_name: &str,
    t: &TopicForm,
    audit: &Audit,
) -> ServiceResult<ContactList> {
    actor.require(Role::Admin)?;
    let list = lists::get(store, list_name).await?;
    let name =
        TopicName::parse(t.name.trim()).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    let topic = Topic {
        name: name.clone(),
        display_name: t.display_name.trim().to_owned(),
        description: t.description.trim().to_owned(),
        default_status: if t.default_opt_in {
            SubscriptionStatus::OptIn
        } else {
            SubscriptionStatus::OptOut
        },
        hidden: t.hidden,
    };
    let mut topics = list.topics.clone();
    match topics.iter_mut().find(|x| x.name == name) {
        Some(x) => *x = topic,
        None => topics.push(topic),
    }
    let def = ListDefinition {
        description: list.description,
        topics,
        tags: list.tags,
        branding: list.branding,
    };
    lists::update(store, limits, list_name, &def, audit).await
}

/// Removes a topic (and the preferences stored for it). Logged as a `list.updated` event
/// naming the topic.
pub async fn delete_topic(
    store: &dyn Store,
    limits: &Limits,
    actor: &Actor,
    list_name: &str,
    topic: &str,
    audit: &Audit,
) -> ServiceResult<ContactList> {
    actor.require(Role::Admin)?;
    let list = lists::get(store, list_name).await?;
    if list.topic(topic).is_none() {
        return Err(ServiceError::NotFound(format!(
            "List: {list_name} doesn't contain Topic: {topic}"
        )));
    }
    let def = ListDefinition {
        description: list.description,
        topics: list
            .topics
            .into_iter()
            .filter(|t| t.name.as_str() != topic)
            .collect(),
        tags: list.tags,
        branding: list.branding,
    };
    lists::update(store, limits, list_name, &def, audit).await
}

/// Most contacts on one dashboard page.
pub const CONTACTS_PAGE: u32 = 50;

/// A page of a list's contacts: prefix search on the address, a filter by a topic's
/// effective status, keyset paging after a contact id, or with a prefix after the last
/// matching key (never OFFSET, never a count).
pub struct ContactsQuery<'a> {
    pub list: &'a str,
    pub prefix: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub status: Option<SubscriptionStatus>,
    pub after_id: Option<i64>,
    pub after_key: Option<&'a str>,
}

/// The page and whether another follows.
pub async fn contacts(
    store: &dyn Store,
    actor: &Actor,
    q: &ContactsQuery<'_>,
) -> ServiceResult<(ContactList, Vec<Contact>, bool)> {
    actor.require(Role::Viewer)?;
    let list = lists::get(store, q.list).await?;
    let topic = match q.topic.filter(|t| !t.is_empty()) {
        Some(t) => {
            if list.topic(t).is_none() {
                return Err(ServiceError::BadRequest(format!(
                    "List: {} doesn't contain Topic: {t}",
                    list.name
                )));
            }
            Some(TopicFilter {
                topic: TopicName::parse(t).map_err(|e| ServiceError::BadRequest(e.to_string()))?,
                use_default: true,
            })
        }
        None => None,
    };
    if topic.is_none() && q.status.is_some() {
        return Err(ServiceError::BadRequest(
            "choose a topic to filter by status".into(),
        ));
    }
    // The matching key of an address keeps the local part as given and lower-cases the
    // domain; a prefix is matched the same way.
    let prefix =
        q.prefix
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('@') {
                Some((l, d)) => format!("{l}@{}", d.to_lowercase()),
                None => p.to_owned(),
            });
    let filter = ContactFilter {
        status: q.status,
        topic,
        after_key: prefix
            .as_ref()
            .and(q.after_key.filter(|k| !k.is_empty()).map(str::to_owned)),
        email_prefix: prefix,
    };
    let mut page = store
        .list_contacts(&list, &filter, q.after_id, CONTACTS_PAGE + 1)
        .await?;
    let more = page.len() > CONTACTS_PAGE as usize;
    page.truncate(CONTACTS_PAGE as usize);
    Ok((list, page, more))
}

/// One contact as its page shows it.
pub struct ContactView {
    pub list: ContactList,
    pub contact: Contact,
    /// Its recent history, newest first.
    pub events: Vec<EventRecord>,
    /// Its entry on the account suppression list, if it has one.
    pub suppression: Option<Suppression>,
}

/// One contact with its recent history and whether the address is suppressed.
pub async fn contact(
    store: &dyn Store,
    actor: &Actor,
    list: &str,
    email: &str,
) -> ServiceResult<ContactView> {
    actor.require(Role::Viewer)?;
    let list = lists::get(store, list).await?;
    let email = contacts::parse_email(email.trim())?;
    let c = contacts::get(store, &list, &email).await?;
    let events = store
        .query_events(&EventQuery {
            list: Some(list.name.to_string()),
            contact: Some(c.email.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await?;
    let suppression = suppressions::find(store, c.email.as_str()).await?;
    Ok(ContactView {
        list,
        contact: c,
        events,
        suppression,
    })
}

/// Most entries on one page of the suppression list.
pub const SUPPRESSIONS_PAGE: u32 = 50;

/// A page of the account suppression list (newest first): addresses containing
/// `search`, of one reason or all, after the last entry of the previous page; and
/// whether another page follows.
pub async fn suppressions(
    store: &dyn Store,
    actor: &Actor,
    search: &str,
    reason: Option<SuppressionReason>,
    after: Option<(i64, String)>,
) -> ServiceResult<(Vec<Suppression>, bool)> {
    actor.require(Role::Viewer)?;
    let q = SuppressionQuery {
        reasons: reason.into_iter().collect(),
        search: Some(search.to_owned()),
        after,
        limit: SUPPRESSIONS_PAGE,
        ..Default::default()
    };
    suppressions::list(store, &q).await
}

/// Takes an address off the suppression list (admins), saying why: the reason is kept
/// in the `suppression.delete` event.
pub async fn remove_suppression(
    store: &dyn Store,
    actor: &Actor,
    email: &str,
    why: &str,
    audit: &Audit,
) -> ServiceResult<()> {
    actor.require(Role::Admin)?;
    let why = why.trim();
    if why.is_empty() {
        return Err(ServiceError::BadRequest(
            "say why the address may receive mail again".into(),
        ));
    }
    if why.chars().count() > 500 {
        return Err(ServiceError::BadRequest(
            "the reason can contain up to 500 characters".into(),
        ));
    }
    suppressions::delete(store, email.trim(), audit, Some(why)).await
}

/// Adds a contact with no explicit preferences (an address deleted with opt-outs gets
/// them back from its tombstone).
pub async fn add_contact(
    store: &dyn Store,
    actor: &Actor,
    list: &str,
    email: &str,
    audit: &Audit,
) -> ServiceResult<Contact> {
    actor.require(Role::Admin)?;
    let list = lists::get(store, list).await?;
    let new = NewContact {
        email: contacts::parse_email(email.trim())?,
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    contacts::create(store, &list, new, audit).await
}

/// Sets a contact's UnsubscribeAll, its explicit topic preferences (topics not given
/// fall back to the default) and its attributes (a JSON object; empty or `{}` removes
/// them).
#[allow(clippy::too_many_arguments)]
pub async fn save_contact(
    store: &dyn Store,
    actor: &Actor,
    list: &str,
    email: &str,
    unsubscribe_all: bool,
    prefs: Vec<(String, SubscriptionStatus)>,
    attributes: &str,
    audit: &Audit,
) -> ServiceResult<Contact> {
    actor.require(Role::Admin)?;
    let list = lists::get(store, list).await?;
    let email = contacts::parse_email(email.trim())?;
    let mut parsed = Vec::with_capacity(prefs.len());
    for (t, s) in prefs {
        parsed.push((
            TopicName::parse(&t).map_err(|e| ServiceError::BadRequest(e.to_string()))?,
            s,
        ));
    }
    // An empty field, or an empty object, removes the attributes.
    let attributes = attributes.trim();
    let attributes = match serde_json::from_str::<serde_json::Value>(attributes) {
        Ok(serde_json::Value::Object(m)) if m.is_empty() => "",
        _ => attributes,
    };
    let change = ContactChange {
        unsubscribe_all: Some(unsubscribe_all),
        preferences: Some((PrefMode::Replace, parsed)),
        attributes: Some(attributes.to_owned()),
    };
    let (_, after) = contacts::update(store, &list, &email, &change, audit).await?;
    Ok(after)
}

/// Deletes a contact; its opt-outs stay as a tombstone.
pub async fn delete_contact(
    store: &dyn Store,
    actor: &Actor,
    list: &str,
    email: &str,
    audit: &Audit,
) -> ServiceResult<()> {
    actor.require(Role::Admin)?;
    let list = lists::get(store, list).await?;
    let email = contacts::parse_email(email.trim())?;
    contacts::delete(store, &list, &email, audit).await
}

fn day_ms(s: &str, what: &str) -> Result<i64, String> {
    let bad = || format!("the {what} date must look like 2026-11-25");
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next(), it.next(), it.next());
    let (Some(y), Some(m), Some(d)) = (y, m, d) else {
        return Err(bad());
    };
    let y: i32 = y.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    let d: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y, month, d).map_err(|_| bad())?;
    Ok(date.midnight().assume_utc().unix_timestamp() * 1000)
}

/// The store query for the page's filters; a clear message for a bad date.
pub fn event_query(f: &crate::domain::EventFilters) -> Result<EventQuery, String> {
    let some = |s: &str| {
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_owned())
    };
    Ok(EventQuery {
        list: some(&f.list),
        topic: some(&f.topic),
        kind: some(&f.kind),
        contact: some(&f.contact),
        since_ms: match some(&f.since) {
            Some(s) => Some(day_ms(&s, "from")?),
            None => None,
        },
        until_ms: match some(&f.until) {
            Some(s) => Some(day_ms(&s, "to")? + 86_400_000),
            None => None,
        },
        before_id: None,
        limit: 1000,
    })
}

/// Most events on one page of the event log.
pub const EVENTS_PAGE: u32 = 50;

/// A page of the event log (newest first) and whether an older page follows.
pub async fn events(
    store: &dyn Store,
    actor: &Actor,
    q: &EventQuery,
) -> ServiceResult<(Vec<EventRecord>, bool)> {
    actor.require(Role::Viewer)?;
    let mut q = q.clone();
    let limit = q.limit.clamp(1, 10_000);
    q.limit = limit + 1;
    let mut page = store.query_events(&q).await?;
    let more = page.len() > limit as usize;
    page.truncate(limit as usize);
    Ok((page, more))
}

/// The known event kinds, for the filter.
pub const EVENT_KINDS: [&str; 8] = [
    "subscription",
    "contact.created",
    "contact.deleted",
    "import",
    "webhook.failed",
    "bounce",
    "suppression.put",
    "suppression.delete",
];

/// Starts an import of an uploaded file into a list (admins): checks the list and the
/// file and creates the job; the caller runs it with `import::execute`.
pub async fn prepare_import(
    store: &dyn Store,
    actor: &Actor,
    req: &super::import::ImportRequest,
) -> ServiceResult<super::import::Prepared> {
    actor.require(Role::Admin)?;
    if req.override_opt_outs {
        return Err(ServiceError::BadRequest(
            "overriding opt-outs is only possible with the command line".into(),
        ));
    }
    super::import::prepare(store, req).await
}

/// An import job of a list, for its progress page.
pub async fn import_job(
    store: &dyn Store,
    actor: &Actor,
    job_id: &str,
) -> ServiceResult<crate::server::store::ImportJob> {
    actor.require(Role::Viewer)?;
    super::import::job(store, job_id).await
}

/// Writes a list's export (admins and viewers may download).
pub async fn export(
    store: &dyn Store,
    actor: &Actor,
    list: &str,
    format: super::import::Format,
    out: &mut dyn std::io::Write,
) -> ServiceResult<u64> {
    actor.require(Role::Viewer)?;
    super::import::export(store, list, format, out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventFilters;

    #[test]
    fn dates_are_whole_utc_days() {
        let f = EventFilters {
            since: "2026-11-25".into(),
            until: "2026-11-25".into(),
            ..Default::default()
        };
        let q = event_query(&f).unwrap();
        assert_eq!(q.since_ms, Some(1_795_564_800_000));
        assert_eq!(q.until_ms, Some(1_795_564_800_000 + 86_400_000));
        let bad = EventFilters {
            since: "2026-02-30".into(),
            ..Default::default()
        };
        assert!(event_query(&bad).unwrap_err().contains("from date"));
    }

    #[test]
    fn pause_lengths_are_whole_days_within_a_year() {
        assert_eq!(parse_pause_days(" 90, 30,,30 ").unwrap(), vec![30, 90]);
        assert_eq!(parse_pause_days("").unwrap(), Vec::<u32>::new());
        for bad in ["0", "367", "7.5", "a week", "-1"] {
            assert!(parse_pause_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topic_translations_name_a_topic_and_a_known_language() {
        let list = ContactList {
            topics: vec![crate::domain::Topic {
                name: crate::domain::TopicName::parse("news").unwrap(),
                display_name: "News".into(),
                description: String::new(),
                default_status: crate::domain::SubscriptionStatus::OptIn,
                hidden: false,
            }],
            id: 1,
            name: crate::domain::ListName::parse("shop").unwrap(),
            description: String::new(),
            tags: vec![],
            branding: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        let t = parse_topic_texts(
            &list,
            "news de: Nachrichten | Einmal im Monat\n\nnews fr: Actualités",
        )
        .unwrap();
        assert_eq!(t["news"]["de"].display_name, "Nachrichten");
        assert_eq!(t["news"]["de"].description, "Einmal im Monat");
        assert_eq!(t["news"]["fr"].description, "");
        // What the form shows reads back the same.
        assert_eq!(parse_topic_texts(&list, &topic_texts_text(&t)).unwrap(), t);
        for (bad, why) in [
            ("news de Nachrichten", "no colon"),
            ("offers de: Angebote", "no topic"),
            ("news xx: Nachrichten", "unknown language"),
            ("news de:  | nur Text", "a name of 1 to 128"),
        ] {
            let e = parse_topic_texts(&list, bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn survey_answers_are_built_in_none_or_the_lists_own() {
        assert_eq!(parse_reasons(" \n ").unwrap(), None);
        assert_eq!(parse_reasons("None").unwrap(), Some(vec![]));
        assert_eq!(
            parse_reasons("Too expensive\n\n Boring \nToo expensive").unwrap(),
            Some(vec!["Too expensive".to_owned(), "Boring".to_owned()])
        );
        let many: String = (0..13).map(|i| format!("answer {i}\n")).collect();
        assert!(parse_reasons(&many).is_err());
        assert!(parse_reasons(&"x".repeat(101)).is_err());
        for r in [
            None,
            Some(vec![]),
            Some(vec!["A".to_owned(), "B".to_owned()]),
        ] {
            assert_eq!(parse_reasons(&reasons_text(r.as_deref())).unwrap(), r);
        }
    }
}
