//! Dashboard guards: a session stands only while its user exists with the same session
//! epoch (checked on every dashboard request) and slides with use; anonymous page
//! requests under `/admin` go to the login page, server functions are refused to callers
//! their access rule does not admit, cross-site POSTs to server functions are refused
//! (CSRF), on top of SameSite=Strict cookies; dashboard responses may not be framed.

use super::page::dashboard_page;
use crate::server::service::auth::{self, Role};
use crate::server::sessions::{SESSION_EPOCH, SIGNED_IN_AT, STORED_EXPIRY, USER_ID};
use crate::server::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

/// The signed-in user's id, if the session has one within its absolute lifetime; an
/// expired session is emptied. (The idle expiry is the cookie's own.)
pub async fn session_user(session: &Session) -> Option<i64> {
    let id = session.get::<i64>(USER_ID).await.ok().flatten()?;
    let at = session.get::<i64>(SIGNED_IN_AT).await.ok().flatten();
    match at {
        Some(at) if auth::session_alive(at, crate::server::store::now_ms()) => Some(id),
        _ => {
            let _ = session.flush().await;
            None
        }
    }
}

/// Whether a path is part of the dashboard (its pages, uploads and downloads).
fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// A session is saved again (its idle expiry pushed back, the cookie re-sent) once it was
/// last saved this long ago.
pub const SLIDE_AFTER_SECS: i64 = 60;

/// Checks the signed-in session of every dashboard request (`/admin…` and the server
/// functions) against its user before anything else sees it: a session whose user was
/// removed, or whose role changed since sign-in (another session epoch), is emptied, so
/// the request goes on as anonymous. A valid session last saved over a minute ago is
/// marked changed, so it is saved with a new idle expiry (the idle timeout slides).
pub async fn session_check(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if !(is_admin_path(path) || path.starts_with("/api/")) {
        return next.run(req).await;
    }
    if let Some(id) = session.get::<i64>(USER_ID).await.ok().flatten() {
        let valid = match session.get::<i64>(SESSION_EPOCH).await.ok().flatten() {
            Some(epoch) => auth::session_valid(&*state.store, id, epoch).await,
            None => Ok(false),
        };
        match valid {
            Ok(true) => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let stored = session.get::<i64>(STORED_EXPIRY).await.ok().flatten();
                if stored.is_some_and(|at| at - now < auth::IDLE_TIMEOUT_SECS - SLIDE_AFTER_SECS) {
                    let _ = session
                        .insert(STORED_EXPIRY, now + auth::IDLE_TIMEOUT_SECS)
                        .await;
                }
            }
            Ok(false) => {
                let _ = session.flush().await;
            }
            Err(e) => {
                tracing::error!(error = %crate::server::service::chain(&e), "session check failed");
                return dashboard_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again shortly",
                    "The database is unavailable; try again shortly.",
                );
            }
        }
    }
    next.run(req).await
}

/// The Content-Security-Policy of every dashboard response that did not set its own: no
/// framing (clickjacking), no plugins, no base or form targets elsewhere.
pub const ADMIN_CSP: &str =
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'";

/// Headers for every dashboard response (`/admin…` and the sign-in endpoint): never
/// framed, never sniffed, no referrer to other sites.
pub async fn admin_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let admin = is_admin_path(path) || path == crate::server::http::limits::SIGN_IN_PATH;
    let mut res = next.run(req).await;
    if admin {
        let h = res.headers_mut();
        h.entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(ADMIN_CSP));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        h.entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("same-origin"));
    }
    res
}

/// Redirects anonymous requests for `/admin/...` pages (except the login page) to it.
pub async fn require_login(session: Session, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let protected = is_admin_path(path) && path != "/admin/login";
    if protected {
        let signed_in = session_user(&session).await.is_some();
        if !signed_in {
            return Redirect::to("/admin/login").into_response();
        }
    }
    next.run(req).await
}

/// Who may call a server function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: sign-in, sign-out, and the recipient functions authorised by the
    /// unsubscribe token in their arguments.
    Public,
    /// A signed-in user with at least this role.
    Role(Role),
}

