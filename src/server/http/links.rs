//! `POST /v1/links` (optbox extension): the unsubscribe URL and the exact header lines
//! for `{list, topic?, email}`, for senders that build and sign their own messages.
//! SigV4-signed with the same credentials as the SES API, and answering errors in the
//! same shape.

use super::ses::{self, ApiError};
use crate::domain::Source;
use crate::server::service::recipient;
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;

const BODY_LIMIT: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkIn {
    list: Option<String>,
    topic: Option<String>,
    email: Option<String>,
}

/// `POST /v1/links`.
pub async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let rid = ses::request_id(&req);
    match serve(&state, peer, req).await {
        Ok(body) => ses::respond(StatusCode::OK, body, &rid, None),
        Err(e) => ses::error_response(&e, &rid),
    }
}

async fn serve(state: &AppState, peer: SocketAddr, req: Request) -> Result<String, ApiError> {
    let (parts, body) = req.into_parts();
    let auth = ses::authenticated_body(state, &parts, Body::new(body), BODY_LIMIT).await?;
    let input: LinkIn = serde_json::from_slice(&auth.body).map_err(|e| {
        ApiError::bad_request(format!(
            "The body must be a JSON object {{\"list\", \"topic\"?, \"email\"}}: {e}"
        ))
    })?;
    let list = input
        .list
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ApiError::bad_request("list is required."))?;
    let email = input
        .email
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::bad_request("email is required."))?;
    crate::server::service::api_keys::require(&auth.scope, crate::domain::Permission::Send)?;
    crate::server::service::api_keys::require_list(&auth.scope, &list)?;
    let audit = state
        .audit(Source::Api, Some(peer.ip()), &parts.headers)
        .by(&auth.key_id);
    let base = state.public_base();
    let url = recipient::link(
        state.store.as_ref(),
        &state.token_keys,
        &base,
        &list,
        input.topic.as_deref().filter(|t| !t.is_empty()),
        &email,
        &audit,
    )
    .await?;
    let (headers, lines) = crate::server::mail::headers::unsubscribe_header_lines(&url);
    Ok(serde_json::json!({ "url": url, "headers": headers, "headerLines": lines }).to_string())
}
