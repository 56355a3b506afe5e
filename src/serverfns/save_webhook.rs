//! Creates a webhook destination (`id` empty) or changes one, then opens its page.

use leptos::prelude::*;

/// `events` is comma-separated (empty: every kind); `list` empty means every list; on an
/// edit an empty `secret` keeps the current one.
#[server(endpoint = "save_webhook")]
pub async fn save_webhook(
    id: String,
    url: String,
    secret: String,
    events: String,
    list: String,
) -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    let id = match id.trim() {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .map_err(|_| ServerFnError::new(format!("{s:?} is not a webhook id")))?,
        ),
    };
    let form = admin_ops::WebhookForm {
        url,
        secret,
        events,
        list,
    };
    let st = state();
    let hook = admin_ops::save_webhook(
        &*st.store,
        crate::server::events::UrlRules::new(&st.settings),
        &user,
        id,
        &form,
        &audit().await,
    )
    .await
    .map_err(service)?;
    leptos_axum::redirect(&format!("/admin/webhooks/{}?saved=1", hook.id));
    Ok(())
}
