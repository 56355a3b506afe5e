//! One `tracing` span per HTTP request, named `http`, carrying a request id (the client's
//! `X-Request-Id` when it sends a short printable one, else a new UUID), the method and the
//! path. Everything logged while the request runs (the one-click handler, the SES API,
//! the store) carries the id, and the answer echoes it in `X-Request-Id`. The capability
//! tokens of recipient links (`/u/`, `/m/`, `/c/`) are never logged: the span names only
//! the route's prefix.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header the id comes in and goes out in.
pub const REQUEST_ID: &str = "x-request-id";

/// The path as the log may show it: recipient links without their token.
pub fn loggable_path(path: &str) -> &str {
    for prefix in ["/u/", "/m/", "/c/"] {
        if path.starts_with(prefix) {
            return prefix;
        }
    }
    path
}

/// The client's id when it is short and printable, else a new one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_id)
}

/// A new id: a random UUID v4, the form of AWS's request ids.
pub fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::server::hex::encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The id this middleware gave a request (a new one for a request it did not see).
pub fn id_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map_or_else(new_id, str::to_owned)
}

/// The middleware: runs the request inside its span and echoes the id. The request
/// carries the id on to its handlers in the same header, so that a change it makes
/// stores it with its event ([`crate::domain::Audit::request_id`]).
pub async fn span(mut req: Request, next: Next) -> Response {
    let id = request_id(&req);
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let span = tracing::info_span!(
        "http",
        request_id = %id,
        method = %req.method(),
        path = loggable_path(req.uri().path()),
    );
    let mut res = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_tokens_stay_out_of_the_log() {
        assert_eq!(loggable_path("/u/abcdef"), "/u/");
        assert_eq!(loggable_path("/m/abcdef"), "/m/");
        assert_eq!(loggable_path("/c/abcdef"), "/c/");
        assert_eq!(
            loggable_path("/v2/email/contact-lists"),
            "/v2/email/contact-lists"
        );
    }
}
