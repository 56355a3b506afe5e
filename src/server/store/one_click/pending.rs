//! Opt-outs that are durable in the one-click log (`log.rs`) but not yet applied to the
//! tables. The store consults this before it reads or writes contacts
//! ([`SqlStore::settled`](crate::server::store::SqlStore)), so every reader sees an
//! acknowledged opt-out as if it were already applied:
//! - a read or write of one contact waits only when that contact has an opt-out pending
//!   ([`Pending::settle_key`]); with an empty backlog this is one atomic comparison;
//! - list-wide reads (listings, counts, the event log, imports) wait until everything
//!   acknowledged before they began is applied ([`Pending::settle_all`]).
//!
//! Sequence numbers are the log's: assigned in order by its single writer, applied in
//! order by its single applier. Without a log (PostgreSQL) nothing is ever pending.

use super::super::{StoreError, StoreResult, Unavailable};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// How long a reader waits for the opt-outs it must see before it gives up with
/// "unavailable" (a 503 or the surface's own "try again"): less than the default
/// `request_timeout_secs` (30), so the surface answers in its own words rather than 408.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How many maps the pending contacts are spread over (by address hash).
const SHARDS: usize = 64;

/// A contact with an opt-out pending: its list and address hash. Address hashes are 16
/// bytes ([`email_hash`](crate::server::store::email_hash)); any other length is folded
/// into 16, which can only make two contacts share a key, so one of them waits for the
/// other's opt-out too: never the other way round.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    list: i64,
    hash: [u8; 16],
}

impl Key {
    fn new(list: i64, hash: &[u8]) -> Self {
        let mut out = [0u8; 16];
        if hash.len() == out.len() {
            out.copy_from_slice(hash);
        } else {
            for (k, b) in hash.iter().enumerate() {
                out[k % 16] ^= b.rotate_left((k / 16) as u32);
            }
            out[15] ^= hash.len() as u8;
            out[14] ^= (hash.len() >> 8) as u8;
        }
        Self { list, hash: out }
    }

    fn shard(&self) -> usize {
        self.hash[15] as usize % SHARDS
    }
}

impl Hash for Key {
    /// The address hash is already a cryptographic hash: eight of its bytes, mixed with
    /// the list, are as good as any hash of them.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.hash[..8]);
        state.write_u64(u64::from_le_bytes(low) ^ (self.list as u64).rotate_left(32));
    }
}

/// Spreads the one `u64` a [`Key`] writes over all bits (a multiply and a fold), in place
/// of SipHash, which the log writer otherwise spends its time on while it holds a shard.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let x = (self.0 ^ (self.0 >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

type Shard = HashMap<Key, u64, BuildHasherDefault<KeyHasher>>;

