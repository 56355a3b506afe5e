//! The recipient pages beyond the preference page: `/manage` (ask for a link to manage
//! every subscription of an address), `/m/{token}` (the page that link opens),
//! `/s/{list}` (the hosted subscription form, also the endpoint a sender's site posts
//! to) and `/c/{token}` (confirming it).
//!
//! Plain server-rendered HTML and form POSTs answered with a redirect or a page: they
//! work the same with and without JavaScript, load nothing but the site's stylesheet
//! (and the list's), and render in microseconds. Every GET only reads; every change is a
//! POST. Errors are pages in the visitor's language.

use crate::domain::i18n::{text, words};
use crate::domain::lang::Lang;
use crate::domain::{ContactList, Source, TopicName};
use crate::server::service::requests::{
    self, ConfirmLink, Letter, Mailer, ManageLink, RequestError,
};
use crate::server::service::{ServiceError, recipient, sending};
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `body` is HTML already escaped.
fn page(
    status: StatusCode,
    lang: Lang,
    title: &str,
    list: Option<&ContactList>,
    body: &str,
) -> Response {
    let theme = list
        .and_then(|l| {
            crate::domain::branding::theme_href(l.name.as_str(), l.branding.accent_color.as_deref())
        })
        .map(|h| format!("<link rel=\"stylesheet\" href=\"{}\">", esc(&h)))
        .unwrap_or_default();
    let brand = list
        .map(|l| format!(" data-brand=\"{}\"", esc(l.name.as_str())))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><link rel=\"stylesheet\" href=\"/pkg/optbox.css\">{theme}</head>\n<body><main class=\"prefs\" id=\"main\"{brand}>{body}</main></body></html>\n",
        lang = lang.code(),
        title = esc(title),
    );
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// A page with a heading and one message (`alert` for a problem, `status` otherwise).
fn message(status: StatusCode, lang: Lang, title: &str, text: &str, extra: &str) -> Response {
    let role = if status.is_success() {
        "status"
    } else {
        "alert"
    };
    let class = if status.is_success() {
        "notice"
    } else {
        "error"
    };
    page(
        status,
        lang,
        title,
        None,
        &format!(
            "<h1>{}</h1><p class=\"{class}\" role=\"{role}\">{}</p>{extra}",
            esc(title),
            esc(text)
        ),
    )
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The visitor's language: `?lang=`/the form's `lang`, then the list's default, then the
/// browser's.
fn lang_of(asked: Option<&str>, list: Option<&ContactList>, headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        asked,
        None,
        list.and_then(|l| l.branding.default_language.as_deref()),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// A form body's fields, in order (names may repeat).
fn fields(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn server_error(e: impl std::fmt::Display, lang: Lang) -> Response {
    tracing::error!(error = %e, "recipient page failed");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        lang,
        text(lang).title,
        "Please try again in a moment.",
        "",
    )
}

/// Mail leaves through the sending pipeline; this borrows what it needs from the state.
fn mailer<'a>(st: &'a AppState, base: &'a str, inbound: Option<&'a str>) -> Mailer<'a> {
    Mailer {
        ctx: sending::Ctx {
            store: st.store.as_ref(),
            settings: &st.settings.pipeline,
            token_keys: &st.token_keys,
            public_base: base,
            signers: &st.signers,
            inbound_domain: inbound,
            require_identity: st.settings.requires_verified_identity(),
        },
        queue: &st.store,
        has_upstream: st.settings.relay_url.is_some(),
        from: st.settings.recipient_from(),
        public_base: base,
        per_address_per_day: st.settings.limits.form_mails_per_address_per_day,
    }
}

