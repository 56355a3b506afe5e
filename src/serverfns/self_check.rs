//! "Will Gmail show one-click?": HTTPS links, a real POST to a sample one-click link
//! through the public URL, and DKIM coverage of the List-Unsubscribe headers.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckRow {
    pub name: String,
    pub pass: bool,
    pub reason: String,
}

/// `domain` empty checks the newest DKIM key's domain.
#[server(endpoint = "self_check")]
pub async fn self_check(domain: String) -> Result<Vec<CheckRow>, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Viewer).await?;
    let st = state();
    let checks = admin_ops::self_check(&*st.store, &st.settings, &st.token_keys, &user, &domain)
        .await
        .map_err(service)?;
    Ok(checks
        .into_iter()
        .map(|c| CheckRow {
            name: c.name.to_owned(),
            pass: c.pass,
            reason: c.reason,
        })
        .collect())
}
