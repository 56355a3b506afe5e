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
pub mod get_preferences;
pub mod get_settings;
pub mod get_users;
pub mod get_webhook;
pub mod get_webhooks;
pub mod login;
pub mod logout;
pub mod replay_delivery;
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
    use crate::server::service::ServiceError;
    use crate::server::service::auth::{self, Actor, Role};
    use crate::server::state::AppState;
    use leptos::prelude::*;
    use tower_sessions::Session;

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
        ("/api/preferences", Access::Public),
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
        ("/api/events", Access::Role(Role::Viewer)),
        ("/api/import_job", Access::Role(Role::Viewer)),
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
    ];

    /// The access rule of a server-function path, if it has one.
    pub fn access(path: &str) -> Option<Access> {
        ACCESS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
    }

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
            ServiceError::Internal(m) => internal(m),
        }
    }

    /// Percent-encodes a value for a query string.
    pub fn query_escape(s: &str) -> String {
        crate::ui::components::query_escape(s)
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

    /// The audit record of a dashboard change: source Admin, the client's keyed IP hash
    /// and user agent.
    pub async fn audit() -> crate::server::store::Audit {
        use crate::server::store::{Audit, Source};
        let headers: Option<axum::http::HeaderMap> = leptos_axum::extract().await.ok();
        let peer: Option<axum::extract::ConnectInfo<std::net::SocketAddr>> =
            leptos_axum::extract().await.ok();
        Audit {
            source: Source::Admin,
            ip_hash: peer.map(|p| {
                let st = state();
                st.ip_hash(st.client_ip(p.0.ip(), &headers.clone().unwrap_or_default()))
            }),
            user_agent: headers
                .as_ref()
                .and_then(|h| h.get("user-agent"))
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect()),
        }
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
