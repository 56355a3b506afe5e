//! A page of the account suppression list: search by address, a reason filter, keyset
//! paging (newest first).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuppressionRow {
    pub email: String,
    /// `BOUNCE` or `COMPLAINT`.
    pub reason: String,
    pub since: String,
    /// The message whose bounce or complaint put it there, when known.
    pub message_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuppressionsPage {
    pub rows: Vec<SuppressionRow>,
    /// The `after` of the next page, when there is one.
    pub next_after: Option<String>,
    pub can_edit: bool,
}

/// `after` is `<ms>:<address>` of the last entry of the previous page.
#[server(endpoint = "suppressions")]
pub async fn get_suppressions(
    q: Option<String>,
    reason: Option<String>,
    after: Option<String>,
) -> Result<SuppressionsPage, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::domain::SuppressionReason;
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let reason = match reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Some(
            SuppressionReason::parse(r)
                .ok_or_else(|| ServerFnError::new("the reason must be BOUNCE or COMPLAINT"))?,
        ),
        None => None,
    };
    let after = match after.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => {
            let (at, email) = a
                .split_once(':')
                .and_then(|(t, e)| Some((t.parse::<i64>().ok()?, e.to_owned())))
                .ok_or_else(|| ServerFnError::new("the page link is not valid"))?;
            Some((at, email))
        }
        None => None,
    };
    let (rows, more) = admin::suppressions(
        &*state().store,
        &user,
        q.as_deref().unwrap_or(""),
        reason,
        after,
    )
    .await
    .map_err(service)?;
    let next_after = if more {
        rows.last().map(|s| format!("{}:{}", s.updated_at, s.email))
    } else {
        None
    };
    Ok(SuppressionsPage {
        rows: rows
            .into_iter()
            .map(|s| SuppressionRow {
                since: when(s.updated_at),
                reason: s.reason.as_str().to_owned(),
                message_id: s.message_id.unwrap_or_default(),
                email: s.email,
            })
            .collect(),
        next_after,
        can_edit: user.role >= Role::Admin,
    })
}
