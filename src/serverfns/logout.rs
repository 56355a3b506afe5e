//! Sign out of the dashboard.

use leptos::prelude::*;

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), ServerFnError> {
    use super::support::internal;
    let session: tower_sessions::Session = leptos_axum::extract().await?;
    session.flush().await.map_err(internal)?;
    leptos_axum::redirect("/admin/login");
    Ok(())
}
