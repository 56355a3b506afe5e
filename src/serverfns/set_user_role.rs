//! Changes a user's role (owners only; the last owner stays an owner).

use leptos::prelude::*;

#[server(endpoint = "set_user_role")]
pub async fn set_user_role(id: i64, role: String) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::auth::{self, Role};
    let user = require(Role::Owner).await?;
    let role = Role::parse(role.trim()).map_err(service)?;
    let u = auth::set_role(&*state().store, &user, id, role, &audit().await)
        .await
        .map_err(service)?;
    Ok(format!("{} is now {}", u.email, u.role))
}