fn throttled(lang: Lang, title: &str) -> Response {
    let mut r = message(
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        title,
        words(lang).throttled,
        "",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// The email field (and the hidden language), shared by both request forms.
fn email_field(lang: Lang, value: &str) -> String {
    let w = words(lang);
    format!(
        "<label for=\"email\">{}</label><input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"email\" required value=\"{}\"><input type=\"hidden\" name=\"lang\" value=\"{}\">",
        esc(w.email_label),
        esc(value),
        lang.code()
    )
}

/// A field people never see or fill in; bots that fill every field do.
fn honeypot(lang: Lang) -> String {
    format!(
        "<div class=\"hp\" aria-hidden=\"true\"><label for=\"website\">{}</label><input type=\"text\" id=\"website\" name=\"website\" tabindex=\"-1\" autocomplete=\"off\"></div>",
        esc(words(lang).honeypot_label)
    )
}

#[derive(serde::Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
    done: Option<String>,
}

// ---- /manage -------------------------------------------------------------------------

fn manage_form(lang: Lang, status: StatusCode, error: Option<&str>, value: &str) -> Response {
    let w = words(lang);
    let err = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"email-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    page(
        status,
        lang,
        w.manage_title,
        None,
        &format!(
            "<h1>{}</h1><p class=\"lead\">{}</p>{err}<form method=\"post\" action=\"/manage\" id=\"manage-form\">{}{}<button type=\"submit\">{}</button></form>",
            esc(w.manage_title),
            esc(w.manage_intro),
            email_field(lang, value),
            honeypot(lang),
            esc(w.send_link)
        ),
    )
}

/// `GET /manage`: the form.
pub async fn manage_get(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = lang_of(q.lang.as_deref(), None, &headers);
    manage_form(lang, StatusCode::OK, None, "")
}

/// `POST /manage`: mails the link when the address is known; the answer is the same
/// either way.
pub async fn manage_post(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let lang = lang_of(field(&f, "lang"), None, &headers);
    let w = words(lang);
    let email = field(&f, "email").unwrap_or("").trim();
    let sent = || message(StatusCode::OK, lang, w.check_inbox, w.manage_sent, "");
    if field(&f, "website").is_some_and(|v| !v.is_empty()) {
        return sent();
    }
    if crate::domain::EmailAddress::parse(email).is_err() {
        return manage_form(lang, StatusCode::BAD_REQUEST, Some(w.bad_address), email);
    }
    if !st.allow_form(peer.ip(), &headers) {
        return throttled(lang, w.manage_title);
    }
    let base = st.public_base();
    let inbound = st.settings.inbound.domain();
    let m = mailer(&st, &base, inbound.as_deref());
    let letter = |link: &str| Letter {
        subject: w.manage_mail_subject.to_owned(),
        body: w.manage_mail_body.replace("{link}", link),
    };
    match requests::request_manage(&m, email, lang, letter).await {
        Ok(()) => sent(),
        Err(RequestError::BadAddress) => {
            manage_form(lang, StatusCode::BAD_REQUEST, Some(w.bad_address), email)
        }
        Err(RequestError::Throttled) => throttled(lang, w.manage_title),
        Err(e) => server_error(e, lang),
    }
}

fn expired(lang: Lang, status: StatusCode, text_: &str, again: &str) -> Response {
    let w = words(lang);
    message(
        status,
        lang,
        text(lang).title,
        text_,
        &format!(
            "<p><a href=\"{again}?lang={}\">{}</a></p>",
            lang.code(),
            esc(w.request_new_link)
        ),
    )
}

