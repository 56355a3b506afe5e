//! Group commit for RFC 8058 one-click opt-outs: a writer task that commits concurrent
//! opt-outs together, so N simultaneous unsubscribes cost one durable commit, not N.

use crate::server::store::{DynStore, OptOut, StoreError};
use tokio::sync::{mpsc, oneshot};

type Job = (OptOut, oneshot::Sender<Result<(), StoreError>>);

/// Group commit for one-click opt-outs. Requests that arrive while a batch is being
/// written wait and are committed together in the next transaction, so N concurrent
/// unsubscribes cost one durable commit instead of N. Each caller is answered only after
/// the commit that holds its change.
#[derive(Clone)]
pub struct OneClickQueue {
    tx: mpsc::Sender<Job>,
}

/// The most opt-outs committed in one transaction.
pub const MAX_BATCH: usize = 256;

impl OneClickQueue {
    /// Starts the writer task; it ends when every handle is dropped.
    pub fn start(store: DynStore) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (items, replies): (Vec<OptOut>, Vec<_>) = batch.drain(..).unzip();
                match store.apply_opt_outs(&items).await {
                    Ok(results) => {
                        for (reply, r) in replies.into_iter().zip(results) {
                            let _ = reply.send(r);
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Queues one opt-out and waits for the commit that holds it.
    pub async fn submit(&self, item: OptOut) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        let gone = || StoreError::Unavailable("the one-click writer has stopped".into());
        self.tx.send((item, reply)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}
