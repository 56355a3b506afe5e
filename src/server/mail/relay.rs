//! The durable relay queue: messages accepted from the pipeline are stored before the
//! sender is answered, then handed to the upstream SMTP server (`relay_url`) by a worker,
//! retried with backoff, or kept in the local outbox when no upstream is configured.

use super::pipeline::Outgoing;
use crate::server::state::AppState;
use crate::server::store::StoreError;

/// Stores `msgs` durably (committed before this returns). Placeholder until the queue lands.
pub async fn enqueue(_state: &AppState, _msgs: &[Outgoing]) -> Result<(), StoreError> {
    Err(StoreError::Other("the relay queue is not built yet".into()))
}
