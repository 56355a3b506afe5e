//! Queues a dead-lettered webhook delivery again (or all of a destination's).

use leptos::prelude::*;

/// `delivery` empty replays every dead letter of the destination.
#[server(endpoint = "replay_delivery")]
pub async fn replay_delivery(id: i64, delivery: String) -> Result<(), ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin_ops, auth::Role};
    let user = require(Role::Admin).await?;
    let delivery = match delivery.trim() {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .map_err(|_| ServerFnError::new(format!("{s:?} is not a delivery id")))?,
        ),
    };
    let n = admin_ops::replay(&*state().store, &user, id, delivery)
        .await
        .map_err(service)?;
    leptos_axum::redirect(&format!("/admin/webhooks/{id}?replayed={n}"));
    Ok(())
}