fn date(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

/// One list's section of the manage page: the same controls as the preference page.
async fn list_section(
    st: &AppState,
    token: &str,
    lang: Lang,
    r: &recipient::Resolved,
    done: bool,
) -> Result<String, ServiceError> {
    let t = text(lang);
    let state = recipient::current_state(&*st.store, r).await?;
    let name = esc(r.list.name.as_str());
    let title = esc(&requests::list_title(&r.list));
    let mut s = format!(
        "<section class=\"card\" id=\"list-{name}\" aria-labelledby=\"title-{name}\" data-brand=\"{name}\"><h2 id=\"title-{name}\">{title}</h2>"
    );
    if done {
        let _ = write!(
            s,
            "<p class=\"notice\" role=\"status\">{}</p>",
            esc(t.saved)
        );
    }
    if state.unsubscribe_all {
        let _ = write!(s, "<p class=\"notice\">{}</p>", esc(t.all_off));
    }
    let hidden = |action: &str| {
        format!(
            "<input type=\"hidden\" name=\"list\" value=\"{name}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"lang\" value=\"{}\">",
            lang.code()
        )
    };
    let action = format!("/m/{}", esc(token));
    let _ = write!(
        s,
        "<form method=\"post\" action=\"{action}\"><fieldset><legend>{}</legend>",
        esc(t.topics_legend)
    );
    for topic in recipient::localised_topics(&r.list, lang) {
        let id = format!("{name}-{}", esc(topic.name.as_str()));
        let on = !state.unsubscribe_all && state.opted_in.contains(&topic.name);
        let _ = write!(
            s,
            "<div class=\"topic\"><input type=\"checkbox\" role=\"switch\" id=\"{id}\" name=\"prefs[{}]\" value=\"on\"{} aria-describedby=\"{id}-desc\"><label for=\"{id}\">{}</label><p class=\"muted topic-desc\" id=\"{id}-desc\">{}</p></div>",
            esc(topic.name.as_str()),
            if on { " checked" } else { "" },
            esc(&topic.display_name),
            esc(&topic.description)
        );
    }
    let _ = write!(
        s,
        "</fieldset>{}<button type=\"submit\">{}</button></form>",
        hidden("save"),
        esc(t.save)
    );
    pause_controls(&mut s, &action, lang, r, &hidden);
    let _ = write!(
        s,
        "<form method=\"post\" action=\"{action}\" class=\"unsub-all\">{}<button type=\"submit\" class=\"danger\">{}</button></form></section>",
        hidden("unsubscribe_all"),
        esc(t.unsubscribe_all)
    );
    Ok(s)
}

/// The pause part of a list's controls: "paused until" with "resume now", or one button
/// per pause length the list offers.
fn pause_controls(
    s: &mut String,
    action: &str,
    lang: Lang,
    r: &recipient::Resolved,
    hidden: &dyn Fn(&str) -> String,
) {
    let w = words(lang);
    let now = crate::server::store::now_ms();
    let Some(c) = &r.contact else { return };
    if let Some(until) = c.paused_until.filter(|_| c.paused_at(now)) {
        let _ = write!(
            s,
            "<form method=\"post\" action=\"{action}\" class=\"pause\"><p class=\"notice\">{}</p>{}<button type=\"submit\" class=\"secondary\">{}</button></form>",
            esc(&w.paused_until.replace("{date}", &date(until))),
            hidden("resume"),
            esc(w.resume_now)
        );
        return;
    }
    let days = r.list.branding.pause_lengths();
    if days.is_empty() {
        return;
    }
    let _ = write!(
        s,
        "<form method=\"post\" action=\"{action}\" class=\"pause\"><fieldset><legend>{}</legend><p class=\"muted\">{}</p>{}",
        esc(w.pause_legend),
        esc(w.pause_hint),
        hidden("pause")
    );
    for d in days {
        let _ = write!(
            s,
            "<button type=\"submit\" name=\"days\" value=\"{d}\" class=\"secondary\">{}</button> ",
            esc(&w.pause_for.replace("{n}", &d.to_string()))
        );
    }
    s.push_str("</fieldset></form>");
}

/// `GET /m/{token}`: every list of the address, with its controls. Reads only.
pub async fn manage_page(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), None, &headers);
    let w = words(lang);
    let (hash, lists) = match requests::open_manage(&*st.store, &token).await {
        Ok(ManageLink::Valid { hash, lists }) => (hash, lists),
        Ok(ManageLink::Expired) => {
            return expired(lang, StatusCode::GONE, w.link_expired, "/manage");
        }
        Ok(ManageLink::Unknown) => {
            return expired(
                lang,
                StatusCode::NOT_FOUND,
                text(lang).invalid_link,
                "/manage",
            );
        }
        Err(e) => return server_error(e, lang),
    };
    let mut body = format!("<h1>{}</h1>", esc(w.your_subscriptions));
    if lists.is_empty() {
        let _ = write!(body, "<p class=\"notice\">{}</p>", esc(w.on_no_list));
    }
    for list in lists {
        let done = q.done.as_deref() == Some(list.name.as_str());
        let r = match recipient::resolve_address(&*st.store, list, hash.clone()).await {
            Ok(r) => r,
            Err(e) => return server_error(e, lang),
        };
        if r.contact.is_none() {
            continue;
        }
        match list_section(&st, &token, lang, &r, done).await {
            Ok(s) => body.push_str(&s),
            Err(e) => return server_error(e, lang),
        }
    }
    page(StatusCode::OK, lang, w.your_subscriptions, None, &body)
}

