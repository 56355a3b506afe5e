//! Saves a list's description and landing-page branding.

use leptos::prelude::*;

#[server(endpoint = "save_list")]
#[allow(clippy::too_many_arguments)]
pub async fn save_list(
    name: String,
    description: String,
    display_name: String,
    accent_color: String,
    privacy_url: String,
    footer_text: String,
    default_language: String,
    subscribe_form: Option<String>,
    pause_days: Option<String>,
    topic_texts: Option<String>,
    unsubscribe_reasons: Option<String>,
) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    let st = state();
    let d = admin::ListDetails {
        description,
        display_name,
        accent_color,
        privacy_url,
        footer_text,
        default_language,
        subscribe_form: subscribe_form.is_some(),
        pause_days,
        topic_texts,
        unsubscribe_reasons,
    };
    admin::save_details(&*st.store, &st.limits, &user, &name, &d, &audit().await)
        .await
        .map_err(service)?;
    Ok("saved".into())
}
