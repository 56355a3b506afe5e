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
        // No status override here: without JavaScript, leptos_axum answers a failed form
        // POST with a redirect back to the form carrying the error, and a status set
        // here would replace that redirect.
        Err(ServiceError::Unauthorized(m)) => Err(ServerFnError::new(m)),
        Err(e) => Err(internal(e)),
    }
}