/// `POST /m/{token}`: one list's change (`save`, `unsubscribe_all`, `pause`, `resume`),
/// then back to the page.
pub async fn manage_change(
    State(st): State<AppState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let lang = lang_of(field(&f, "lang"), None, &headers);
    let w = words(lang);
    let hash = match requests::open_manage(&*st.store, &token).await {
        Ok(ManageLink::Valid { hash, .. }) => hash,
        Ok(ManageLink::Expired) => {
            return expired(lang, StatusCode::GONE, w.link_expired, "/manage");
        }
        Ok(ManageLink::Unknown) => {
            return expired(
                lang,
                StatusCode::NOT_FOUND,
                text(lang).invalid_link,
                "/manage",
            );
        }
        Err(e) => return server_error(e, lang),
    };
    let list_name = field(&f, "list").unwrap_or("");
    let list = match st.store.get_list_cached(list_name).await {
        Ok(l) => l,
        Err(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                lang,
                text(lang).title,
                text(lang).invalid_link,
                "",
            );
        }
    };
    let r = match recipient::resolve_address(&*st.store, list, hash).await {
        Ok(r) if r.contact.is_some() => r,
        Ok(_) => {
            return message(
                StatusCode::NOT_FOUND,
                lang,
                text(lang).title,
                text(lang).address_gone,
                "",
            );
        }
        Err(e) => return server_error(e, lang),
    };
    let audit = st.audit(Source::ManagePage, Some(peer.ip()), &headers);
    let outcome = match field(&f, "action").unwrap_or("") {
        "save" => {
            let want = recipient::PageState {
                unsubscribe_all: false,
                opted_in: f
                    .iter()
                    .filter_map(|(k, _)| k.strip_prefix("prefs[")?.strip_suffix(']'))
                    .filter_map(|t| TopicName::parse(t).ok())
                    .collect(),
            };
            recipient::save(&*st.store, &r, &want, &audit)
                .await
                .map(drop)
        }
        "unsubscribe_all" => match recipient::current_state(&*st.store, &r).await {
            Ok(now) => {
                let want = recipient::PageState {
                    unsubscribe_all: true,
                    opted_in: now.opted_in,
                };
                recipient::save(&*st.store, &r, &want, &audit)
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        },
        "pause" => match field(&f, "days").and_then(|d| d.parse::<u32>().ok()) {
            Some(d) => recipient::pause(&*st.store, &r, d, &audit).await.map(drop),
            None => Err(ServiceError::BadRequest("no pause length".into())),
        },
        "resume" => recipient::resume(&*st.store, &r, &audit).await,
        _ => Err(ServiceError::BadRequest("unknown action".into())),
    };
    match outcome {
        Ok(()) => see_other(&format!(
            "/m/{token}?lang={}&done={}#list-{}",
            lang.code(),
            r.list.name,
            r.list.name
        )),
        Err(ServiceError::BadRequest(_)) => message(
            StatusCode::BAD_REQUEST,
            lang,
            text(lang).title,
            words(lang).no_pause,
            "",
        ),
        Err(ServiceError::NotFound(_)) => message(
            StatusCode::NOT_FOUND,
            lang,
            text(lang).title,
            text(lang).address_gone,
            "",
        ),
        Err(e) => server_error(e, lang),
    }
}

