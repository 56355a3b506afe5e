//! A page of a list's contacts: prefix search, a topic-status filter, keyset paging.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContactRow {
    pub email: String,
    pub unsubscribe_all: bool,
    /// Effective opt-in for each topic of the list, in the list's order.
    pub opted_in: Vec<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContactsPage {
    pub list: String,
    pub topics: Vec<String>,
    pub rows: Vec<ContactRow>,
    /// The `after` of the next page, when there is one.
    pub next_after: Option<i64>,
    /// With a search: the `after_key` of the next page (pages are in address order).
    pub next_after_key: Option<String>,
    pub can_edit: bool,
}

/// `status` is `OPT_IN` or `OPT_OUT` (with `topic`); `after` the last id of the previous
/// page, or with a search `after_key` its last matching key.
#[server(endpoint = "contacts")]
pub async fn get_contacts(
    list: String,
    q: Option<String>,
    topic: Option<String>,
    status: Option<String>,
    after: Option<i64>,
    after_key: Option<String>,
) -> Result<ContactsPage, ServerFnError> {
    use super::support::{require, service, state};
    use crate::domain::SubscriptionStatus;
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let status = match status.as_deref().unwrap_or("") {
        "" => None,
        "OPT_IN" => Some(SubscriptionStatus::OptIn),
        "OPT_OUT" => Some(SubscriptionStatus::OptOut),
        _ => return Err(ServerFnError::new("the status is OPT_IN or OPT_OUT")),
    };
    let query = admin::ContactsQuery {
        list: &list,
        prefix: q.as_deref(),
        topic: topic.as_deref(),
        status,
        after_id: after,
        after_key: after_key.as_deref(),
    };
    let (l, page, more) = admin::contacts(&*state().store, &user, &query)
        .await
        .map_err(service)?;
    let searching = q.as_deref().is_some_and(|p| !p.trim().is_empty());
    let (next_after, next_after_key) = match page.last() {
        Some(c) if more && searching => (None, Some(c.email.key())),
        Some(c) if more => (Some(c.id), None),
        _ => (None, None),
    };
    Ok(ContactsPage {
        list: l.name.to_string(),
        topics: l.topics.iter().map(|t| t.name.to_string()).collect(),
        rows: page
            .into_iter()
            .map(|c| ContactRow {
                opted_in: l
                    .topics
                    .iter()
                    .map(|t| c.status_for(t) == SubscriptionStatus::OptIn)
                    .collect(),
                email: c.email.to_string(),
                unsubscribe_all: c.unsubscribe_all,
            })
            .collect(),
        next_after,
        next_after_key,
        can_edit: user.role >= Role::Admin,
    })
}
