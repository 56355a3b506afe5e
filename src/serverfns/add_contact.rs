//! Adds an address to a list, then opens the contact.

use leptos::prelude::*;

#[server(endpoint = "add_contact")]
pub async fn add_contact(list: String, email: String) -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    let c = admin::add_contact(&*state().store, &user, &list, &email, &audit().await)
        .await
        .map_err(service)?;
    leptos_axum::redirect(&format!(
        "/admin/lists/{list}/contact?email={}",
        crate::domain::query::query_escape(c.email.as_str())
    ));
    Ok(())
}
