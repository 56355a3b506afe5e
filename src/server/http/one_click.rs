//! `POST /u/{token}`: RFC 8058 one-click unsubscribe. No cookies, no CSRF check, no auth:
//! the signed token is the capability. The change is committed before the 200; the answer
//! is never a redirect; a repeat gets the same 200 and writes nothing new. The 200 page
//! (shown when a person posts from a browser) is in the list's language and offers the
//! unsubscribe survey.

use crate::domain::Source;
use crate::server::service::{ServiceError, recipient};
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// One-click bodies are tiny; reading stops at this size and the request gets 413.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The small HTML pages this endpoint answers with, built at compile time.
macro_rules! page_html {
    ($title:literal, $text:literal) => {
        concat!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>",
            $title,
            "</title></head><body><main><h1>",
            $title,
            "</h1><p>",
            $text,
            "</p></main></body></html>"
        )
    };
}

fn page(status: StatusCode, html: &'static str) -> Response {
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// True for the bodies RFC 8058 clients send: `List-Unsubscribe=One-Click` urlencoded or
/// as a multipart field, or (some clients) nothing at all.
pub async fn is_one_click(content_type: Option<&str>, body: Bytes) -> bool {
    if body.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    let ct = content_type.unwrap_or("");
    if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        let Ok(boundary) = multer::parse_boundary(ct) else {
            return false;
        };
        let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut mp = multer::Multipart::new(stream, boundary);
        while let Ok(Some(field)) = mp.next_field().await {
            if field.name() == Some("List-Unsubscribe") {
                return matches!(
                    field.text().await.as_deref().map(str::trim),
                    Ok("One-Click")
                );
            }
        }
        false
    } else {
        form_urlencoded::parse(&body)
            .any(|(k, v)| k == "List-Unsubscribe" && v.trim() == "One-Click")
    }
}

static LAST_FORGERY_LOG: AtomicU64 = AtomicU64::new(0);

/// Logs refused tokens at most once a second, so a flood cannot fill the logs.
fn log_refused(reason: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if LAST_FORGERY_LOG.swap(now, Ordering::Relaxed) != now {
        tracing::warn!(reason, "refused an unsubscribe token");
    }
}

/// `POST /u/{token}`: the opt-out, counted and timed for `/metrics` by outcome.
pub async fn one_click(
    state: State<AppState>,
    token: Path<String>,
    peer: ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let start = std::time::Instant::now();
    let r = opt_out(state, token, peer, request).await;
    let outcome = match r.status().as_u16() {
        200 => "ok",
        400 | 413 => "bad_request",
        404 => "not_found",
        429 => "rate_limited",
        503 => "unavailable",
        _ => "error",
    };
    metrics::counter!("optbox_one_click_total", "outcome" => outcome).increment(1);
    metrics::histogram!("optbox_one_click_duration_seconds").record(start.elapsed().as_secs_f64());
    r
}

async fn opt_out(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    // The request taken whole: the `HeaderMap` extractor would copy the headers.
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return page(
            StatusCode::PAYLOAD_TOO_LARGE,
            page_html!("Request too large", "One-click bodies are small."),
        );
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_one_click(ct, body).await {
        return page(
            StatusCode::BAD_REQUEST,
            page_html!(
                "Bad request",
                "Expected the body List-Unsubscribe=One-Click."
            ),
        );
    }
    let store = &*state.store;
    // No contact read here: the group-commit writer reads the batch's contacts at once.
    let resolved = match recipient::resolve_link(store, &state.token_keys, &token).await {
        Ok(r) => r,
        Err(e) => return error_page(e, headers),
    };
    let list = resolved.list.clone();
    let audit = state.audit(Source::UnsubscribeHeader, Some(peer.ip()), headers);
    match recipient::one_click(&*state.store, resolved, audit).await {
        Ok(()) => super::recipient::one_click_answer(&list, &token, headers),
        Err(e) => error_page(e, headers),
    }
}

fn error_page(e: ServiceError, headers: &axum::http::HeaderMap) -> Response {
    match e {
        ServiceError::BadRequest(m) => {
            log_refused(&m);
            super::recipient::invalid_link(StatusCode::BAD_REQUEST, headers)
        }
        ServiceError::NotFound(m) => {
            log_refused(&m);
            super::recipient::invalid_link(StatusCode::NOT_FOUND, headers)
        }
        e @ ServiceError::Unavailable(_) => {
            tracing::error!(error = %e.detail(), "one-click unsubscribe: database unavailable");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                page_html!(
                    "Try again",
                    "We could not record your request. Please try again in a minute."
                ),
            )
        }
        other => {
            tracing::error!(error = ?other, "one-click unsubscribe failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                page_html!(
                    "Try again",
                    "We could not record your request. Please try again in a minute."
                ),
            )
        }
    }
}
