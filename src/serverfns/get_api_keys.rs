//! The API keys page: every SES-API key (never a secret).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKeyRow {
    pub access_key_id: String,
    pub description: String,
    /// `all`, or the key's limits.
    pub scope: String,
    pub created: String,
    /// When it was revoked, or empty while active.
    pub revoked: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKeysPage {
    pub can_edit: bool,
    pub keys: Vec<ApiKeyRow>,
}

#[server(endpoint = "api_keys")]
pub async fn get_api_keys() -> Result<ApiKeysPage, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Viewer).await?;
    let keys = admin_ops::api_keys(&*state().store, &user)
        .await
        .map_err(service)?;
    Ok(ApiKeysPage {
        can_edit: user.role >= Role::Admin,
        keys: keys
            .into_iter()
            .map(|k| ApiKeyRow {
                scope: crate::server::service::api_keys::scope_of(&k)
                    .map(|s| s.describe())
                    .unwrap_or_else(|_| "(unreadable)".into()),
                access_key_id: k.access_key_id,
                description: k.description,
                created: when(k.created_at),
                revoked: k.revoked_at.map(when).unwrap_or_default(),
            })
            .collect(),
    })
}
