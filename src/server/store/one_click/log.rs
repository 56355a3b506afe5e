//! The one-click log on SQLite (logged mode, see the module above): each opt-out is
//! appended to `<database>-oneclick.log` and fsynced together with the rest of its batch;
//! then it is answered. An applier task applies the log to the tables behind it, in
//! order, in transactions that also record how far they got (table `one_click_log`).
//! Until then [`Pending`] makes readers wait for the opt-outs they must see, so nobody
//! observes an acknowledged opt-out as missing. At start-up the part of the log the
//! database has not recorded as applied is applied again; a torn last record (a crash in
//! the middle of a write) was never acknowledged and is cut off. Once everything is
//! applied the log starts again from its beginning.
//!
//! Why: a durable SQLite commit of random opt-outs dirties about six pages of the
//! contact indexes per opt-out, which bounds the direct mode's rate; a log append is one
//! sequential write per batch. `docs/performance.md` has the figures; the log is bounded
//! by [`MAX_BACKLOG`] unapplied opt-outs.

use super::super::db::Pools;
use super::super::{Audit, OptOut, Source, StoreError, Unavailable};
use super::{Job, Pending, apply};
use crate::domain::{ContactList, TopicName};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// A running log: where opt-outs are queued for its writer, and what it has
/// acknowledged but not yet applied. Dropping the last handle stops the writer (which
/// releases the file's lock); the applier finishes what the writer handed it.
pub(super) struct Log {
    pub tx: mpsc::Sender<Job>,
    pub pending: Arc<Pending>,
}

/// Why the log could not be started; the server does not start then.
#[derive(Debug, thiserror::Error)]
pub enum OneClickLogError {
    #[error("one-click log {}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("one-click log {}: cannot read the applied position: {source}", path.display())]
    Applied {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    /// A damaged line hides acknowledged opt-outs: the operator decides (README
    /// "Recipients").
    #[error(
        "one-click log {}: damaged: byte {byte} is unreadable but opt-out {seq} follows it; \
         move the file aside to start without it",
        path.display()
    )]
    Damaged {
        path: PathBuf,
        byte: usize,
        seq: u64,
    },
}

/// The most opt-outs committed in one transaction (direct mode) or applied in one
/// transaction (logged mode).
pub const MAX_BATCH: usize = 256;
/// The most opt-outs appended with one fsync.
const LOG_BATCH: usize = 1024;
/// Acknowledged but unapplied opt-outs held at most (about 150 bytes each); past this,
/// new ones wait for the applier.
pub const MAX_BACKLOG: u64 = 500_000;
/// The log starts again from its beginning when everything in it is applied and it has
/// grown past this.
const RESTART_AT: u64 = 4 << 20;
/// The file is written full of zeros ahead of the records, so that an append overwrites
/// allocated blocks in place and its fsync flushes only data, never the inode: this much
/// at start, and this much more whenever the records reach the end.
const INITIAL_SIZE: u64 = 32 << 20;
const GROW_BY: u64 = 16 << 20;

/// The log file of a SQLite database file.
pub fn log_path(database: &Path) -> PathBuf {
    let mut s = database.as_os_str().to_owned();
    s.push("-oneclick.log");
    PathBuf::from(s)
}

