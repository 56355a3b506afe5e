//! Sign in to the dashboard.

use leptos::prelude::*;

#[server(endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), ServerFnError> {
    use super::support::{internal, state};
    use crate::server::conn_limit::client_key;
    use crate::server::service::{ServiceError, auth};
    use crate::server::sessions::{SESSION_EPOCH, SIGNED_IN_AT, USER_ID};
    let st = state();
    let session: tower_sessions::Session = leptos_axum::extract().await?;
    // The peer address; X-Forwarded-For only from a configured trusted proxy (a header
    // the client controls would let it escape the per-client limit). Counted per IPv4
    // address or IPv6 /64, as the endpoint's rate limit is.
    let peer: Option<axum::extract::ConnectInfo<std::net::SocketAddr>> =
        leptos_axum::extract().await.ok();
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    let client = peer
        .map(|p| st.ip_hash(client_key(st.client_ip(p.0.ip(), &headers))))
        .unwrap_or_else(|| "unknown".into());
    match auth::authenticate(&*st.store, &email, &password, &client).await {
        Ok(user) => {
            // A fresh id on sign-in prevents session fixation.
            session.cycle_id().await.map_err(internal)?;
            session.insert(USER_ID, user.id).await.map_err(internal)?;
            session
                .insert(SESSION_EPOCH, user.session_epoch)
                .await
                .map_err(internal)?;
            session
                .insert(SIGNED_IN_AT, crate::server::store::now_ms())
                .await
                .map_err(internal)?;
            leptos_axum::redirect("/admin");
            Ok(())
        }
        // No status override here: without JavaScript, leptos_axum answers a failed form
        // POST with a redirect back to the form carrying the error, and a status set
        // here would replace that redirect.
        Err(ServiceError::Unauthorized(m) | ServiceError::LimitExceeded(m)) => {
            Err(ServerFnError::new(m))
        }
        Err(e) => Err(internal(e)),
    }
}
