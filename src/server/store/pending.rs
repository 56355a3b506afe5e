//! Opt-outs that are durable in the one-click log (`service::one_click_queue`) but not yet
//! applied to the tables. The store consults this before it reads or writes contacts, so
//! every reader sees an acknowledged opt-out as if it were already applied:
//! - a read or write of one contact waits only when that contact has an opt-out pending
//!   ([`Pending::settle_key`]); with an empty backlog this is one atomic comparison;
//! - list-wide reads (listings, counts, the event log, imports) wait until everything
//!   acknowledged before they began is applied ([`Pending::settle_all`]).
//!
//! Sequence numbers are the log's: assigned in order by its single writer, applied in
//! order by its single applier. Without a log (PostgreSQL) nothing is ever pending.

use super::{StoreError, StoreResult};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How long a reader waits for the opt-outs it must see before it gives up with
/// "unavailable" (a 503 or the surface's own "try again"): less than the default
/// `request_timeout_secs` (30), so the surface answers in its own words rather than 408.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// See the module documentation.
pub struct Pending {
    /// The highest sequence number acknowledged (durable in the log).
    written: AtomicU64,
    /// The highest sequence number applied to the tables.
    applied: watch::Sender<u64>,
    /// Contacts with opt-outs pending: (list id, address hash) → the highest such sequence.
    keys: Mutex<HashMap<(i64, Vec<u8>), u64>>,
    /// Readers waiting for the applier right now.
    waiters: AtomicUsize,
    /// Set while the applier holds off for a burst of one-click POSTs
    /// (`one_click_queue::applier`): the log's fsyncs then have the disk to themselves, so
    /// the store's other background writer, the WAL checkpointer, waits too.
    quiet: AtomicBool,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            written: AtomicU64::new(0),
            applied: watch::Sender::new(0),
            keys: Mutex::new(HashMap::new()),
            waiters: AtomicUsize::new(0),
            quiet: AtomicBool::new(false),
        }
    }
}

impl Pending {
    /// Everything up to `seq` is applied (at start-up, from the database).
    pub fn start_at(&self, seq: u64) {
        self.written.store(seq, Ordering::SeqCst);
        self.applied.send_replace(seq);
    }

    /// Opt-outs now durable in the log, in sequence order. Call before answering them.
    pub fn acknowledged<'a>(&self, items: impl IntoIterator<Item = (i64, &'a [u8], u64)>) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut top = 0;
        for (list, hash, seq) in items {
            keys.insert((list, hash.to_vec()), seq);
            top = top.max(seq);
        }
        drop(keys);
        self.written.fetch_max(top, Ordering::SeqCst);
    }

    /// Opt-outs now committed to the tables, with every sequence up to `upto`.
    pub fn applied<'a>(&self, items: impl IntoIterator<Item = (i64, &'a [u8], u64)>, upto: u64) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        for (list, hash, _) in items {
            let k = (list, hash.to_vec());
            if keys.get(&k).is_some_and(|&s| s <= upto) {
                keys.remove(&k);
            }
        }
        drop(keys);
        self.applied.send_modify(|a| *a = (*a).max(upto));
    }

    /// The highest sequence applied.
    pub fn applied_seq(&self) -> u64 {
        *self.applied.borrow()
    }

    /// The highest sequence acknowledged.
    pub fn written_seq(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// How many readers are waiting for the applier now.
    pub fn waiters(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }

    /// Whether background writes should wait: see the field.
    pub fn quiet(&self) -> bool {
        self.quiet.load(Ordering::Relaxed)
    }

    pub fn set_quiet(&self, on: bool) {
        self.quiet.store(on, Ordering::Relaxed);
    }

    /// Acknowledged opt-outs not yet applied.
    pub fn backlog(&self) -> u64 {
        self.written
            .load(Ordering::SeqCst)
            .saturating_sub(self.applied_seq())
    }

    /// Waits until every opt-out acknowledged so far is applied.
    pub async fn settle_all(&self) -> StoreResult<()> {
        let target = self.written.load(Ordering::SeqCst);
        self.wait_for(target).await
    }

    /// Waits until the opt-outs pending for this contact, if any, are applied.
    pub async fn settle_key(&self, list_id: i64, hash: &[u8]) -> StoreResult<()> {
        if self.backlog() == 0 {
            return Ok(());
        }
        let target = {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.get(&(list_id, hash.to_vec())).copied()
        };
        match target {
            Some(seq) => self.wait_for(seq).await,
            None => Ok(()),
        }
    }

    async fn wait_for(&self, target: u64) -> StoreResult<()> {
        if self.applied_seq() >= target {
            return Ok(());
        }
        let mut rx = self.applied.subscribe();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let waited = tokio::time::timeout(SETTLE_TIMEOUT, rx.wait_for(|a| *a >= target)).await;
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(StoreError::Unavailable(
                "one-click opt-outs are still being applied; try again".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pending_key_waits_for_its_own_sequence_only() {
        let p = std::sync::Arc::new(Pending::default());
        p.start_at(10);
        p.acknowledged([(1, &b"a"[..], 11), (1, &b"b"[..], 12)]);
        assert_eq!(p.backlog(), 2);
        // Unrelated contacts do not wait.
        p.settle_key(1, b"c").await.unwrap();
        p.settle_key(2, b"a").await.unwrap();
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.settle_key(1, b"b").await })
        };
        p.applied([(1, &b"a"[..], 11)], 11);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "b (12) is not applied yet");
        let all = {
            let p = p.clone();
            tokio::spawn(async move { p.settle_all().await })
        };
        p.applied([(1, &b"b"[..], 12)], 12);
        waiter.await.unwrap().unwrap();
        all.await.unwrap().unwrap();
        assert_eq!(p.backlog(), 0);
        assert!(p.keys.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_later_opt_out_of_the_same_contact_keeps_it_pending() {
        let p = Pending::default();
        p.acknowledged([(1, &b"a"[..], 1)]);
        p.acknowledged([(1, &b"a"[..], 2)]);
        p.applied([(1, &b"a"[..], 1)], 1);
        assert_eq!(p.keys.lock().unwrap().get(&(1, b"a".to_vec())), Some(&2));
    }
}
