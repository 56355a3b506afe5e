//! The data of the recipient's preference page. Reads only: a GET never changes state.

use crate::domain::lang::Lang;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicView {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub opted_in: bool,
}

/// What changed in the last save, with the state to go back to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedView {
    pub undo_state: String,
    pub subscribed: Vec<String>,
    pub unsubscribed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrefPage {
    pub lang: Lang,
    /// The list's name: the page's `data-brand`, which its stylesheet colours.
    pub list: String,
    pub list_title: String,
    /// The list's stylesheet (accent colour), same-origin.
    pub theme_href: Option<String>,
    /// The list's uploaded logo, same-origin.
    pub logo_src: Option<String>,
    pub email_hint: Option<String>,
    pub unsubscribe_all: bool,
    pub topics: Vec<TopicView>,
    pub privacy_url: Option<String>,
    pub footer: Option<String>,
    pub saved: Option<SavedView>,
    /// A problem with the last submission, in the visitor's language.
    pub error: Option<String>,
    /// The day (`YYYY-MM-DD`, UTC) a running pause ends.
    pub paused_until: Option<String>,
    /// The pause lengths the list offers, in days.
    pub pause_days: Vec<u32>,
}

/// An error the page can show in the visitor's language.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrefError {
    pub lang: Lang,
    pub message: String,
}

/// Masks an address for display: `j***@example.com`.
pub fn mask_email(e: &str) -> String {
    match e.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[server(endpoint = "preferences")]
pub async fn get_preferences(
    token: String,
    lang: Option<String>,
    saved: Option<String>,
    error: Option<String>,
) -> Result<Result<PrefPage, PrefError>, ServerFnError> {
    use super::support::{internal, state};
    use crate::server::service::{ServiceError, recipient};
    use crate::ui::i18n::text;
    let st = state();
    let headers: axum::http::HeaderMap = leptos_axum::extract().await?;
    let accept = headers
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let r = match recipient::resolve(&*st.store, &st.token_keys, &token).await {
        Ok(r) => r,
        Err(e @ (ServiceError::BadRequest(_) | ServiceError::NotFound(_))) => {
            let status = if matches!(e, ServiceError::BadRequest(_)) {
                400
            } else {
                404
            };
            if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
                resp.set_status(axum::http::StatusCode::from_u16(status).expect("valid"));
            }
            metrics::counter!("optbox_page_renders_total", "outcome" => "invalid_link")
                .increment(1);
            let lang = Lang::negotiate(lang.as_deref(), None, None, accept.as_deref());
            return Ok(Err(PrefError {
                lang,
                message: text(lang).invalid_link.into(),
            }));
        }
        Err(e) => return Err(internal(e)),
    };
    let view = recipient::page(
        &*st.store,
        &r,
        lang.as_deref(),
        accept.as_deref(),
        saved.as_deref(),
    )
    .await
    .map_err(internal)?;
    metrics::counter!("optbox_page_renders_total", "outcome" => "ok").increment(1);
    let (lang, now) = (view.lang, view.now);
    let saved = view.saved.map(|s| SavedView {
        undo_state: s.undo.encode(),
        subscribed: s.subscribed,
        unsubscribed: s.unsubscribed,
    });
    // Without its logo the page still works: a failed read is logged, not shown.
    let logo_src = match st.logos.get(&*st.store, r.list.id).await {
        Ok(logo) => {
            logo.map(|g| crate::domain::branding::logo_src(r.list.name.as_str(), &g.version))
        }
        Err(e) => {
            tracing::warn!(error = %e, "list logo unavailable");
            None
        }
    };
    Ok(Ok(PrefPage {
        lang,
        list: r.list.name.to_string(),
        theme_href: crate::domain::branding::theme_href(
            r.list.name.as_str(),
            r.list.branding.accent_color.as_deref(),
        ),
        logo_src,
        list_title: r
            .list
            .branding
            .display_name
            .clone()
            .unwrap_or_else(|| r.list.name.to_string()),
        email_hint: r.contact.as_ref().map(|c| mask_email(c.email.as_str())),
        unsubscribe_all: now.unsubscribe_all,
        topics: view
            .topics
            .iter()
            .map(|t| TopicView {
                name: t.name.to_string(),
                display_name: t.display_name.clone(),
                description: t.description.clone(),
                opted_in: !now.unsubscribe_all && now.opted_in.contains(&t.name),
            })
            .collect(),
        privacy_url: r
            .list
            .branding
            .privacy_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        footer: r.list.branding.footer_text.clone(),
        saved,
        paused_until: view
            .paused_until
            .map(|ms| crate::server::events::iso(ms).chars().take(10).collect()),
        pause_days: view.pause_days,
        error: match error.as_deref() {
            Some("gone") => Some(text(lang).address_gone.into()),
            Some("pause") => Some(crate::ui::i18n::words(lang).no_pause.into()),
            Some(_) => Some(text(lang).invalid_link.into()),
            None => None,
        },
    }))
}
