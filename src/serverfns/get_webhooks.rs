//! The webhooks page: every destination.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    /// Comma-separated event kinds; empty means every kind.
    pub events: String,
    /// Empty means every list.
    pub list: String,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhooksPage {
    pub can_edit: bool,
    pub hooks: Vec<WebhookRow>,
}

#[cfg(feature = "ssr")]
pub fn row(h: &crate::server::store::WebhookRecord) -> WebhookRow {
    WebhookRow {
        id: h.id,
        url: h.url.clone(),
        events: h.event_types.join(","),
        list: h.list_name.clone().unwrap_or_default(),
        created: super::support::when(h.created_at),
    }
}

#[server(endpoint = "webhooks")]
pub async fn get_webhooks() -> Result<WebhooksPage, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Viewer).await?;
    let hooks = admin_ops::webhooks(&*state().store, &user)
        .await
        .map_err(service)?;
    Ok(WebhooksPage {
        can_edit: user.role >= Role::Admin,
        hooks: hooks.iter().map(row).collect(),
    })
}