impl Log {
    /// Opens the log file at `path`: takes its lock (one process per database; in one
    /// process, stores on the same database share the log), applies what an earlier run
    /// acknowledged but did not apply, and starts the log writer (a thread: appends and
    /// fsyncs block) and the applier task.
    pub async fn open(
        pools: Pools,
        pending: Arc<Pending>,
        path: &Path,
    ) -> Result<Arc<Self>, OneClickLogError> {
        let mut open = OPEN.lock().await;
        open.retain(|(_, log)| log.strong_count() > 0);
        if let Some(log) = open
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, log)| log.upgrade())
        {
            return Ok(log);
        }
        let log = Arc::new(Self::open_file(pools, pending, path).await?);
        open.push((path.to_owned(), Arc::downgrade(&log)));
        Ok(log)
    }

    async fn open_file(
        pools: Pools,
        pending: Arc<Pending>,
        path: &Path,
    ) -> Result<Self, OneClickLogError> {
        let fail = |what: &'static str| {
            move |source: std::io::Error| OneClickLogError::Io {
                path: path.to_owned(),
                what,
                source,
            }
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(fail("cannot open"))?;
        lock(&file).await.map_err(fail("cannot lock"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(fail("cannot read"))?;
        // Past the last valid record: zeros, records already applied before the log
        // restarted from its beginning, or a torn record (never acknowledged). The next
        // append overwrites it.
        let (records, valid) = parse(&bytes);
        let size = (bytes.len() as u64).max(INITIAL_SIZE);
        if size > bytes.len() as u64 {
            use std::os::unix::fs::FileExt;
            let zeros = vec![0u8; (size - bytes.len() as u64) as usize];
            file.write_all_at(&zeros, bytes.len() as u64)
                .and_then(|_| file.sync_all())
                .map_err(fail("cannot grow"))?;
        }
        let applied =
            apply::applied_position(&pools)
                .await
                .map_err(|source| OneClickLogError::Applied {
                    path: path.to_owned(),
                    source,
                })?;
        let last = records
            .iter()
            .map(|r| r.seq)
            .max()
            .unwrap_or(0)
            .max(applied);
        let base = records.last().map_or(applied, |r| r.seq);
        if let Some(seq) = hidden_record(&bytes[valid..], base, applied) {
            // Starting would overwrite them: the operator decides.
            return Err(OneClickLogError::Damaged {
                path: path.to_owned(),
                byte: valid,
                seq,
            });
        }
        pending.start_at(applied);

        let (apply_tx, apply_rx) = mpsc::unbounded_channel::<Logged>();
        tokio::spawn(applier(pools, pending.clone(), apply_rx));
        let replay: Vec<Logged> = records
            .into_iter()
            .filter(|r| r.seq > applied)
            .filter_map(Record::into_logged)
            .collect();
        if !replay.is_empty() {
            tracing::info!(
                opt_outs = replay.len(),
                "one-click log: applying opt-outs acknowledged before the last stop"
            );
            pending.acknowledged(replay.iter().map(Logged::key));
            for l in replay {
                let _ = apply_tx.send(l);
            }
        }

        let (tx, rx) = mpsc::channel::<Job>(4 * LOG_BATCH);
        let writer = Writer {
            file,
            pos: valid as u64,
            size,
            next: last + 1,
            pending: pending.clone(),
            apply_tx,
        };
        std::thread::Builder::new()
            .name("one-click-log".into())
            .spawn(move || writer.run(rx))
            .map_err(fail("cannot start the writer"))?;
        Ok(Self { tx, pending })
    }
}

/// The logs open in this process.
static OPEN: tokio::sync::Mutex<Vec<(PathBuf, Weak<Log>)>> =
    tokio::sync::Mutex::const_new(Vec::new());

/// Takes the log's exclusive lock, waiting a little for a server of this process that is
/// still shutting down (tests restart servers on one database).
async fn lock(file: &std::fs::File) -> std::io::Result<()> {
    for _ in 0..30 {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "another optbox server is using this database",
    ))
}

/// An opt-out in the log: what is needed to apply it again after a restart. The writer
/// serializes it borrowing from the opt-out; records read back own their strings.
#[derive(Debug, Serialize, Deserialize)]
struct Record<'a> {
    seq: u64,
    /// The first sequence number of the batch it was written (and fsynced) with.
    first: u64,
    list: i64,
    /// The address hash, base64url.
    hash: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topic: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ua: Option<Cow<'a, str>>,
    /// The send record whose link was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    send: Option<i64>,
    /// The HTTP request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    req: Option<Cow<'a, str>>,
}

