//! A page of the event log with filters (list, topic, kind, contact, date range).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::get_contact::EventRow;
pub use crate::domain::EventFilters;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogRow {
    pub list: String,
    pub contact: String,
    pub event: EventRow,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventsPage {
    pub rows: Vec<LogRow>,
    /// The `before` of the next (older) page, when there is one.
    pub next_before: Option<i64>,
    pub kinds: Vec<String>,
}

#[server(endpoint = "events")]
pub async fn get_events(
    filters: EventFilters,
    before: Option<i64>,
) -> Result<EventsPage, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let mut q = admin::event_query(&filters).map_err(ServerFnError::new)?;
    q.before_id = before;
    q.limit = admin::EVENTS_PAGE;
    let (page, more) = admin::events(&*state().store, &user, &q)
        .await
        .map_err(service)?;
    let next_before = if more {
        page.last().map(|e| e.id)
    } else {
        None
    };
    Ok(EventsPage {
        rows: page
            .into_iter()
            .map(|mut e| LogRow {
                list: e.list_name.take().unwrap_or_default(),
                contact: e.contact_email.take().unwrap_or_default(),
                event: EventRow::of(e),
            })
            .collect(),
        next_before,
        kinds: admin::EVENT_KINDS
            .iter()
            .chain(crate::domain::events::CONFIGURATION_KINDS)
            .map(|k| (*k).to_owned())
            .collect(),
    })
}
