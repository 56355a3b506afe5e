//! Saves a contact's preferences and attributes (an `Admin` event is logged).

use leptos::prelude::*;
use std::collections::HashMap;

/// `prefs[topic]` is `OPT_IN`, `OPT_OUT`, or empty for the topic default;
/// `unsubscribe_all` is present when checked.
#[server(endpoint = "save_contact")]
pub async fn save_contact(
    list: String,
    email: String,
    unsubscribe_all: Option<String>,
    prefs: Option<HashMap<String, String>>,
    attributes: String,
) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::domain::SubscriptionStatus;
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    let mut parsed = Vec::new();
    for (topic, v) in prefs.unwrap_or_default() {
        match v.as_str() {
            "" => {}
            other => match SubscriptionStatus::parse_api(other) {
                Some(s) => parsed.push((topic, s)),
                None => {
                    return Err(ServerFnError::new(format!(
                        "the status of {topic} is OPT_IN, OPT_OUT or empty"
                    )));
                }
            },
        }
    }
    admin::save_contact(
        &*state().store,
        &user,
        &list,
        &email,
        unsubscribe_all.is_some(),
        parsed,
        &attributes,
        &audit().await,
    )
    .await
    .map_err(service)?;
    Ok("saved".into())
}
