//! Server functions: one per file, each a thin adapter that takes the state and the
//! session, calls one service function, and maps the result to a UI type.

pub mod get_overview;
pub mod get_preferences;
pub mod login;
pub mod logout;
pub mod save_preferences;

/// Server-side helpers shared by the adapters.
#[cfg(feature = "ssr")]
pub mod support {
    use crate::server::service::auth::Role;
    use crate::server::sessions::USER_ID;
    use crate::server::state::AppState;
    use crate::server::store::{StoreError, UserRecord};
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

    /// The signed-in user with at least `min` role; otherwise 401 or 403.
    pub async fn require(min: Role) -> Result<UserRecord, ServerFnError> {
        let session: Session = leptos_axum::extract()
            .await
            .map_err(|_| fail(axum::http::StatusCode::UNAUTHORIZED, "sign in first"))?;
        let id = session
            .get::<i64>(USER_ID)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| fail(axum::http::StatusCode::UNAUTHORIZED, "sign in first"))?;
        let user = match state().store.get_user(id).await {
            Ok(u) => u,
            Err(StoreError::NotFound) => {
                return Err(fail(axum::http::StatusCode::UNAUTHORIZED, "sign in first"));
            }
            Err(e) => return Err(internal(e)),
        };
        let role = Role::parse(&user.role).map_err(internal)?;
        if role < min {
            return Err(fail(
                axum::http::StatusCode::FORBIDDEN,
                "your role does not allow this",
            ));
        }
        Ok(user)
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
