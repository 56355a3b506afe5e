//! Saves the preference form (or undoes the last save), then returns the visitor to the
//! page with what changed. Works as a plain form POST and in place with JavaScript.

use leptos::prelude::*;
use std::collections::HashMap;

/// `action` is `save` (checked topics in `prefs[topic]`), `unsubscribe_all`, `set`
/// (restore `state`, for undo), `pause` (for `days` days), `resume`, or `reason` (the
/// survey's answer `reason`, with optional `comment`).
#[server(endpoint = "save_preferences")]
#[allow(clippy::too_many_arguments)]
pub async fn save_preferences(
    token: String,
    action: String,
    prefs: Option<HashMap<String, String>>,
    state: Option<String>,
    lang: Option<String>,
    days: Option<String>,
    reason: Option<String>,
    comment: Option<String>,
) -> Result<(), ServerFnError> {
    use super::support::{internal, state as app_state};
    use crate::domain::Source;
    use crate::domain::TopicName;
    use crate::domain::lang::Lang;
    use crate::server::service::{ServiceError, recipient};
    let st = app_state();
    // Recipient pages send no Referer (Referrer-Policy: no-referrer), so a plain form POST
    // cannot be sent "back" on error: every outcome the visitor can cause is a redirect to
    // the page, which shows it. Only the token's own alphabet goes into the Location.
    let safe: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(300)
        .collect();
    let lang = lang
        .filter(|l| Lang::parse(l).is_some())
        .map(|l| format!("&lang={l}"))
        .unwrap_or_default();
    let back = |query: String| -> Result<(), ServerFnError> {
        leptos_axum::redirect(&format!("/u/{safe}?{query}{lang}"));
        Ok(())
    };
    let r = match recipient::resolve(&*st.store, &st.token_keys, &token).await {
        Ok(r) => r,
        Err(ServiceError::BadRequest(_) | ServiceError::NotFound(_)) => {
            return back("error=invalid".into());
        }
        Err(e) => return Err(internal(e)),
    };
    let audit = super::support::request_audit(Source::LandingPage).await;
    match action.as_str() {
        "pause" => {
            let days = days.and_then(|d| d.parse::<u32>().ok()).unwrap_or(0);
            return match recipient::pause(&*st.store, &r, days, &audit).await {
                Ok(_) => back("paused=1".into()),
                Err(ServiceError::BadRequest(_)) => back("error=pause".into()),
                Err(ServiceError::NotFound(_)) => back("error=gone".into()),
                Err(e) => Err(internal(e)),
            };
        }
        "reason" => {
            let (reason, comment) = (reason.unwrap_or_default(), comment.unwrap_or_default());
            return match recipient::record_reason(&*st.store, &r, &reason, &comment, &audit).await {
                Ok(()) => back("thanks=1".into()),
                Err(ServiceError::BadRequest(_)) => back("error=reason".into()),
                Err(e) => Err(internal(e)),
            };
        }
        "resume" => {
            return match recipient::resume(&*st.store, &r, &audit).await {
                Ok(()) => back("resumed=1".into()),
                Err(e) => Err(internal(e)),
            };
        }
        _ => {}
    }
    let current = recipient::current_state(&*st.store, &r)
        .await
        .map_err(internal)?;
    let want = match action.as_str() {
        "save" => recipient::PageState {
            unsubscribe_all: false,
            opted_in: prefs
                .unwrap_or_default()
                .into_keys()
                .filter_map(|k| TopicName::parse(&k).ok())
                .collect(),
        },
        "unsubscribe_all" => recipient::PageState {
            unsubscribe_all: true,
            opted_in: current.opted_in.clone(),
        },
        "set" => match state.as_deref().and_then(recipient::PageState::decode) {
            Some(s) => s,
            None => return back("error=invalid".into()),
        },
        _ => return back("error=invalid".into()),
    };
    match recipient::save(&*st.store, &r, &want, &audit).await {
        Ok(before) => back(format!("saved={}", before.encode())),
        Err(ServiceError::NotFound(_) | ServiceError::BadRequest(_)) => back("error=gone".into()),
        Err(e) => Err(internal(e)),
    }
}
