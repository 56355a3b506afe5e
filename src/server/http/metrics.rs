//! Prometheus metrics: the request middleware of the public router (requests by route,
//! method and status, and their latency), and `/metrics` in the Prometheus text format on
//! its own listener (`metrics_listen`), behind a bearer token when `metrics_token` is set.
//! A scrape samples the queue depths first (`service::metrics`).

use crate::server::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::time::{Duration, Instant};

/// Records one request of a matched route (`route_layer`: the route's pattern, never the
/// path, so tokens and addresses do not become labels).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method: &'static str = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("optbox_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("optbox_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

#[derive(Clone)]
struct Scrape {
    state: AppState,
    handle: PrometheusHandle,
    token: Option<String>,
}

/// The router of the metrics listener: `/metrics` and nothing else.
pub fn router(state: AppState, handle: PrometheusHandle) -> axum::Router {
    let token = state
        .settings
        .metrics
        .metrics_token
        .as_ref()
        .map(|t| t.expose().to_owned())
        .filter(|t| !t.is_empty());
    axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape {
            state,
            handle,
            token,
        })
}

fn authorised(headers: &HeaderMap, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    given.len() == token.len() && bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

async fn scrape(State(s): State<Scrape>, headers: HeaderMap) -> Response {
    if let Some(token) = &s.token
        && !authorised(&headers, token)
    {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            "a bearer token is required (metrics_token)\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    // Queue depths are read now; a database that does not answer in time leaves the last
    // figures (and the log says why).
    let sample = crate::server::service::metrics::sample(s.state.store.as_ref());
    match tokio::time::timeout(Duration::from_secs(2), sample).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::server::service::chain(&e), "metrics: cannot read the queue depths")
        }
        Err(_) => tracing::warn!("metrics: reading the queue depths timed out"),
    }
    s.handle.run_upkeep();
    let mut r = s.handle.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