/// See the module documentation.
pub struct Pending {
    /// The highest sequence number acknowledged (durable in the log).
    written: AtomicU64,
    /// The highest sequence number applied to the tables.
    applied: watch::Sender<u64>,
    /// Contacts with opt-outs pending → the highest such sequence, spread over [`SHARDS`]
    /// maps by address hash. The log writer inserts a whole batch before it answers, and
    /// in a burst the backlog reaches hundreds of thousands: one map then regrew (and
    /// faulted in its new table) under a lock every request waited for; a shard is a
    /// sixty-fourth of that, and the lock is taken per contact.
    keys: Box<[Mutex<Shard>]>,
    /// Readers waiting for the applier right now.
    waiters: AtomicUsize,
    /// Set while the applier holds off for a burst of one-click POSTs
    /// (`log::applier`): the log's fsyncs then have the disk to themselves, so
    /// the store's other background writer, the WAL checkpointer, waits too.
    quiet: AtomicBool,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            written: AtomicU64::new(0),
            applied: watch::Sender::new(0),
            keys: (0..SHARDS).map(|_| Mutex::default()).collect(),
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

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        self.keys[key.shard()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The highest sequence pending for this contact, if any.
    fn pending_seq(&self, list: i64, hash: &[u8]) -> Option<u64> {
        let key = Key::new(list, hash);
        self.shard(&key).get(&key).copied()
    }

    /// Opt-outs now durable in the log, in sequence order. Call before answering them.
    /// Every key is in its map before `written` moves past it.
    pub fn acknowledged<'a>(&self, items: impl IntoIterator<Item = (i64, &'a [u8], u64)>) {
        let mut top = 0;
        for (list, hash, seq) in items {
            let key = Key::new(list, hash);
            let mut shard = self.shard(&key);
            let slot = shard.entry(key).or_insert(seq);
            *slot = (*slot).max(seq);
            top = top.max(seq);
        }
        self.written.fetch_max(top, Ordering::SeqCst);
    }

    /// Opt-outs now committed to the tables, with every sequence up to `upto`. Keys leave
    /// their maps before `applied` moves (a reader that finds one waits for its sequence,
    /// which is then already applied).
    pub fn applied<'a>(&self, items: impl IntoIterator<Item = (i64, &'a [u8], u64)>, upto: u64) {
        for (list, hash, _) in items {
            let key = Key::new(list, hash);
            let mut shard = self.shard(&key);
            if shard.get(&key).is_some_and(|&s| s <= upto) {
                shard.remove(&key);
            }
        }
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
        match self.pending_seq(list_id, hash) {
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
            _ => Err(StoreError::Unavailable(Unavailable::Settling)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Pending {
        fn pending_keys(&self) -> usize {
            self.keys.iter().map(|s| s.lock().unwrap().len()).sum()
        }
    }

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
        assert_eq!(p.pending_keys(), 0);
    }

    #[tokio::test]
    async fn a_later_opt_out_of_the_same_contact_keeps_it_pending() {
        let p = Pending::default();
        p.acknowledged([(1, &b"a"[..], 1)]);
        p.acknowledged([(1, &b"a"[..], 2)]);
        p.applied([(1, &b"a"[..], 1)], 1);
        assert_eq!(p.pending_seq(1, b"a"), Some(2));
    }

    #[tokio::test]
    async fn keys_of_many_contacts_stay_apart() {
        use sha2::{Digest, Sha256};
        let hash = |n: u32| Sha256::digest(n.to_le_bytes())[..16].to_vec();
        let p = std::sync::Arc::new(Pending::default());
        let hashes: Vec<Vec<u8>> = (0..10_000).map(hash).collect();
        // Contact k: list 1 + k % 3, sequence 1 + k.
        fn item((k, h): (usize, &Vec<u8>)) -> (i64, &[u8], u64) {
            (1 + (k % 3) as i64, h.as_slice(), 1 + k as u64)
        }
        p.acknowledged(hashes.iter().enumerate().map(item));
        assert_eq!(p.pending_keys(), hashes.len());
        let used = p
            .keys
            .iter()
            .filter(|s| !s.lock().unwrap().is_empty())
            .count();
        assert_eq!(used, SHARDS, "every shard holds some of 10,000 contacts");
        for (k, h) in hashes.iter().enumerate() {
            assert_eq!(p.pending_seq(1 + (k % 3) as i64, h), Some(1 + k as u64));
            // The same address on another list is not pending.
            assert_eq!(p.pending_seq(4, h), None);
        }
        // Applying the first half leaves exactly the second half pending, and a contact of
        // the second half still waits.
        let half = hashes.len() / 2;
        p.applied(hashes[..half].iter().enumerate().map(item), half as u64);
        assert_eq!(p.pending_keys(), hashes.len() - half);
        p.settle_key(1, &hashes[0]).await.unwrap();
        let last = hashes.len() - 1;
        let waiter = {
            let (p, h) = (p.clone(), hashes[last].clone());
            tokio::spawn(async move { p.settle_key(1 + (last % 3) as i64, &h).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        p.applied(
            hashes.iter().enumerate().skip(half).map(item),
            hashes.len() as u64,
        );
        waiter.await.unwrap().unwrap();
        assert_eq!(p.pending_keys(), 0);
    }

    #[test]
    fn hashes_of_other_lengths_fold_into_distinct_keys() {
        let keys = [&b""[..], b"a", b"b", b"ab", b"ba", &[0u8; 32], &[0u8; 17]];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert!(Key::new(1, a) != Key::new(1, b), "{a:?} and {b:?}");
            }
        }
        assert!(Key::new(1, b"a") != Key::new(2, b"a"));
    }
}
