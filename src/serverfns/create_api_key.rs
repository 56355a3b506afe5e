//! Creates an SES-API key. Its secret is kept in the creator's session until the result
//! page shows it — once: that page takes it out of the session.

use leptos::prelude::*;

/// The session entry holding a new key's `(access key id, secret)` until it is shown.
pub const NEW_API_KEY: &str = "new_api_key";

#[server(endpoint = "create_api_key")]
pub async fn create_api_key(description: String) -> Result<(), ServerFnError> {
    use super::support::{internal, require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    let st = state();
    let key = admin_ops::create_api_key(&*st.store, &st.api_master, &user, &description)
        .await
        .map_err(service)?;
    let session: tower_sessions::Session = leptos_axum::extract().await.map_err(internal)?;
    session
        .insert(NEW_API_KEY, (key.access_key_id, key.secret_access_key))
        .await
        .map_err(internal)?;
    leptos_axum::redirect("/admin/keys/new");
    Ok(())
}
