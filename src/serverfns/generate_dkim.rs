//! Generates a DKIM key for a domain and selector; the page then shows its TXT record.

use leptos::prelude::*;

/// `algorithm` is `ed25519` or `rsa`.
#[server(endpoint = "generate_dkim")]
pub async fn generate_dkim(
    domain: String,
    selector: String,
    algorithm: String,
) -> Result<String, ServerFnError> {
    use super::support::{audit, require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    let k = admin_ops::generate_dkim(
        &*state().store,
        &user,
        &domain,
        &selector,
        &algorithm,
        &audit().await,
    )
    .await
    .map_err(service)?;
    Ok(format!(
        "key generated: publish the TXT record {} shown below",
        k.record_name
    ))
}