/// An acknowledged opt-out on its way to the tables.
struct Logged {
    seq: u64,
    list: i64,
    hash: Vec<u8>,
    topic: Option<TopicName>,
    audit: Audit,
}

impl Logged {
    fn key(&self) -> (i64, &[u8], u64) {
        (self.list, &self.hash, self.seq)
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Record<'_> {
    fn into_logged(self) -> Option<Logged> {
        let hash = B64.decode(self.hash.as_bytes()).ok()?;
        let topic = match self.topic {
            Some(t) => Some(TopicName::parse(&t).ok()?),
            None => None,
        };
        Some(Logged {
            seq: self.seq,
            list: self.list,
            hash,
            topic,
            audit: Audit {
                ip_hash: self.ip.map(Cow::into_owned),
                user_agent: self.ua.map(Cow::into_owned),
                send_id: self.send,
                request_id: self.req.map(Cow::into_owned),
                ..Audit::new(Source::UnsubscribeHeader)
            },
        })
    }
}

/// One line per record: [`checksum`] of the JSON, a space, the JSON. The JSON is written
/// in place and the checksum filled in before it.
fn append_line(buf: &mut Vec<u8>, r: &Record<'_>) {
    let start = buf.len();
    buf.extend_from_slice(&[b' '; 17]);
    serde_json::to_writer(&mut *buf, r).expect("a record serializes");
    let sum = checksum(&buf[start + 17..]);
    buf[start..start + 16].copy_from_slice(&sum);
    buf.push(b'\n');
}

/// 16 hex digits of the SHA-256 of a record's JSON.
fn checksum(json: &[u8]) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let sum = Sha256::digest(json);
    let mut out = [0u8; 16];
    for (k, b) in sum[..8].iter().enumerate() {
        out[2 * k] = HEX[(b >> 4) as usize];
        out[2 * k + 1] = HEX[(b & 15) as usize];
    }
    out
}

/// The record of one line (without its newline), if its checksum holds.
fn record_of(line: &[u8]) -> Option<Record<'static>> {
    let (sum, json) = (line.get(..16)?, line.get(17..)?);
    if sum != checksum(json) || line.get(16) != Some(&b' ') {
        return None;
    }
    serde_json::from_slice(json).ok()
}

/// The records of a log, in order, up to the first line that is torn, fails its checksum
/// or does not follow in sequence; and the length of that valid prefix.
fn parse(bytes: &[u8]) -> (Vec<Record<'static>>, usize) {
    let mut out: Vec<Record<'static>> = Vec::new();
    let mut pos = 0;
    while let Some(n) = bytes[pos..].iter().position(|&b| b == b'\n') {
        match record_of(&bytes[pos..pos + n]) {
            Some(r) if out.last().is_none_or(|p| r.seq > p.seq) => {
                out.push(r);
                pos += n + 1;
            }
            _ => break,
        }
    }
    (out, pos)
}

/// Whether `bytes`, a copy of a log read while its writer may be appending, is whole: no
/// record of a later batch hides behind a line the copy caught half-written. The number
/// of its records is returned when it is.
pub fn whole_copy(bytes: &[u8]) -> Option<usize> {
    let (records, valid) = parse(bytes);
    let base = records.last().map_or(0, |r| r.seq);
    match hidden_record(&bytes[valid..], base, 0) {
        Some(_) => None,
        None => Some(records.len()),
    }
}

/// After the valid prefix there may be zeros, records applied before the log started
/// again from its beginning (numbered at most `applied`), or the rest of a batch whose
/// write a crash tore (never acknowledged: its fsync did not return). A whole record of
/// a *later* batch there means a damaged line hides acknowledged opt-outs: its number.
/// `base`: the last valid record's number, or `applied` when there is none.
fn hidden_record(rest: &[u8], base: u64, applied: u64) -> Option<u64> {
    rest.split(|&b| b == b'\n')
        .filter_map(record_of)
        .find(|r| r.seq > base.max(applied) && r.first > base + 1)
        .map(|r| r.seq)
}