/// Every server function and who may call it. The `server_fn_access` guard refuses
/// any `/api/` path missing here (deny by default) before the function runs, and
/// `tests/dashboard_authz.rs` fails when a registered server function has no entry,
/// so a new function cannot ship without a decision. The functions check again
/// (`require`), and the dashboard use-cases check the actor's role a third time.
pub const ACCESS: &[(&str, Access)] = &[
    ("/api/login", Access::Public),
    ("/api/logout", Access::Public),
    ("/api/save_preferences", Access::Public),
    ("/api/overview", Access::Role(Role::Viewer)),
    ("/api/lists", Access::Role(Role::Viewer)),
    ("/api/list", Access::Role(Role::Viewer)),
    ("/api/create_list", Access::Role(Role::Admin)),
    ("/api/delete_list", Access::Role(Role::Admin)),
    ("/api/save_list", Access::Role(Role::Admin)),
    ("/api/save_topic", Access::Role(Role::Admin)),
    ("/api/delete_topic", Access::Role(Role::Admin)),
    ("/api/contacts", Access::Role(Role::Viewer)),
    ("/api/contact", Access::Role(Role::Viewer)),
    ("/api/add_contact", Access::Role(Role::Admin)),
    ("/api/save_contact", Access::Role(Role::Admin)),
    ("/api/delete_contact", Access::Role(Role::Admin)),
    ("/api/erase_contact", Access::Role(Role::Owner)),
    ("/api/events", Access::Role(Role::Viewer)),
    ("/api/import_job", Access::Role(Role::Viewer)),
    ("/api/suppressions", Access::Role(Role::Viewer)),
    ("/api/remove_suppression", Access::Role(Role::Admin)),
    // Webhooks, API keys, users, settings and the development outbox.
    ("/api/webhooks", Access::Role(Role::Viewer)),
    ("/api/webhook", Access::Role(Role::Viewer)),
    ("/api/save_webhook", Access::Role(Role::Admin)),
    ("/api/delete_webhook", Access::Role(Role::Admin)),
    ("/api/test_webhook", Access::Role(Role::Admin)),
    ("/api/replay_delivery", Access::Role(Role::Admin)),
    ("/api/api_keys", Access::Role(Role::Viewer)),
    ("/api/revoke_api_key", Access::Role(Role::Admin)),
    ("/api/users", Access::Role(Role::Admin)),
    ("/api/add_user", Access::Role(Role::Owner)),
    ("/api/set_user_role", Access::Role(Role::Owner)),
    ("/api/delete_user", Access::Role(Role::Owner)),
    ("/api/settings", Access::Role(Role::Viewer)),
    ("/api/generate_dkim", Access::Role(Role::Admin)),
    ("/api/self_check", Access::Role(Role::Viewer)),
    ("/api/outbox", Access::Role(Role::Viewer)),
    ("/api/outbox_message", Access::Role(Role::Viewer)),
    ("/api/resume_relay", Access::Role(Role::Admin)),
];

/// The access rule of a server-function path, if it has one.
pub fn access(path: &str) -> Option<Access> {
    ACCESS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

/// Applies [`ACCESS`] to `/api/` requests before any server function
/// runs: unknown paths are refused (403), anonymous callers of protected functions get
/// 401, and callers below the function's role 403.
pub async fn server_fn_access(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    let min: Role = match access(&path) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::Role(r)) => r,
        None => {
            tracing::error!(path = %path, "server function without an access rule refused");
            return (StatusCode::FORBIDDEN, "this function has no access rule").into_response();
        }
    };
    let Some(id) = session_user(&session).await else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    match auth::actor(&*state.store, id).await {
        Ok(actor) => match actor.require(min) {
            Ok(()) => next.run(req).await,
            Err(e) => (StatusCode::FORBIDDEN, e.to_string()).into_response(),
        },
        Err(crate::server::service::ServiceError::Unauthorized(m)) => {
            (StatusCode::UNAUTHORIZED, m).into_response()
        }
        Err(e) => {
            tracing::error!(error = %crate::server::service::chain(&e), "access check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "try again shortly").into_response()
        }
    }
}

/// True when a request comes from our own origin, judged by `Origin`, or failing that by
/// `Sec-Fetch-Site`; requests with neither (curl, scripts) carry no ambient browser
/// credentials and pass.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let origin_host = origin.split_once("://").map(|(_, h)| h);
        return origin != "null" && origin_host.is_some() && origin_host == host;
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

/// Server functions authorised by a capability in their arguments (the unsubscribe token),
/// not by ambient cookies: a cross-site request gains nothing, and recipient pages send
/// `Origin: null` because of their `Referrer-Policy: no-referrer`.
const CAPABILITY_ENDPOINTS: [&str; 1] = ["/api/save_preferences"];

/// Refuses cross-origin POSTs to the cookie-authorised server-function API.
pub async fn csrf(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if req.method() == Method::POST
        && path.starts_with("/api/")
        && !CAPABILITY_ENDPOINTS.contains(&path)
        && !same_origin(req.headers())
    {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    next.run(req).await
}

/// Headers for everything recipients touch (`/u/`, `/manage`, `/m/`, `/s/`, `/c/`): never cached, never indexed, no
/// referrer (the URL is a capability), and a strict CSP unless the page set its own.
pub async fn recipient_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let recipient = ["/u/", "/m/", "/s/", "/c/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/manage";
    let mut res = next.run(req).await;
    if recipient {
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            "x-robots-tag",
            HeaderValue::from_static("noindex, nofollow"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        assert!(same_origin(&h(&[
            ("host", "a.test:3000"),
            ("origin", "http://a.test:3000")
        ])));
        assert!(!same_origin(&h(&[
            ("host", "a.test:3000"),
            ("origin", "http://evil.test")
        ])));
        assert!(!same_origin(&h(&[("host", "a.test"), ("origin", "null")])));
        assert!(!same_origin(&h(&[
            ("host", "a.test"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&h(&[
            ("host", "a.test"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(same_origin(&h(&[("host", "a.test")])));
    }
}
