//! Server functions: one per file, each a thin adapter that takes the state and the
//! session, calls one service function, and maps the result to a UI type.

pub mod add_contact;
pub mod add_user;
pub mod create_list;
pub mod delete_contact;
pub mod delete_list;
pub mod delete_topic;
pub mod delete_user;
pub mod delete_webhook;
pub mod erase_contact;
pub mod generate_dkim;
pub mod get_api_keys;
pub mod get_contact;
pub mod get_contacts;
pub mod get_events;
pub mod get_import;
pub mod get_list;
pub mod get_lists;
pub mod get_outbox;
pub mod get_outbox_message;
pub mod get_overview;
pub mod get_settings;
pub mod get_suppressions;
pub mod get_users;
pub mod get_webhook;
pub mod get_webhooks;
pub mod login;
pub mod logout;
pub mod remove_suppression;
pub mod replay_delivery;
pub mod resume_relay;
pub mod revoke_api_key;
pub mod save_contact;
pub mod save_list;
pub mod save_preferences;
pub mod save_topic;
pub mod save_webhook;
pub mod self_check;
pub mod set_user_role;
pub mod test_webhook;

/// Server-side helpers shared by the adapters.
#[cfg(feature = "ssr")]
pub mod support {
    use crate::server::http::guard;
    pub use crate::server::http::guard::{ACCESS, Access, access};
    use crate::server::service::ServiceError;
    use crate::server::service::auth::{self, Actor, Role};
    use crate::server::state::AppState;
    use leptos::prelude::*;
    use tower_sessions::Session;

    pub fn state() -> AppState {
        expect_context::<AppState>()
    }

    fn fail(status: axum::http::StatusCode, msg: &str) -> ServerFnError {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(status);
        }
        ServerFnError::new(msg)
    }

    /// The signed-in user as an `Actor` with at least `min` role; otherwise 401 or 403.
    pub async fn require(min: Role) -> Result<Actor, ServerFnError> {
        let session: Session = leptos_axum::extract()
            .await
            .map_err(|_| fail(axum::http::StatusCode::UNAUTHORIZED, "sign in first"))?;
        let id = guard::session_user(&session)
            .await
            .ok_or_else(|| fail(axum::http::StatusCode::UNAUTHORIZED, "sign in first"))?;
        let actor = auth::actor(&*state().store, id).await.map_err(service)?;
        actor.require(min).map_err(service)?;
        Ok(actor)
    }

    /// A service failure as the dashboard shows it. The caller's mistakes keep the
    /// default status, so a plain (no-JavaScript) form POST is redirected back to the
    /// form with the message (a status set here would replace that redirect); refusals
    /// answer 401/403, and our own failures are logged and answered with a generic 500.
    pub fn service(e: ServiceError) -> ServerFnError {
        match e {
            ServiceError::Unauthorized(m) => fail(axum::http::StatusCode::UNAUTHORIZED, &m),
            ServiceError::Forbidden(m) => fail(axum::http::StatusCode::FORBIDDEN, &m),
            ServiceError::BadRequest(m)
            | ServiceError::NotFound(m)
            | ServiceError::AlreadyExists(m)
            | ServiceError::LimitExceeded(m) => ServerFnError::new(m),
            ServiceError::Unavailable(_) => fail(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; try again shortly",
            ),
            e @ ServiceError::Internal(_) => internal(e.detail()),
        }
    }

    /// An epoch-millisecond time as the dashboard shows it: `2026-11-25 00:31:05 UTC`.
    pub fn when(ms: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .map(|t| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            })
            .unwrap_or_default()
    }

    /// The audit record of a dashboard change: source Admin, the signed-in user, the
    /// client's keyed IP hash and user agent.
    pub async fn audit() -> crate::domain::Audit {
        let audit = request_audit(crate::domain::Source::Admin).await;
        let session: Option<Session> = leptos_axum::extract().await.ok();
        let user = match &session {
            Some(s) => guard::session_user(s).await,
            None => None,
        };
        match user {
            Some(id) => audit.by(id.to_string()),
            None => audit,
        }
    }

    /// The audit record of a change made by this server function's request.
    pub async fn request_audit(source: crate::domain::Source) -> crate::domain::Audit {
        let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
        let peer: Option<axum::extract::ConnectInfo<std::net::SocketAddr>> =
            leptos_axum::extract().await.ok();
        state().audit(source, peer.map(|p| p.0.ip()), &headers)
    }

    /// Logs the cause and answers a generic 500.
    pub fn internal(e: impl std::fmt::Display) -> ServerFnError {
        tracing::error!(error = %e, "server function failed");
        fail(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "something went wrong on our side; try again",
        )
    }
}
