//! The one HTML page the HTTP layer writes itself, for refusals that happen before the
//! Leptos app can render (a throttled sign-in, a refused dashboard request).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A small dashboard page for a refusal that happens before any page can render. `title`
/// and `message` are our own text, put in as they are.
pub fn dashboard_page(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · optbox</title><link rel=\"stylesheet\" href=\"/pkg/optbox.css\"></head>\n<body><main id=\"main\" class=\"page\"><section class=\"card narrow\"><h1>{title}</h1><p class=\"error\" role=\"alert\">{message}</p><p><a href=\"/admin/login\">Sign in</a></p></section></main></body></html>\n"
        ),
    )
        .into_response()
}
