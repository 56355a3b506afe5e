//! Removes a topic from a list, with the preferences stored for it.

use leptos::prelude::*;

#[server(endpoint = "delete_topic")]
pub async fn delete_topic(list: String, topic: String) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    let st = state();
    admin::delete_topic(&*st.store, &st.limits, &user, &list, &topic, &audit().await)
        .await
        .map_err(service)?;
    Ok(format!("topic {topic} removed"))
}
