//! HTML the HTTP layer writes itself: escaping, and the dashboard page for refusals that
//! happen before the Leptos app can render (a throttled sign-in, a refused dashboard
//! request). The recipient pages build on [`esc`] (`recipient/`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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