/// The log's single writer, on a thread of its own. Records are written at `pos`, in
/// place over zeros (or over records already applied): the file only grows by
/// [`GROW_BY`] at a time. A reader of the file stops at the first line that is not a
/// valid record with a higher sequence number than the one before, so whatever follows
/// the last record written is never taken for one.
struct Writer {
    file: std::fs::File,
    /// Where the next record goes: the end of the valid records.
    pos: u64,
    /// The file's size.
    size: u64,
    next: u64,
    pending: Arc<Pending>,
    apply_tx: mpsc::UnboundedSender<Logged>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs: Vec<Job> = Vec::with_capacity(LOG_BATCH);
        let mut buf: Vec<u8> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            jobs.push(first);
            while jobs.len() < LOG_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            // Back-pressure: the applier is far behind.
            while self.pending.backlog() >= MAX_BACKLOG && !self.apply_tx.is_closed() {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let result = self.append(&jobs, &mut buf);
            for (k, (item, reply)) in jobs.drain(..).enumerate() {
                match &result {
                    Ok(first_seq) => {
                        let _ = self.apply_tx.send(Logged {
                            seq: first_seq + k as u64,
                            list: item.list.id,
                            hash: item.hash,
                            topic: item.topic,
                            audit: item.audit,
                        });
                        let _ = reply.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// Appends the jobs' records and fsyncs; on success they are registered as pending
    /// and the first sequence number is returned.
    fn append(&mut self, jobs: &[Job], buf: &mut Vec<u8>) -> Result<u64, StoreError> {
        fn unavailable<E>(what: &'static str) -> impl FnOnce(E) -> StoreError
        where
            E: std::error::Error + Send + Sync + 'static,
        {
            move |e| {
                tracing::error!(error = %e, "one-click log: {what}");
                StoreError::Unavailable(Unavailable::Log {
                    what,
                    source: Arc::new(e),
                })
            }
        }
        use std::os::unix::fs::FileExt;
        if self.apply_tx.is_closed() {
            return Err(StoreError::Unavailable(Unavailable::LogClosed));
        }
        if self.pos >= RESTART_AT && self.pending.applied_seq() + 1 >= self.next {
            // Everything in the file is applied (and recorded as such in the database):
            // start again from the beginning; the old records behind have lower numbers.
            self.pos = 0;
        }
        buf.clear();
        for (k, (item, _)) in jobs.iter().enumerate() {
            let mut hash = [0u8; 64];
            let n = B64
                .encode_slice(&item.hash, &mut hash)
                .map_err(unavailable("cannot encode an address hash"))?;
            append_line(
                buf,
                &Record {
                    seq: self.next + k as u64,
                    first: self.next,
                    list: item.list.id,
                    hash: Cow::Borrowed(std::str::from_utf8(&hash[..n]).expect("base64 is ASCII")),
                    topic: item.topic.as_ref().map(|t| Cow::Borrowed(t.as_str())),
                    ip: item.audit.ip_hash.as_deref().map(Cow::Borrowed),
                    ua: item.audit.user_agent.as_deref().map(Cow::Borrowed),
                    send: item.audit.send_id,
                    req: item.audit.request_id.as_deref().map(Cow::Borrowed),
                },
            );
        }
        let end = self.pos + buf.len() as u64;
        if end > self.size {
            let size = end.div_ceil(GROW_BY) * GROW_BY;
            let zeros = vec![0u8; (size - self.size) as usize];
            self.file
                .write_all_at(&zeros, self.size)
                .and_then(|_| self.file.sync_all())
                .map_err(unavailable("cannot grow the file"))?;
            self.size = size;
        }
        // A failed write leaves `pos` where it was: the next one overwrites the debris.
        self.file
            .write_all_at(buf, self.pos)
            .and_then(|_| self.file.sync_data())
            .map_err(unavailable("cannot write"))?;
        self.pos = end;
        let first = self.next;
        self.next += jobs.len() as u64;
        self.pending.acknowledged(
            jobs.iter()
                .enumerate()
                .map(|(k, (item, _))| (item.list.id, item.hash.as_slice(), first + k as u64)),
        );
        Ok(first)
    }
}

/// Applies the log to the tables, in order, a batch per transaction; retries a batch that
/// fails as a whole (database unavailable) until it succeeds, so nothing acknowledged is
/// dropped.
///
/// During a burst the front comes first. While opt-outs are acknowledged faster than
/// [`BUSY_RATE`] a second, nobody waits for the applier and the backlog is below half of
/// [`MAX_BACKLOG`], it holds off altogether and marks the store [`Pending::quiet`], so the
/// WAL checkpointer waits too: then the log's fsyncs have the disk to themselves. (At an
/// eighth of the time, the applier's and the checkpointer's writes sat in front of the
/// log's fdatasync often enough to set the POSTs' p99.)
/// Past half the backlog it works an eighth of the time (it sleeps seven times as long
/// as each batch took); a waiting reader gets it working at full speed at once, and so
/// does the end of the burst.
async fn applier(pools: Pools, pending: Arc<Pending>, mut rx: mpsc::UnboundedReceiver<Logged>) {
    use std::time::{Duration, Instant};
    let mut batch: Vec<Logged> = Vec::with_capacity(MAX_BATCH);
    let mut rate = Rate::new(pending.written_seq());
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        while hold_off(
            rate.per_second(pending.written_seq()),
            pending.waiters(),
            pending.backlog(),
        ) {
            pending.set_quiet(true);
            tokio::time::sleep(HOLD_OFF_FOR).await;
        }
        pending.set_quiet(false);
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        while let Err(e) = apply(&pools, &batch).await {
            tracing::error!(error = %e, "one-click log: applying a batch failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        let took = started.elapsed();
        let upto = batch.last().map_or(0, |l| l.seq);
        pending.applied(batch.iter().map(Logged::key), upto);
        batch.clear();

        if rate.per_second(pending.written_seq()) > BUSY_RATE
            && pending.waiters() == 0
            && !rx.is_empty()
        {
            tokio::time::sleep(took * 7).await;
        }
    }
}

/// Opt-outs acknowledged per second above which the applier yields to the front: just
/// below the applier's own pace (`docs/performance.md`, "One-click POST"), so that it
/// yields only in a burst it could not keep up with anyway; up to here it keeps the
/// events, and their webhooks, within a second of the POST.
const BUSY_RATE: f64 = 5000.0;
/// How long the applier sleeps between looks while it holds off.
const HOLD_OFF_FOR: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether the applier holds off: see [`applier`].
fn hold_off(rate: f64, waiters: usize, backlog: u64) -> bool {
    rate > BUSY_RATE && waiters == 0 && backlog < MAX_BACKLOG / 2
}

/// The acknowledgement rate since the last look.
struct Rate {
    at: std::time::Instant,
    seq: u64,
}

impl Rate {
    fn new(seq: u64) -> Self {
        Self {
            at: std::time::Instant::now(),
            seq,
        }
    }

    fn per_second(&mut self, seq: u64) -> f64 {
        let now = std::time::Instant::now();
        let r = seq.saturating_sub(self.seq) as f64 / (now - self.at).as_secs_f64().max(1e-3);
        (self.at, self.seq) = (now, seq);
        r
    }
}

/// Applies one batch of the log, and records how far the log is applied, in one
/// transaction.
async fn apply(pools: &Pools, batch: &[Logged]) -> Result<(), StoreError> {
    let mut lists: HashMap<i64, Option<Arc<ContactList>>> = HashMap::new();
    for l in batch {
        if let std::collections::hash_map::Entry::Vacant(slot) = lists.entry(l.list) {
            slot.insert(match super::super::lists::by_id(pools, l.list).await {
                Ok(list) => Some(Arc::new(list)),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            });
        }
    }
    let items: Vec<OptOut> = batch
        .iter()
        .filter_map(|l| {
            Some(OptOut {
                list: lists.get(&l.list)?.clone()?,
                hash: l.hash.clone(),
                topic: l.topic.clone(),
                audit: l.audit.clone(),
            })
        })
        .collect();
    if items.len() < batch.len() {
        tracing::warn!(
            dropped = batch.len() - items.len(),
            "one-click log: opt-outs for lists deleted since"
        );
    }
    let results = apply::apply(pools, &items, batch.last().map(|l| l.seq)).await?;
    for (item, r) in items.iter().zip(results) {
        if let Err(e) = r {
            tracing::warn!(list = %item.list.name, error = %e, "one-click log: an opt-out could not be applied");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> Record<'static> {
        Record {
            seq,
            first: seq,
            list: 1,
            hash: B64.encode([7u8; 16]).into(),
            topic: Some("news".into()),
            ip: None,
            ua: Some("mail client".into()),
            send: Some(42),
            req: Some("req-1".into()),
        }
    }

    #[test]
    fn the_applier_holds_off_only_in_a_burst_nobody_waits_for() {
        let half = MAX_BACKLOG / 2;
        assert!(hold_off(BUSY_RATE * 10.0, 0, 1));
        assert!(hold_off(BUSY_RATE * 10.0, 0, half - 1));
        // The burst is over.
        assert!(!hold_off(BUSY_RATE / 2.0, 0, 1));
        // A reader waits for an opt-out.
        assert!(!hold_off(BUSY_RATE * 10.0, 1, 1));
        // The backlog is at half its bound: an eighth of the time instead.
        assert!(!hold_off(BUSY_RATE * 10.0, 0, half));
    }

    #[test]
    fn parse_stops_at_a_torn_or_corrupt_line() {
        let mut buf = Vec::new();
        for s in 1..=3 {
            append_line(&mut buf, &record(s));
        }
        let whole = buf.len();
        let (rs, valid) = parse(&buf);
        assert_eq!((rs.len(), valid), (3, whole));
        // A torn last record (no newline yet).
        let mut torn = buf.clone();
        append_line(&mut torn, &record(4));
        torn.pop();
        torn.truncate(torn.len() - 5);
        assert_eq!(parse(&torn).1, whole);
        // A flipped byte fails the checksum; what follows is not trusted.
        let mut bad = buf.clone();
        let second = bad.iter().position(|&b| b == b'\n').unwrap() + 30;
        bad[second] ^= 1;
        let (rs, _) = parse(&bad);
        assert_eq!(rs.len(), 1);
        // Out of sequence.
        let mut back = buf.clone();
        append_line(&mut back, &record(2));
        assert_eq!(parse(&back).0.len(), 3);
    }

    #[test]
    fn a_whole_record_behind_a_damaged_one_is_found() {
        let mut buf = Vec::new();
        for s in 1..=3 {
            append_line(&mut buf, &record(s));
        }
        let second = buf.iter().position(|&b| b == b'\n').unwrap() + 30;
        buf[second] ^= 1;
        let (rs, valid) = parse(&buf);
        assert_eq!(rs.len(), 1);
        assert_eq!(hidden_record(&buf[valid..], 1, 0), Some(3));
        // Older records behind (the log started again from its beginning) are not.
        assert_eq!(hidden_record(&buf[valid..], 1, 3), None);
        assert_eq!(hidden_record(&[0u8; 64], 0, 0), None);
        // The rest of a torn batch (2 and 3 written together, never acknowledged) is not.
        let mut torn = Vec::new();
        append_line(&mut torn, &record(1));
        let cut = torn.len();
        for s in 2..=3 {
            append_line(
                &mut torn,
                &Record {
                    first: 2,
                    ..record(s)
                },
            );
        }
        torn[cut + 30] ^= 1;
        let (rs, valid) = parse(&torn);
        assert_eq!((rs.len(), valid), (1, cut));
        assert_eq!(hidden_record(&torn[valid..], 1, 0), None);
    }
}
