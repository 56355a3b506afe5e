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
    /// The configuration-set event destinations naming it (`set/destination`, comma
    /// separated): then it gets only what those route to it.
    pub routed: String,
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
        routed: String::new(),
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
    let routes = crate::server::service::webhooks::routes(&*state().store)
        .await
        .map_err(service)?;
    Ok(WebhooksPage {
        can_edit: user.role >= Role::Admin,
        hooks: hooks
            .iter()
            .map(|h| WebhookRow {
                routed: routes.get(&h.id).map(|r| r.join(", ")).unwrap_or_default(),
                ..row(h)
            })
            .collect(),
    })
}
