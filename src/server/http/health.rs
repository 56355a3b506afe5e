//! `/healthz` (the process answers) and `/readyz` (the database answers).

use crate::server::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}
