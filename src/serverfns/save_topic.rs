//! Adds a topic to a list or changes one (display name, description, default, hidden).

use leptos::prelude::*;

/// `default_status` is `OPT_IN` or `OPT_OUT`; `hidden` is present when checked.
#[server(endpoint = "save_topic")]
pub async fn save_topic(
    list: String,
    topic: String,
    display_name: String,
    description: String,
    default_status: String,
    hidden: Option<String>,
) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Admin).await?;
    let st = state();
    let default_opt_in = match default_status.as_str() {
        "OPT_IN" => true,
        "OPT_OUT" => false,
        _ => {
            return Err(ServerFnError::new(
                "choose OPT_IN or OPT_OUT as the default",
            ));
        }
    };
    let form = admin::TopicForm {
        name: topic,
        display_name,
        description,
        default_opt_in,
        hidden: hidden.is_some(),
    };
    admin::save_topic(&*st.store, &st.limits, &user, &list, &form, &audit().await)
        .await
        .map_err(service)?;
    Ok(format!("topic {} saved", form.name.trim()))
}
