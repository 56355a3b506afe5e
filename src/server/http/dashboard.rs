//! What the dashboard's plain-HTTP routes (uploads, downloads, the API key form) share:
//! the signed-in caller as an extractor, the checks of a form post, and the plain answer
//! to a refusal.

use crate::server::http::guard::{same_origin, session_user};
use crate::server::service::{ServiceError, auth};
use crate::server::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

/// The signed-in caller of a dashboard route. Rejected with 401 without a session, or
/// with the [`refusal`] of the look-up.
pub struct SignedIn(pub auth::Actor);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(id) = session_user(&session).await else {
            return Err((StatusCode::UNAUTHORIZED, "sign in first").into_response());
        };
        auth::actor(&*state.store, id)
            .await
            .map(SignedIn)
            .map_err(refusal)
    }
}

/// The caller of a dashboard form post that changes something: from the dashboard's own
/// origin (else 403), signed in (else 401) and an admin (else 403).
pub struct AdminPost(pub auth::Actor);

impl FromRequestParts<AppState> for AdminPost {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if !same_origin(&parts.headers) {
            return Err((StatusCode::FORBIDDEN, "cross-site request refused").into_response());
        }
        let SignedIn(actor) = SignedIn::from_request_parts(parts, state).await?;
        actor.require(auth::Role::Admin).map_err(refusal)?;
        Ok(AdminPost(actor))
    }
}

/// The plain-text answer to a refused dashboard request: 401, 403 or 400 with the reason;
/// anything else is logged with its cause and answered 503.
pub fn refusal(e: ServiceError) -> Response {
    match e {
        ServiceError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m).into_response(),
        ServiceError::Forbidden(m) => (StatusCode::FORBIDDEN, m).into_response(),
        ServiceError::BadRequest(m)
        | ServiceError::NotFound(m)
        | ServiceError::AlreadyExists(m)
        | ServiceError::LimitExceeded(m) => (StatusCode::BAD_REQUEST, m).into_response(),
        other => {
            tracing::error!(error = %other.detail(), "dashboard request failed");
            (StatusCode::SERVICE_UNAVAILABLE, "try again shortly").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> String {
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_refusal_answers_its_status_and_never_shows_a_cause() {
        let cases = [
            (
                ServiceError::Unauthorized("who".into()),
                StatusCode::UNAUTHORIZED,
            ),
            (ServiceError::Forbidden("no".into()), StatusCode::FORBIDDEN),
            (
                ServiceError::BadRequest("bad".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                ServiceError::NotFound("gone".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                ServiceError::AlreadyExists("twice".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                ServiceError::LimitExceeded("much".into()),
                StatusCode::BAD_REQUEST,
            ),
        ];
        for (e, status) in cases {
            let text = e.to_string();
            let r = refusal(e);
            assert_eq!(r.status(), status, "{text}");
            assert_eq!(body(r).await, text);
        }
        let r = refusal(ServiceError::internal("secret path /var/lib/x"));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(r).await, "try again shortly");
    }
}
