//! Deletes a webhook destination with its pending deliveries.

use leptos::prelude::*;

#[server(endpoint = "delete_webhook")]
pub async fn delete_webhook(id: i64) -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    admin_ops::delete_webhook(&*state().store, &user, id, &audit().await)
        .await
        .map_err(service)?;
    leptos_axum::redirect("/admin/webhooks");
    Ok(())
}
