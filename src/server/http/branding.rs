//! A list's branding over HTTP, same-origin so the recipient page keeps its strict CSP:
//!
//! - `GET /l/{list}/logo`: the uploaded logo, with the type decided from its bytes when
//!   it was uploaded, `nosniff` and a CSP of its own;
//! - `GET /l/{list}/theme.css`: the accent colour as a stylesheet (`domain::branding`);
//! - `POST /admin/logo/{name}` (multipart `file`, or `action=remove`): the dashboard's
//!   upload, a plain form that works without JavaScript, with the session, role and
//!   Origin checks of the other dashboard changes.
//!
//! The two GET routes are public (the preference page needs them) and rate-limited with
//! the recipient routes (`limits::recipient`). Both answer from memory (the list cache
//! and [`LogoCache`](crate::server::service::branding::LogoCache)). Their URLs carry a
//! version (`?v=`: the colour, or a hash of the logo); a request for the current version
//! may be cached for good, any other must revalidate (ETag), so a new upload or colour
//! shows at once.

use crate::domain::ListName;
use crate::domain::branding::{MAX_LOGO_BYTES, theme_css};
use crate::server::http::dashboard::AdminPost;
use crate::server::service::{ServiceError, branding, lists};
use crate::server::state::AppState;
use crate::server::store::StoreError;
use axum::Extension;
use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

/// The upload route's body limit: the 256 KiB logo and the form around it, with room for
/// a larger file to be read and refused with a message rather than a reset connection.
pub const UPLOAD_BODY_LIMIT: usize = 4 << 20;

/// What the asset responses allow: nothing (an image or stylesheet opened on its own runs
/// nothing and loads nothing).
const ASSET_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

#[derive(Debug, Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// The list a public route names, from the list cache; `Err` is the response.
async fn public_list(
    state: &AppState,
    name: &str,
) -> Result<Arc<crate::domain::ContactList>, Response> {
    if ListName::parse(name).is_err() {
        return Err(StatusCode::NOT_FOUND.into_response());
    }
    match state.store.get_list_cached(name).await {
        Ok(l) => Ok(l),
        Err(StoreError::NotFound) => Err(StatusCode::NOT_FOUND.into_response()),
        Err(e) => Err(unavailable(e)),
    }
}

fn unavailable(e: impl std::error::Error + 'static) -> Response {
    tracing::warn!(error = %crate::server::service::chain(&e), "branding asset unavailable");
    (StatusCode::SERVICE_UNAVAILABLE, "try again shortly").into_response()
}

/// A versioned asset: 304 when the client has it, cached for good when asked for by its
/// current version, revalidated otherwise.
fn asset(
    headers: &HeaderMap,
    content_type: &str,
    version: &str,
    requested: Option<&str>,
    body: Vec<u8>,
) -> Response {
    let etag = format!("\"{version}\"");
    let cache = if requested == Some(version) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into_response();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ASSET_CSP),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// `GET /l/{list}/logo`.
pub async fn logo(
    State(state): State<AppState>,
    Path(list): Path<String>,
    Query(q): Query<Version>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let l = public_list(&state, &list).await?;
    Ok(match state.logos.get(&*state.store, l.id).await {
        Ok(Some(logo)) => asset(
            &headers,
            &logo.content_type,
            &logo.version,
            q.v.as_deref(),
            logo.bytes.clone(),
        ),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => unavailable(e),
    })
}

/// `GET /l/{list}/theme.css`.
pub async fn theme(
    State(state): State<AppState>,
    Path(list): Path<String>,
    Query(q): Query<Version>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let l = public_list(&state, &list).await?;
    let colour = l.branding.accent_color.as_deref();
    let version = crate::domain::branding::accent(colour.unwrap_or(""))
        .map(|a| a.accent[1..].to_owned())
        .unwrap_or_else(|| "none".into());
    Ok(asset(
        &headers,
        "text/css; charset=utf-8",
        &version,
        q.v.as_deref(),
        theme_css(l.name.as_str(), colour).into_bytes(),
    ))
}

