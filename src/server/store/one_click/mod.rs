//! RFC 8058 one-click opt-outs: how one becomes durable before its `200`, and the rule
//! that every reader sees it from then on. Two modes:
//!
//! - **Direct** (PostgreSQL, a database in memory, or a store not started as a server):
//!   group commit. Opt-outs that arrive while a batch is being written wait and are
//!   committed together in the next transaction; each caller is answered after the
//!   commit that holds its change.
//! - **Logged** (SQLite on disk, from [`super::SystemStore::start`]): each opt-out is
//!   appended to the one-click log, a file beside the database
//!   (`<database>-oneclick.log`), and fsynced with the rest of its batch; then it is
//!   answered. An applier applies the log to the tables behind it (`log.rs`).
//!
//! The rule: until an acknowledged opt-out is applied, every reader that must see it
//! waits for it. [`SqlStore::settled`] is where that happens, and every read or change
//! of contacts, tombstones and the event log takes its connections from it.
//!
//! `apply.rs` holds the SQL that applies a batch (used by both modes); `pending.rs` the
//! opt-outs acknowledged but not yet applied.

mod apply;
mod log;
mod pending;

pub use log::{MAX_BACKLOG, MAX_BATCH, OneClickLogError, log_path, whole_copy};
pub(crate) use pending::Pending;

use super::db::Pools;
use super::{OptOut, SqlStore, StoreError, StoreResult, Unavailable};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// One-click storage; a part of `Store`.
#[async_trait::async_trait]
pub trait OneClickStore {
    /// Records an RFC 8058 opt-out durably: `Ok` means it is committed, or (SQLite, once
    /// started) fsynced in the one-click log, and every reader sees it from now on.
    async fn opt_out_one_click(&self, item: OptOut) -> StoreResult<()>;
    /// Applies many opt-outs in one transaction (group commit: one durable commit for the
    /// batch); each item succeeds or fails on its own. The outer error means nothing was
    /// committed. `log_seq`: the one-click log's sequence number of the last item,
    /// recorded in the same transaction (see [`OneClickStore::one_click_log_applied`]).
    async fn apply_opt_outs(
        &self,
        items: &[OptOut],
        log_seq: Option<u64>,
    ) -> StoreResult<Vec<StoreResult<()>>>;
    /// How far the one-click log has been applied (0 when never).
    async fn one_click_log_applied(&self) -> StoreResult<u64>;
    /// Opt-outs acknowledged by the one-click log but not yet applied.
    fn one_click_backlog(&self) -> u64;
}

/// An opt-out on its way, with where to send its answer.
type Job = (OptOut, oneshot::Sender<StoreResult<()>>);

/// A store's one-click intake (see the module documentation).
#[derive(Default)]
pub(crate) struct OneClick {
    /// What a log started by this store acknowledges; the SQLite checkpointer holds off
    /// while it is [`Pending::quiet`].
    own: Arc<Pending>,
    /// The log, once started (shared by the stores of one process on one database).
    log: OnceLock<Arc<log::Log>>,
    /// The group-commit writer, started on first use; it ends with the store.
    direct: OnceLock<mpsc::Sender<Job>>,
}

/// Which acknowledged opt-outs a reader must see before it reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sees<'a> {
    /// Those of one contact (its list and address hash): a read or change of it.
    Contact(i64, &'a [u8]),
    /// Everything acknowledged so far: list-wide reads (listings, counts, the event
    /// log), imports, changes to a list's topics.
    All,
}

impl SqlStore {
    /// The database as contact data must be read: once every acknowledged one-click
    /// opt-out the reader must see is applied. Every read and change of contacts,
    /// tombstones and the event log gets its pools here, so no surface observes an
    /// acknowledged opt-out as missing. A contact waits only when it has an opt-out
    /// pending; with an empty backlog (or no log: PostgreSQL, a store not started) this
    /// returns at once. A wait longer than [`pending::SETTLE_TIMEOUT`] is `Unavailable`.
    pub(crate) async fn settled(&self, sees: Sees<'_>) -> StoreResult<&Pools> {
        if let Some(log) = self.one_click.log.get() {
            match sees {
                Sees::Contact(list, hash) => log.pending.settle_key(list, hash).await?,
                Sees::All => log.pending.settle_all().await?,
            }
        }
        Ok(&self.pools)
    }
}

impl OneClick {
    /// Acknowledged opt-outs the log has not applied yet (0 without a log).
    pub fn backlog(&self) -> u64 {
        self.log.get().map_or(0, |l| l.pending.backlog())
    }

    /// The pending opt-outs of a log this store starts (the checkpointer watches them).
    pub fn own_pending(&self) -> Arc<Pending> {
        self.own.clone()
    }

    /// Starts the log for a SQLite database file; without one (PostgreSQL, memory)
    /// opt-outs are group-committed.
    pub async fn start(
        &self,
        pools: &Pools,
        file: Option<&std::path::Path>,
    ) -> Result<(), OneClickLogError> {
        let Some(file) = file else { return Ok(()) };
        if self.log.get().is_none() {
            let log = log::Log::open(pools.clone(), self.own.clone(), &log_path(file)).await?;
            // A concurrent start got there first: the same shared log.
            let _ = self.log.set(log);
        }
        Ok(())
    }

    /// Waits until every acknowledged opt-out is applied (at most
    /// [`pending::SETTLE_TIMEOUT`]; what is left is applied at the next start).
    pub async fn stop(&self) -> StoreResult<()> {
        match self.log.get() {
            Some(log) => log.pending.settle_all().await,
            None => Ok(()),
        }
    }

    async fn submit(&self, pools: &Pools, item: OptOut) -> StoreResult<()> {
        let queue = match self.log.get() {
            Some(log) => &log.tx,
            None => self.direct.get_or_init(|| group_commit(pools.clone())),
        };
        let gone = || StoreError::Unavailable(Unavailable::OneClickStopped);
        let (reply, rx) = oneshot::channel();
        queue.send((item, reply)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// Direct mode: the group-commit writer task; it ends when its sender is dropped.
fn group_commit(pools: Pools) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
    tokio::spawn(async move {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let (items, replies): (Vec<OptOut>, Vec<_>) = batch.drain(..).unzip();
            match apply::apply(&pools, &items, None).await {
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
    tx
}

#[async_trait::async_trait]
impl OneClickStore for SqlStore {
    async fn opt_out_one_click(&self, item: OptOut) -> StoreResult<()> {
        self.one_click.submit(&self.pools, item).await
    }

    async fn apply_opt_outs(
        &self,
        items: &[OptOut],
        log_seq: Option<u64>,
    ) -> StoreResult<Vec<StoreResult<()>>> {
        apply::apply(&self.pools, items, log_seq).await
    }

    async fn one_click_log_applied(&self) -> StoreResult<u64> {
        apply::applied_position(&self.pools).await
    }

    fn one_click_backlog(&self) -> u64 {
        self.one_click
            .log
            .get()
            .map_or(0, |log| log.pending.backlog())
    }
}
