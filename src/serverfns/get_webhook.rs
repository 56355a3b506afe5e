//! One webhook destination with a page of its delivery log.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::get_webhooks::WebhookRow;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: i64,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    /// The receiver's last HTTP status, or empty.
    pub last_status: String,
    pub last_error: String,
    pub created: String,
    pub delivered: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookDetail {
    pub hook: WebhookRow,
    pub deliveries: Vec<DeliveryRow>,
    /// The `before` of the next (older) page of the log, when there is one.
    pub next_before: Option<i64>,
    pub can_edit: bool,
}

#[server(endpoint = "webhook")]
pub async fn get_webhook(id: i64, before: Option<i64>) -> Result<WebhookDetail, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Viewer).await?;
    let (hook, log, more) = admin_ops::webhook(&*state().store, &user, id, before)
        .await
        .map_err(service)?;
    let next_before = if more { log.last().map(|d| d.id) } else { None };
    Ok(WebhookDetail {
        hook: super::get_webhooks::row(&hook),
        deliveries: log
            .into_iter()
            .map(|d| DeliveryRow {
                id: d.id,
                event_id: d.event_id,
                status: d.status.as_str().to_owned(),
                attempts: d.attempts,
                last_status: d.last_status.map(|s| s.to_string()).unwrap_or_default(),
                last_error: d.last_error.unwrap_or_default(),
                created: when(d.created_at),
                delivered: d.delivered_at.map(when).unwrap_or_default(),
            })
            .collect(),
        next_before,
        can_edit: user.role >= Role::Admin,
    })
}
