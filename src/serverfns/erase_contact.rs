//! Erases an address everywhere (the right to erasure; owners only), then returns to
//! the list.

use leptos::prelude::*;

#[server(endpoint = "erase_contact")]
pub async fn erase_contact(
    list: String,
    email: String,
    confirm: Option<String>,
) -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{ServiceError, auth::Role, privacy};
    let user = require(Role::Owner).await?;
    if confirm.as_deref() != Some("on") {
        return Err(service(ServiceError::BadRequest(
            "tick the box to confirm: an erasure cannot be undone".into(),
        )));
    }
    let st = state();
    privacy::erase_as(
        &st.store,
        &st.settings.import_dir,
        &user,
        &email,
        &audit().await,
    )
    .await
    .map_err(service)?;
    leptos_axum::redirect(&format!("/admin/lists/{list}/contacts"));
    Ok(())
}
