//! `POST /admin/keys/new` (form field `description`): creates an SES-API key and answers
//! with the page that shows its secret. The secret exists only in this response (never
//! stored, never kept in the session for a later page), which is `no-store`. A plain form
//! POST, so it works the same with and without JavaScript; the session, role and Origin
//! checks are those of the other dashboard changes. `GET /admin/keys/new` goes back to
//! the key list.

use crate::server::http::dashboard::SignedIn;
use crate::server::http::guard::same_origin;
use crate::server::http::page::esc;
use crate::server::service::{ServiceError, admin_ops};
use crate::server::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct NewKeyForm {
    #[serde(default)]
    description: String,
    /// The operations the key may do (one checkbox each); none ticked: everything.
    allow_send: Option<String>,
    allow_read_lists: Option<String>,
    allow_write_lists: Option<String>,
    allow_import: Option<String>,
    allow_suppression: Option<String>,
    /// Comma-separated contact lists and sending identities; empty: any.
    #[serde(default)]
    lists: String,
    #[serde(default)]
    identities: String,
}

/// The dashboard's frame around `body` (the same navigation as the other pages).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let nav = [
        ("/admin", "Overview", false),
        ("/admin/lists", "Lists", false),
        ("/admin/events", "Event log", false),
        ("/admin/webhooks", "Webhooks", false),
        ("/admin/keys", "API keys", true),
        ("/admin/users", "Users", false),
        ("/admin/settings", "Settings", false),
        ("/admin/outbox", "Outbox", false),
    ]
    .iter()
    .map(|(href, label, current)| {
        let cur = if *current {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<li><a href=\"{href}\"{cur}>{label}</a></li>")
    })
    .collect::<String>();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · optbox</title><link rel=\"stylesheet\" href=\"/pkg/optbox.css\"></head>\n<body><a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"topbar\"><a class=\"brand\" href=\"/admin\">optbox</a><nav aria-label=\"Dashboard\"><ul class=\"nav\">{nav}</ul></nav></header>\n<main id=\"main\" class=\"page\" tabindex=\"-1\"><p class=\"crumbs\"><a href=\"/admin/keys\">API keys</a> / new</p><h1>New API key</h1>\n{body}\n<p><a href=\"/admin/keys\">Back to the API keys</a></p></main></body></html>\n"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The secret must not stay in any cache.
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn refused(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "New API key",
        &format!(
            "<p class=\"error\" role=\"alert\" id=\"new-key-error\">{}</p>",
            esc(message)
        ),
    )
}

/// `GET /admin/keys/new`: nothing to show; the list has the form.
pub async fn back() -> Redirect {
    Redirect::to("/admin/keys")
}

/// `POST /admin/keys/new`.
pub async fn create(
    State(state): State<AppState>,
    signed_in: Result<SignedIn, Response>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<NewKeyForm>,
) -> Response {
    if !same_origin(&headers) {
        return refused(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    let user = match signed_in {
        Ok(SignedIn(a)) => a,
        Err(r) if r.status() == StatusCode::UNAUTHORIZED => {
            return refused(StatusCode::UNAUTHORIZED, "Sign in first.");
        }
        Err(_) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable; try again shortly.",
            );
        }
    };
    let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let ticked: Vec<&str> = [
        (&form.allow_send, "send"),
        (&form.allow_read_lists, "read-lists"),
        (&form.allow_write_lists, "write-lists"),
        (&form.allow_import, "import"),
        (&form.allow_suppression, "suppression"),
    ]
    .into_iter()
    .filter(|(v, _)| v.is_some())
    .map(|(_, p)| p)
    .collect();
    let allow = (!ticked.is_empty()).then(|| ticked.join(","));
    let scope = match crate::domain::KeyScope::parse(
        allow.as_deref(),
        nonempty(&form.lists).as_deref(),
        nonempty(&form.identities).as_deref(),
    ) {
        Ok(s) => s,
        Err(m) => return refused(StatusCode::BAD_REQUEST, &m),
    };
    let audit = state
        .audit(
            crate::domain::Source::Admin,
            peer.map(|p| p.0.0.ip()),
            &headers,
        )
        .by(user.user_id.to_string());
    match admin_ops::create_api_key(
        &*state.store,
        &state.api_master,
        &user,
        &form.description,
        &scope,
        &audit,
    )
    .await
    {
        Ok(key) => page(
            StatusCode::OK,
            "New API key",
            &format!(
                "<p class=\"ok\" role=\"status\">Key created. Copy the secret now: it is not shown again and cannot be recovered.</p>\n<dl class=\"facts\" id=\"new-key-result\"><dt>Access key id</dt><dd><code id=\"new-key-id\">{}</code></dd><dt>Secret access key</dt><dd><code id=\"new-key-secret\" class=\"wrap\">{}</code></dd></dl>",
                esc(&key.access_key_id),
                esc(&key.secret_access_key)
            ),
        ),
        Err(ServiceError::Forbidden(m)) => refused(StatusCode::FORBIDDEN, &m),
        Err(ServiceError::Unauthorized(m)) => refused(StatusCode::UNAUTHORIZED, &m),
        Err(
            ServiceError::BadRequest(m)
            | ServiceError::NotFound(m)
            | ServiceError::AlreadyExists(m)
            | ServiceError::LimitExceeded(m),
        ) => refused(StatusCode::BAD_REQUEST, &m),
        Err(e) => {
            tracing::error!(error = %crate::server::service::chain(&e), "creating an API key failed");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "The key could not be created; try again shortly.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(
            super::esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
