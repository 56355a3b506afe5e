//! Takes an address off the account suppression list, with the operator's reason.

use leptos::prelude::*;

#[server(endpoint = "remove_suppression")]
pub async fn remove_suppression(email: String, why: String) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    admin::remove_suppression(&*state().store, &user, &email, &why, &audit().await)
        .await
        .map_err(service)?;
    Ok(format!(
        "{} was removed from the suppression list",
        email.trim()
    ))
}
