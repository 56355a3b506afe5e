//! Deletes a contact (its opt-outs stay as a tombstone), then returns to the list.

use leptos::prelude::*;

#[server(endpoint = "delete_contact")]
pub async fn delete_contact(list: String, email: String) -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    admin::delete_contact(&*state().store, &user, &list, &email, &audit().await)
        .await
        .map_err(service)?;
    leptos_axum::redirect(&format!("/admin/lists/{list}/contacts"));
    Ok(())
}