/// Back to the list page with a message for the logo form.
fn back(list: &str, key: &str, msg: &str) -> Response {
    Redirect::to(&format!(
        "/admin/lists/{list}?{key}={}",
        crate::domain::query::query_escape(msg)
    ))
    .into_response()
}

/// `POST /admin/logo/{name}`: multipart with `file` (the new logo) or `action=remove`.
/// Refusals of the caller are plain 401/403/404 answers; a bad file goes back to the list
/// page with the reason, and stores nothing.
pub async fn upload(
    State(state): State<AppState>,
    AdminPost(actor): AdminPost,
    Path(list): Path<String>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    match lists::get(&*state.store, &list).await {
        Ok(_) => {}
        Err(ServiceError::NotFound(m) | ServiceError::BadRequest(m)) => {
            return (StatusCode::NOT_FOUND, m).into_response();
        }
        Err(e) => return unavailable(e),
    }
    let LogoForm { file, remove } = match read_logo_form(&mut form).await {
        Ok(f) => f,
        Err(Unread::TooLarge) => return back(&list, "logo_error", branding::TOO_LARGE),
        Err(Unread::Broken(m)) => return back(&list, "logo_error", &m),
    };
    let audit = state
        .audit(
            crate::domain::Source::Admin,
            peer.map(|p| p.0.0.ip()),
            &headers,
        )
        .by(actor.user_id.to_string());
    if remove {
        return match branding::remove_logo(&*state.store, &state.logos, &actor, &list, &audit).await
        {
            Ok(_) => back(&list, "logo", "removed"),
            Err(e) => refusal(&list, e),
        };
    }
    let bytes = file.unwrap_or_default();
    match branding::upload_logo(&*state.store, &state.logos, &actor, &list, &bytes, &audit).await {
        Ok(_) => back(&list, "logo", "saved"),
        Err(e) => refusal(&list, e),
    }
}

/// The logo form: the new logo, or `action=remove`.
struct LogoForm {
    file: Option<Vec<u8>>,
    remove: bool,
}

/// Why the logo form could not be read.
enum Unread {
    /// The upload, or the body, is over its limit.
    TooLarge,
    /// The upload is malformed or was cut off; the message says which.
    Broken(String),
}

impl Unread {
    fn of(e: axum::extract::multipart::MultipartError, what: &str) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Unread::TooLarge
        } else {
            Unread::Broken(format!("the upload {what}: {e}"))
        }
    }
}

/// Reads the logo form. A file is read to its end (so the browser gets the answer)
/// though only up to the limit is kept.
async fn read_logo_form(form: &mut Multipart) -> Result<LogoForm, Unread> {
    let mut out = LogoForm {
        file: None,
        remove: false,
    };
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| Unread::of(e, "is malformed"))?
    {
        match field.name().unwrap_or("") {
            "action" => out.remove = field.text().await.unwrap_or_default() == "remove",
            "file" => {
                let mut buf = Vec::new();
                let mut over = false;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| Unread::of(e, "was interrupted"))?
                {
                    if buf.len() + chunk.len() > MAX_LOGO_BYTES {
                        over = true;
                    } else {
                        buf.extend_from_slice(&chunk);
                    }
                }
                if over {
                    return Err(Unread::TooLarge);
                }
                out.file = Some(buf);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn refusal(list: &str, e: ServiceError) -> Response {
    match e {
        ServiceError::BadRequest(m) | ServiceError::LimitExceeded(m) => {
            back(list, "logo_error", &m)
        }
        ServiceError::NotFound(m) => (StatusCode::NOT_FOUND, m).into_response(),
        ServiceError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m).into_response(),
        ServiceError::Forbidden(m) => (StatusCode::FORBIDDEN, m).into_response(),
        other => unavailable(other),
    }
}
