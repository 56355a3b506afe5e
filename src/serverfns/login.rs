//! Sign in to the dashboard.

use leptos::prelude::*;

#[server(endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), ServerFnError> {
    use super::support::{internal, state};
    use crate::server::service::{ServiceError, auth};
    use crate::server::sessions::USER_ID;
    let session: tower_sessions::Session = leptos_axum::extract().await?;
    match auth::authenticate(&*state().store, &email, &password).await {
        Ok(user) => {
            // A fresh id on sign-in prevents session fixation.
            session.cycle_id().await.map_err(internal)?;
            session.insert(USER_ID, user.id).await.map_err(internal)?;
            leptos_axum::redirect("/admin");
            Ok(())
        }
        Err(ServiceError::Unauthorized(m)) => {
            if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
                resp.set_status(axum::http::StatusCode::UNAUTHORIZED);
            }
            Err(ServerFnError::new(m))
        }
        Err(e) => Err(internal(e)),
    }
}
