//! Resumes a relay its breaker paused, then returns to the overview.

use leptos::prelude::*;

#[server(endpoint = "resume_relay")]
pub async fn resume_relay() -> Result<(), ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    let st = state();
    admin_ops::resume_relay(&st.bounces, &user, &audit().await)
        .await
        .map_err(service)?;
    leptos_axum::redirect("/admin");
    Ok(())
}
