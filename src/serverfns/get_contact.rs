//! One contact: its preferences (explicit and effective), attributes and history.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContactTopic {
    pub name: String,
    pub display_name: String,
    /// `OPT_IN`, `OPT_OUT`, or empty for "topic default".
    pub explicit: String,
    pub default_opt_in: bool,
    pub effective_opt_in: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub source: String,
    pub topic: String,
    pub detail: String,
}

#[cfg(feature = "ssr")]
impl EventRow {
    /// An event as the dashboard lists it: a preference change as `old → new`.
    pub(crate) fn of(e: crate::server::store::EventRecord) -> Self {
        EventRow {
            id: e.id,
            at: super::support::when(e.created_at),
            kind: e.kind,
            source: e.source.unwrap_or_default(),
            topic: e.topic_name.unwrap_or_default(),
            detail: match (e.old_prefs, e.new_prefs) {
                (Some(o), Some(n)) => format!("{o} → {n}"),
                _ => e.detail,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContactDetail {
    pub list: String,
    pub email: String,
    pub unsubscribe_all: bool,
    pub topics: Vec<ContactTopic>,
    pub attributes: String,
    pub created: String,
    pub events: Vec<EventRow>,
    pub can_edit: bool,
    /// Owners may export and erase everything stored about the address.
    pub can_erase: bool,
    /// The address's entry on the account suppression list, if it has one.
    pub suppression: Option<SuppressionNote>,
    /// When the contact's running pause of the list ends.
    pub paused_until: Option<String>,
}

/// Why an address is suppressed and since when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuppressionNote {
    /// `BOUNCE` or `COMPLAINT`.
    pub reason: String,
    pub since: String,
}

#[server(endpoint = "contact")]
pub async fn get_contact(list: String, email: String) -> Result<ContactDetail, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::domain::SubscriptionStatus;
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let admin::ContactView {
        list: l,
        contact: c,
        events,
        suppression,
    } = admin::contact(&*state().store, &user, &list, &email)
        .await
        .map_err(service)?;
    Ok(ContactDetail {
        list: l.name.to_string(),
        email: c.email.to_string(),
        unsubscribe_all: c.unsubscribe_all,
        paused_until: c
            .paused_until
            .filter(|_| c.paused_at(crate::server::store::now_ms()))
            .map(when),
        topics: l
            .topics
            .iter()
            .map(|t| ContactTopic {
                name: t.name.to_string(),
                display_name: t.display_name.clone(),
                explicit: c
                    .explicit(t.name.as_str())
                    .map(|s| s.as_api().to_owned())
                    .unwrap_or_default(),
                default_opt_in: t.default_status == SubscriptionStatus::OptIn,
                effective_opt_in: c.status_for(t) == SubscriptionStatus::OptIn,
            })
            .collect(),
        attributes: c.attributes,
        created: when(c.created_at),
        events: events.into_iter().map(EventRow::of).collect(),
        can_edit: user.role >= Role::Admin,
        can_erase: user.role >= Role::Owner,
        suppression: suppression.map(|s| SuppressionNote {
            reason: s.reason.as_str().to_owned(),
            since: when(s.updated_at),
        }),
    })
}
