//! The development outbox: messages kept because no relay is configured.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailRow {
    pub id: i64,
    pub message_id: String,
    pub from: String,
    pub rcpt: String,
    pub size: i64,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxPage {
    pub rows: Vec<MailRow>,
    /// The `before` of the next (older) page, when there is one.
    pub next_before: Option<i64>,
}

#[server(endpoint = "outbox")]
pub async fn get_outbox(before: Option<i64>) -> Result<OutboxPage, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Viewer).await?;
    let st = state();
    let (page, more) = admin_ops::outbox(&st.store, &st.settings, &user, before)
        .await
        .map_err(service)?;
    let next_before = if more {
        page.last().map(|m| m.id)
    } else {
        None
    };
    Ok(OutboxPage {
        rows: page
            .into_iter()
            .map(|m| MailRow {
                id: m.id,
                message_id: m.message_id,
                from: m.mail_from,
                rcpt: m.rcpt,
                size: m.size,
                created: when(m.created_at),
            })
            .collect(),
        next_before,
    })
}