// ---- /s/{list} and /c/{token} --------------------------------------------------------

fn subscribe_form(
    list: &ContactList,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    value: &str,
) -> Response {
    let w = words(lang);
    let title = requests::list_title(list);
    let err = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let mut topics = String::new();
    let visible = recipient::localised_topics(list, lang);
    if !visible.is_empty() {
        let _ = write!(
            topics,
            "<fieldset><legend>{}</legend>",
            esc(text(lang).topics_legend)
        );
        for t in visible {
            let id = format!("topic-{}", esc(t.name.as_str()));
            let _ = write!(
                topics,
                "<div class=\"topic\"><input type=\"checkbox\" id=\"{id}\" name=\"topic\" value=\"{}\"{} aria-describedby=\"{id}-desc\"><label for=\"{id}\">{}</label><p class=\"muted topic-desc\" id=\"{id}-desc\">{}</p></div>",
                esc(t.name.as_str()),
                if t.default_status == crate::domain::SubscriptionStatus::OptIn {
                    " checked"
                } else {
                    ""
                },
                esc(&t.display_name),
                esc(&t.description)
            );
        }
        topics.push_str("</fieldset>");
    }
    page(
        status,
        lang,
        &format!("{} · {title}", w.subscribe_title),
        Some(list),
        &format!(
            "<h1>{}</h1><p class=\"lead\">{}</p>{err}<form method=\"post\" action=\"/s/{}\" id=\"subscribe-form\">{}{topics}{}<p class=\"muted\" id=\"consent\">{}</p><button type=\"submit\" aria-describedby=\"consent\">{}</button></form>",
            esc(&title),
            esc(w.subscribe_intro),
            esc(list.name.as_str()),
            email_field(lang, value),
            honeypot(lang),
            esc(w.consent),
            esc(w.subscribe_button)
        ),
    )
}

fn no_form(lang: Lang) -> Response {
    let w = words(lang);
    message(
        StatusCode::NOT_FOUND,
        lang,
        w.subscribe_title,
        w.no_form,
        "",
    )
}

/// `GET /s/{list}`: the hosted form.
pub async fn subscribe_get(
    State(st): State<AppState>,
    Path(list): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    match requests::form_list(&*st.store, &list).await {
        Ok(l) => {
            let lang = lang_of(q.lang.as_deref(), Some(&l), &headers);
            subscribe_form(&l, lang, StatusCode::OK, None, "")
        }
        Err(RequestError::NoForm) => no_form(lang_of(q.lang.as_deref(), None, &headers)),
        Err(e) => server_error(e, lang_of(q.lang.as_deref(), None, &headers)),
    }
}

/// `POST /s/{list}`: the hosted form's submission, or a sender's site posting its own
/// form here. Mails the confirmation link; subscribes nobody.
pub async fn subscribe_post(
    State(st): State<AppState>,
    Path(list): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let list = match requests::form_list(&*st.store, &list).await {
        Ok(l) => l,
        Err(RequestError::NoForm) => return no_form(lang_of(field(&f, "lang"), None, &headers)),
        Err(e) => return server_error(e, lang_of(field(&f, "lang"), None, &headers)),
    };
    let lang = lang_of(field(&f, "lang"), Some(&list), &headers);
    let w = words(lang);
    let title = requests::list_title(&list);
    let sent = || message(StatusCode::OK, lang, w.check_inbox, w.subscribe_sent, "");
    if field(&f, "website").is_some_and(|v| !v.is_empty()) {
        return sent();
    }
    let email = field(&f, "email").unwrap_or("").trim();
    if crate::domain::EmailAddress::parse(email).is_err() {
        return subscribe_form(
            &list,
            lang,
            StatusCode::BAD_REQUEST,
            Some(w.bad_address),
            email,
        );
    }
    if !st.allow_form(peer.ip(), &headers) {
        return throttled(lang, w.subscribe_title);
    }
    let topics: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "topic")
        .map(|(_, v)| v.clone())
        .collect();
    let base = st.public_base();
    let inbound = st.settings.inbound.domain();
    let m = mailer(&st, &base, inbound.as_deref());
    let audit = st.audit(Source::SubscribeForm, Some(peer.ip()), &headers);
    let letter = |link: &str| Letter {
        subject: w.confirm_mail_subject.replace("{list}", &title),
        body: w
            .confirm_mail_body
            .replace("{list}", &title)
            .replace("{link}", link),
    };
    match requests::request_subscription(&m, &list, email, &topics, lang, &audit, w.consent, letter)
        .await
    {
        Ok(()) => sent(),
        Err(RequestError::BadAddress) => subscribe_form(
            &list,
            lang,
            StatusCode::BAD_REQUEST,
            Some(w.bad_address),
            email,
        ),
        Err(RequestError::Throttled) => throttled(lang, w.subscribe_title),
        Err(RequestError::NoForm) => no_form(lang),
        Err(e) => server_error(e, lang),
    }
}

