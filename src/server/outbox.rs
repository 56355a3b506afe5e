//! The leased-outbox worker every `optbox serve` runs for each background queue: webhook
//! deliveries (`server::events`) and the relay queue (`mail::relay`). It claims due items
//! under a lease, delivers each with at most `concurrency` in flight, and records the
//! outcomes in batches. An item claimed by a process that dies is taken by any instance
//! when its lease ends (`store/outbox.rs` has the claim and its SQL). On shutdown it stops
//! claiming, waits for the deliveries in flight and records them, so a graceful stop
//! leaves nothing to deliver twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument;

/// A queue the worker drains, and how one item is delivered.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// A claimed item, with what delivering it needs.
    type Item: Send + 'static;
    /// How a delivery ended.
    type Outcome: Send + Sync + 'static;
    type Error: std::fmt::Display + Send;

    /// A cheap read: is any item due at `now` (Unix ms)?
    async fn due(&self, now: i64) -> Result<bool, Self::Error>;
    /// Claims up to `limit` items due at `now`, leased until `lease_until`.
    async fn claim(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<Self::Item>, Self::Error>;
    /// The span one item's delivery runs in: the ids an operator follows it by.
    fn span(&self, item: &Self::Item) -> tracing::Span;
    /// Delivers one claimed item.
    async fn deliver(&self, item: Self::Item) -> Self::Outcome;
    /// Records outcomes, in one transaction.
    async fn record(&self, outcomes: &[Self::Outcome]) -> Result<(), Self::Error>;
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deliveries in flight at most.
    pub concurrency: usize,
    /// How often an idle worker looks for due items.
    pub poll: Duration,
    /// How long a claim keeps other instances off an item: longer than any delivery.
    pub lease_ms: i64,
    /// Items claimed at once, at most.
    pub claim_batch: usize,
    /// Outcomes recorded in one transaction, at most.
    pub record_batch: usize,
    /// What the log says when the queue cannot be read, claimed from or recorded to.
    pub names: Names,
}

/// A worker's log messages.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub unavailable: &'static str,
    pub cannot_claim: &'static str,
    pub cannot_record: &'static str,
}

/// A running worker.
pub struct Worker {
    stop: Arc<AtomicBool>,
    claimer: tokio::task::JoinHandle<()>,
    recorder: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Stops claiming, waits for the deliveries in flight and records their outcomes.
    pub async fn shutdown(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.claimer.await;
        let _ = self.recorder.await;
    }
}

/// Now, in Unix epoch milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Starts a worker on `outbox`.
pub fn start<O: Outbox>(outbox: Arc<O>, s: Settings) -> Worker {
    let names = s.names;
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<O::Outcome>();
    let recording = outbox.clone();
    let batch = s.record_batch.max(1);
    let recorder = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(batch);
        while done_rx.recv_many(&mut buf, batch).await > 0 {
            for n in 0.. {
                match recording.record(&buf).await {
                    Ok(()) => break,
                    // Not recorded means delivered again after the lease: at least once.
                    Err(e) if n >= 5 => {
                        tracing::error!(error = %e, "{}", names.cannot_record);
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200 << n)).await,
                }
            }
            buf.clear();
        }
    });
    let stopping = stop.clone();
    let claimer = tokio::spawn(async move {
        let max = s.concurrency.max(1);
        let sem = Arc::new(Semaphore::new(max));
        let poll = s.poll.max(Duration::from_millis(1));
        while !stopping.load(Ordering::SeqCst) {
            let free = sem.available_permits();
            if free == 0 {
                drop(sem.acquire().await);
                continue;
            }
            let now = now_ms();
            match outbox.due(now).await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::time::sleep(poll).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "{}", names.unavailable);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            let limit = free.min(s.claim_batch.max(1)) as u32;
            let claims = match outbox.claim(now, now + s.lease_ms, limit).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "{}", names.cannot_claim);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if claims.is_empty() {
                tokio::time::sleep(poll).await;
                continue;
            }
            for item in claims {
                let Ok(permit) = sem.clone().acquire_owned().await else {
                    return;
                };
                let (outbox, done) = (outbox.clone(), done_tx.clone());
                let span = outbox.span(&item);
                tokio::spawn(
                    async move {
                        let outcome = outbox.deliver(item).await;
                        let _ = done.send(outcome);
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        }
        // Every permit back means every delivery in flight has ended; dropping the last
        // sender then lets the recorder record them and end.
        let _ = sem.acquire_many(max as u32).await;
    });
    Worker {
        stop,
        claimer,
        recorder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An outbox in memory: items 0..n, each claimable once; a delivery takes `delay`.
    struct Fake {
        waiting: Mutex<Vec<u32>>,
        in_flight: std::sync::atomic::AtomicUsize,
        most_in_flight: std::sync::atomic::AtomicUsize,
        recorded: Mutex<Vec<u32>>,
        delay: Duration,
    }

    impl Fake {
        fn new(n: u32, delay: Duration) -> Arc<Self> {
            Arc::new(Self {
                waiting: Mutex::new((0..n).collect()),
                in_flight: Default::default(),
                most_in_flight: Default::default(),
                recorded: Mutex::default(),
                delay,
            })
        }
    }

    #[async_trait::async_trait]
    impl Outbox for Fake {
        type Item = u32;
        type Outcome = u32;
        type Error = String;

        async fn due(&self, _now: i64) -> Result<bool, String> {
            Ok(!self.waiting.lock().unwrap().is_empty())
        }

        async fn claim(&self, _now: i64, _until: i64, limit: u32) -> Result<Vec<u32>, String> {
            let mut w = self.waiting.lock().unwrap();
            let n = w.len().min(limit as usize);
            Ok(w.drain(..n).collect())
        }

        fn span(&self, _item: &u32) -> tracing::Span {
            tracing::Span::none()
        }

        async fn deliver(&self, item: u32) -> u32 {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            item
        }

        async fn record(&self, outcomes: &[u32]) -> Result<(), String> {
            self.recorded.lock().unwrap().extend_from_slice(outcomes);
            Ok(())
        }
    }

    fn settings(concurrency: usize) -> Settings {
        Settings {
            concurrency,
            poll: Duration::from_millis(5),
            lease_ms: 60_000,
            claim_batch: 8,
            record_batch: 16,
            names: Names {
                unavailable: "unavailable",
                cannot_claim: "cannot claim",
                cannot_record: "cannot record",
            },
        }
    }

    #[tokio::test]
    async fn every_item_is_delivered_and_recorded_once_within_the_concurrency() {
        let fake = Fake::new(100, Duration::from_millis(2));
        let worker = start(fake.clone(), settings(4));
        for _ in 0..500 {
            if fake.recorded.lock().unwrap().len() == 100 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        worker.shutdown().await;
        let mut recorded = fake.recorded.lock().unwrap().clone();
        recorded.sort_unstable();
        assert_eq!(recorded, (0..100).collect::<Vec<_>>());
        assert!(fake.most_in_flight.load(Ordering::SeqCst) <= 4);
    }

    #[tokio::test]
    async fn shutdown_waits_for_deliveries_in_flight_and_records_them() {
        let fake = Fake::new(3, Duration::from_millis(300));
        let worker = start(fake.clone(), settings(8));
        while fake.in_flight.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worker.shutdown().await;
        assert_eq!(fake.in_flight.load(Ordering::SeqCst), 0);
        assert_eq!(fake.recorded.lock().unwrap().len(), 3);
    }
}
