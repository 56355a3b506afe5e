//! One message of the development outbox: envelope, header and body.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailView {
    pub id: i64,
    pub from: String,
    pub rcpt: String,
    pub created: String,
    pub header: String,
    pub body: String,
}

#[server(endpoint = "outbox_message")]
pub async fn get_outbox_message(id: i64) -> Result<MailView, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Viewer).await?;
    let st = state();
    let m = admin_ops::outbox_message(&st.store, &st.settings, &user, id)
        .await
        .map_err(service)?;
    let raw = String::from_utf8_lossy(&m.data);
    let (header, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((&raw, ""));
    Ok(MailView {
        id: m.id,
        from: m.mail_from,
        rcpt: m.rcpt,
        created: when(m.created_at),
        header: header.replace("\r\n", "\n"),
        body: body.replace("\r\n", "\n"),
    })
}
