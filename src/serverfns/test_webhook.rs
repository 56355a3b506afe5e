//! Sends a signed test event to a webhook destination now and shows the answer.

use leptos::prelude::*;

/// On success the page is reloaded with `?tested=STATUS`; a failure comes back as the
/// form's error.
#[server(endpoint = "test_webhook")]
pub async fn test_webhook(id: i64) -> Result<(), ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    let st = state();
    let status = admin_ops::test_webhook(
        &*st.store,
        &st.settings.webhooks,
        crate::server::events::UrlRules::new(&st.settings),
        &user,
        id,
    )
    .await
    .map_err(service)?;
    leptos_axum::redirect(&format!("/admin/webhooks/{id}?tested={status}"));
    Ok(())
}