/// The answer for a confirmation link that is not (or no longer) valid.
fn confirm_refusal(link: &ConfirmLink, lang: Lang) -> Option<Response> {
    let w = words(lang);
    match link {
        ConfirmLink::Valid { .. } => None,
        ConfirmLink::Used { list } => Some(message(
            StatusCode::OK,
            lang,
            w.confirmed_title,
            &w.confirmed.replace(
                "{list}",
                &list
                    .as_deref()
                    .map(requests::list_title)
                    .unwrap_or_default(),
            ),
            "",
        )),
        ConfirmLink::Expired => Some(message(
            StatusCode::GONE,
            lang,
            w.confirm_title,
            w.link_expired,
            "",
        )),
        ConfirmLink::Unknown => Some(message(
            StatusCode::NOT_FOUND,
            lang,
            w.confirm_title,
            text(lang).invalid_link,
            "",
        )),
    }
}

/// `GET /c/{token}`: asks for the confirmation. Opening the link (as a scanner does)
/// changes nothing.
pub async fn confirm_get(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let link = match requests::open_confirmation(&*st.store, &token).await {
        Ok(l) => l,
        Err(e) => return server_error(e, lang_of(q.lang.as_deref(), None, &headers)),
    };
    let stored_lang = match &link {
        ConfirmLink::Valid { pending, .. } => Some(pending.lang.clone()),
        _ => None,
    };
    let lang = lang_of(q.lang.as_deref().or(stored_lang.as_deref()), None, &headers);
    if let Some(r) = confirm_refusal(&link, lang) {
        return r;
    }
    let ConfirmLink::Valid { list, .. } = &link else {
        return server_error("unreachable", lang);
    };
    let w = words(lang);
    let title = requests::list_title(list);
    page(
        StatusCode::OK,
        lang,
        w.confirm_title,
        Some(list),
        &format!(
            "<h1>{}</h1><p class=\"lead\">{}</p><form method=\"post\" action=\"/c/{}\" id=\"confirm-form\"><input type=\"hidden\" name=\"lang\" value=\"{}\"><button type=\"submit\">{}</button></form>",
            esc(w.confirm_title),
            esc(&w.confirm_intro.replace("{list}", &title)),
            esc(&token),
            lang.code(),
            esc(w.confirm_button)
        ),
    )
}

/// `POST /c/{token}`: confirms.
pub async fn confirm_post(
    State(st): State<AppState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let lang = lang_of(field(&f, "lang"), None, &headers);
    let audit = st.audit(Source::SubscribeForm, Some(peer.ip()), &headers);
    let link = match requests::confirm(&*st.store, &token, &audit).await {
        Ok(l) => l,
        Err(e) => return server_error(e, lang),
    };
    if let ConfirmLink::Valid { list, .. } = &link {
        let w = words(lang);
        return message(
            StatusCode::OK,
            lang,
            w.confirmed_title,
            &w.confirmed.replace("{list}", &requests::list_title(list)),
            "",
        );
    }
    confirm_refusal(&link, lang).unwrap_or_else(|| server_error("unreachable", lang))
}
