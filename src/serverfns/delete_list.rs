//! Deletes a contact list with its contacts (the name must be typed again).

use leptos::prelude::*;

#[server(endpoint = "delete_list")]
pub async fn delete_list(name: String, confirm: String) -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    admin::delete_list(&*state().store, &user, &name, &confirm, &audit().await)
        .await
        .map_err(service)?;
    leptos_axum::redirect("/admin/lists");
    Ok(())
}
