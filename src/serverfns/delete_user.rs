//! Removes a user (owners only; not yourself, not the last owner).

use leptos::prelude::*;

#[server(endpoint = "delete_user")]
pub async fn delete_user(id: i64) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::auth::{self, Role};
    let user = require(Role::Owner).await?;
    auth::remove_user(&*state().store, &user, id, &audit().await)
        .await
        .map_err(service)?;
    Ok("user removed".into())
}
