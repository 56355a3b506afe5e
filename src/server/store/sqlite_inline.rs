//! SQLite point reads on the recipient pages, run on the request's own thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and passes every statement
//! and every row across a channel, so one read costs two thread hand-offs, and on a
//! loaded server those cost more than the read itself. The reads a recipient page makes
//! are look-ups by a unique index that take microseconds in a page-cached file: a
//! contact by its address hash, a mailed link's request, and an address's contacts on
//! every list. Those run here, synchronously, on a few read-only connections of their
//! own (rusqlite over the same SQLite library sqlx links). Everything else, and every
//! read on PostgreSQL, stays on sqlx.
//!
//! A read here sees what is committed, as the sqlx readers do; callers wait for pending
//! one-click opt-outs first (`SqlStore::settled`), as for any read.

use super::contacts::{BY_HASH_SQL, OF_ADDRESS_SQL, PrefRow};
use super::recipient::{REQUEST_SQL, StoredRequest};
use super::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How much of the file each connection maps (SQLite shares the mapping's pages with
/// the operating system's cache; a larger file is read past the mapping as usual).
const MMAP_BYTES: i64 = 1 << 30;

/// The read-only connections. A read takes the first one free; a tokio worker holds one
/// only for a statement, so with a connection per worker thread (and a few more for
/// other runtimes) a read rarely waits.
pub(crate) struct InlineReads {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl InlineReads {
    /// Opens `n` read-only connections to the (already created and migrated) file.
    pub fn open(file: &Path, n: usize) -> rusqlite::Result<Self> {
        let conns = (0..n.max(1))
            .map(|_| {
                let c = Connection::open_with_flags(
                    file,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(Duration::from_secs(5))?;
                // Pages come straight from the file's mapping: a random look-up among
                // millions of contacts otherwise copies its pages in with a read call
                // each, and churns the connection's own page cache.
                c.pragma_update(None, "mmap_size", MMAP_BYTES)?;
                c.set_prepared_statement_cache_capacity(16);
                Ok(Mutex::new(c))
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(InlineReads {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a free connection (waiting for one only when all are taken).
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let conn = (0..n)
            .find_map(|i| self.conns[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                // A panic while holding a connection left it poisoned, not broken.
                self.conns[start % n]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            });
        f(&conn).map_err(read_error)
    }

    /// A contact's rows (see `contacts::read`).
    pub(super) fn contact_by_hash(&self, list_id: i64, hash: &[u8]) -> StoreResult<Vec<PrefRow>> {
        self.rows(BY_HASH_SQL, rusqlite::params![list_id, hash])
    }

    /// The rows of an address's contacts on every list.
    pub(super) fn contacts_of_address(&self, hash: &[u8]) -> StoreResult<Vec<PrefRow>> {
        self.rows(OF_ADDRESS_SQL, rusqlite::params![hash])
    }

    fn rows(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<PrefRow>> {
        self.with(|c| {
            c.prepare_cached(sql)?
                .query_map(params, pref_row)?
                .collect()
        })
    }

    /// A request by its token's hash.
    pub(super) fn request(&self, token_hash: &[u8]) -> StoreResult<Option<StoredRequest>> {
        self.with(|c| {
            c.prepare_cached(REQUEST_SQL)?
                .query_row([token_hash], |r| {
                    Ok(StoredRequest {
                        kind: r.get(0)?,
                        list_name: r.get(1)?,
                        payload: r.get(2)?,
                        created_at: r.get(3)?,
                        expires_at: r.get(4)?,
                        used_at: r.get(5)?,
                    })
                })
                .optional()
        })
    }
}

/// A row of `contact_rows!`, column by column.
fn pref_row(r: &Row<'_>) -> rusqlite::Result<PrefRow> {
    Ok(PrefRow {
        contact: super::sql::ContactRow {
            id: r.get(0)?,
            email: r.get(1)?,
            unsubscribe_all: r.get(2)?,
            attributes: r.get(3)?,
            created_at: r.get(4)?,
            updated_at: r.get(5)?,
            paused_until: r.get(6)?,
        },
        topic: r.get(7)?,
        opt_in: r.get(8)?,
        list_name: r.get(9)?,
    })
}

/// A failed read, with its cause.
fn read_error(e: rusqlite::Error) -> StoreError {
    StoreError::Inline(std::sync::Arc::new(e))
}
