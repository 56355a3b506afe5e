//! Adds a dashboard user with a role and an initial password (owners only).

use leptos::prelude::*;

#[server(endpoint = "add_user")]
pub async fn add_user(
    email: String,
    role: String,
    password: String,
) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::auth::{self, Role};
    let user = require(Role::Owner).await?;
    let role = Role::parse(role.trim()).map_err(service)?;
    let u = auth::add_user(
        &*state().store,
        &user,
        &email,
        role,
        &password,
        &audit().await,
    )
    .await
    .map_err(service)?;
    Ok(format!("{} added as {}", u.email, u.role))
}
