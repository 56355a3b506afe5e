//! The key just created, with its secret — taken out of the session, so it is shown once.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// `None` when there is no new key (already shown, or none created in this session).
#[server(endpoint = "new_api_key")]
pub async fn new_api_key() -> Result<Option<CreatedKey>, ServerFnError> {
    use super::create_api_key::NEW_API_KEY;
    use super::support::{internal, require};
    use crate::server::service::auth::Role;
    require(Role::Admin).await?;
    let session: tower_sessions::Session = leptos_axum::extract().await.map_err(internal)?;
    let key: Option<(String, String)> = session.remove(NEW_API_KEY).await.map_err(internal)?;
    Ok(key.map(|(access_key_id, secret_access_key)| CreatedKey {
        access_key_id,
        secret_access_key,
    }))
}
