//! The settings page: the public URL as configured and the DKIM keys with their DNS
//! records.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DkimRow {
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    pub created: String,
    /// Where the TXT record goes: `{selector}._domainkey.{domain}`.
    pub record_name: String,
    pub txt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettingsPage {
    /// `public_url` as configured; empty when unset.
    pub public_url: String,
    /// The base links actually use.
    pub public_base: String,
    /// Whether an upstream relay is configured (otherwise mail stays in the outbox).
    pub relay: bool,
    pub can_edit: bool,
    pub dkim: Vec<DkimRow>,
}

#[server(endpoint = "settings")]
pub async fn get_settings() -> Result<SettingsPage, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Viewer).await?;
    let st = state();
    let keys = admin_ops::dkim_keys(&*st.store, &user)
        .await
        .map_err(service)?;
    Ok(SettingsPage {
        public_url: st.settings.public_url.clone().unwrap_or_default(),
        public_base: st.settings.public_base(),
        relay: st.settings.relay_url.is_some(),
        can_edit: user.role >= Role::Admin,
        dkim: keys
            .into_iter()
            .map(|k| DkimRow {
                domain: k.domain,
                selector: k.selector,
                algorithm: k.algorithm,
                created: when(k.created_at),
                record_name: k.record_name,
                txt: k.txt,
            })
            .collect(),
    })
}
