//! The recipient pages: `/u/{token}` (the preference page of a mail's link, and the
//! survey after an unsubscribe), `/manage` (ask for a link to manage every subscription
//! of an address), `/m/{token}` (the page that link opens), `/s/{list}` (the hosted
//! subscription form, also the endpoint a sender's site posts to) and `/c/{token}`
//! (confirming it).
//!
//! Plain server-rendered HTML and form POSTs answered with a redirect or a page: they
//! work the same with and without JavaScript, load nothing but the site's stylesheet
//! (and the list's), and render in microseconds. Every GET only reads; every change is a
//! POST. Errors are pages in the visitor's language.

use crate::domain::i18n::{text, words};
use crate::domain::lang::Lang;
use crate::domain::{ContactList, Source, TopicName};
use crate::server::http::page::esc;
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

/// A whole page: `body` is HTML already escaped.
fn page(
    status: StatusCode,
    lang: Lang,
    title: &str,
    list: Option<&ContactList>,
    body: &str,
) -> Response {
    page_with(status, lang, title, list, body, "")
}

/// [`page`] with more in its head (`head`: HTML already escaped).
fn page_with(
    status: StatusCode,
    lang: Lang,
    title: &str,
    list: Option<&ContactList>,
    body: &str,
    head: &str,
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
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><link rel=\"stylesheet\" href=\"/pkg/optbox.css\">{theme}{head}</head>\n<body><main class=\"prefs\" id=\"main\"{brand}>{body}</main></body></html>\n",
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

fn server_error(e: impl std::error::Error + 'static, lang: Lang) -> Response {
    tracing::error!(error = %crate::server::service::chain(&e), "recipient page failed");
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

/// The switches of a list's visible topics (in `lang`), on as `state` says; `id` is
/// each switch's id prefix (several lists share the manage page).
fn topic_switches(
    s: &mut String,
    id: &str,
    topics: &[crate::domain::Topic],
    state: &recipient::PageState,
    lang: Lang,
) {
    let _ = write!(
        s,
        "<fieldset><legend>{}</legend>",
        esc(text(lang).topics_legend)
    );
    for topic in topics {
        let id = format!("{}-{}", esc(id), esc(topic.name.as_str()));
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
    s.push_str("</fieldset>");
}

/// The pause part of a list's controls: "paused until" with "resume now", or one button
/// per pause length the list offers (nothing when it offers none). `ids` gives the forms
/// the ids the preference page's script and tests find (one list per page only).
fn pause_controls(
    s: &mut String,
    action: &str,
    ids: bool,
    paused_until: Option<i64>,
    days: &[u32],
    lang: Lang,
    hidden: &dyn Fn(&str) -> String,
) {
    let w = words(lang);
    let id = |v: &str| {
        if ids {
            format!(" id=\"{v}\"")
        } else {
            String::new()
        }
    };
    if let Some(until) = paused_until {
        let _ = write!(
            s,
            "<form method=\"post\" action=\"{action}\"{} class=\"pause\">{}<p class=\"notice\"{}>{}</p><button type=\"submit\" class=\"secondary\">{}</button></form>",
            id("resume-form"),
            hidden("resume"),
            id("paused"),
            esc(&w.paused_until.replace("{date}", &date(until))),
            esc(w.resume_now)
        );
        return;
    }
    if days.is_empty() {
        return;
    }
    let _ = write!(
        s,
        "<form method=\"post\" action=\"{action}\"{} class=\"pause\"><fieldset><legend>{}</legend><p class=\"muted\">{}</p>{}",
        id("pause-form"),
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

mod manage;
mod preferences;
mod subscribe;

pub use manage::{manage_change, manage_get, manage_page, manage_post};
pub use preferences::{invalid_link, one_click_answer, preferences_page};
pub use subscribe::{confirm_get, confirm_post, subscribe_get, subscribe_post};
