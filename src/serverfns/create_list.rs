//! Creates a contact list, then opens its page.

use leptos::prelude::*;

#[server(endpoint = "create_list")]
pub async fn create_list(name: String, description: String) -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    let st = state();
    let list = admin::create_list(
        &*st.store,
        &st.limits,
        &user,
        &name,
        &description,
        &audit().await,
    )
    .await
    .map_err(service)?;
    leptos_axum::redirect(&format!("/admin/lists/{}", list.name));
    Ok(())
}
