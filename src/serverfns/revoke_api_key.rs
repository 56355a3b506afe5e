//! Revokes an SES-API key; effective for the next request on every instance.

use leptos::prelude::*;

#[server(endpoint = "revoke_api_key")]
pub async fn revoke_api_key(access_key_id: String) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    admin_ops::revoke_api_key(&*state().store, &user, &access_key_id, &audit().await)
        .await
        .map_err(service)?;
    Ok(format!("key {} revoked", access_key_id.trim()))
}
