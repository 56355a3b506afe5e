//! Bulk import and export of contacts, streamed: a blocking parser thread turns the file
//! into batches while the store applies the previous batch, so memory stays flat and
//! parsing overlaps writing.
//!
//! Formats (SES `CreateImportJob` and what operators have at hand):
//! - SES CSV: `emailAddress,unsubscribeAll,attributesData,topicPreferences.<Topic>,…`;
//! - a simple CSV with one `email` column (with or without that header);
//! - JSON lines: `{"emailAddress", "unsubscribeAll", "attributesData",
//!   "topicPreferences": [{"topicName", "subscriptionStatus"}]}`.
//!
//! Empty cells and absent members leave an existing contact's value as it is.
//!
//! Here: jobs and their orchestration (prepare, execute, apply the batches); the file
//! formats in [`parse`]; [`export`] writes a list back out.

mod export;
mod parse;

use super::{ServiceError, ServiceResult, lists};
use crate::domain::ContactList;
use crate::server::store::{
    Audit, BatchProgress, ImportAction, ImportCounts, ImportDestination, ImportJob, ImportRow,
    JobStatus, Predecessor, Store,
};
pub use export::export;
use futures_util::stream::{FuturesOrdered, StreamExt};
pub(super) use parse::{csv_reader, each_json_line, json_line, row_length};
use parse::{parse_csv, parse_jsonl};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The number of lines of an upload, kept next to it so the progress page can show a
/// fraction (`lines_done` of the job against this) while the job runs.
pub fn lines_sidecar(path: &std::path::Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lines");
    p.into()
}

/// Rows per transaction. On SQLite a batch's cost is mostly rewriting the leaf pages of
/// the address-hash index, which rows reach in random order, so a larger batch rewrites
/// each page for more rows (a million rows in batches of 60,000 write about half the
/// blocks they write in batches of 20,000); the write lock it holds for about a second
/// delays other writes, but not one-click POSTs, which are answered from the one-click
/// log.
pub fn batch_rows(backend: crate::server::store::Backend) -> usize {
    match backend {
        crate::server::store::Backend::Sqlite => 60_000,
        crate::server::store::Backend::Postgres => 20_000,
    }
}
/// A longer row is refused (and reported) rather than imported.
pub const MAX_ROW_BYTES: usize = 1 << 20;
/// Contacts per export page.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
    /// From the file name: `.jsonl`, `.ndjson` and `.json` are JSON lines, the rest CSV.
    pub fn from_path(p: &Path) -> Self {
        match p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "jsonl" || e == "ndjson" || e == "json" => Format::Jsonl,
            _ => Format::Csv,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Jsonl => "JSON",
        }
    }
}

/// An invalid row: reported, never imported, never stopping the good rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// The report of invalid rows, a `line,reason` CSV created on the first one and
/// written through, so it is complete whenever the job is seen to have finished.
pub struct FailureReport {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    count: u64,
    error: Option<String>,
}

impl FailureReport {
    /// `append`: add to a report an earlier run of the same job left (a resumed job);
    /// otherwise an old report is removed, since it would mislead.
    pub fn new(path: PathBuf, append: bool) -> Self {
        if !append {
            let _ = std::fs::remove_file(&path);
        }
        Self {
            path,
            file: None,
            count: 0,
            error: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Invalid rows seen, and why the report could not be written (if it could not).
    pub fn outcome(&self) -> (u64, Option<&str>) {
        (self.count, self.error.as_deref())
    }

    pub fn write(&mut self, e: &RowError) {
        self.count += 1;
        if self.file.is_none() && self.error.is_none() {
            match self.open() {
                Ok(w) => self.file = Some(w),
                Err(err) => self.error = Some(err.to_string()),
            }
        }
        if let Some(w) = &mut self.file {
            let reason = e.reason.replace('"', "\"\"");
            let _ = writeln!(w, "{},\"{reason}\"", e.line).and_then(|()| w.flush());
        }
    }

    fn open(&self) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let fresh = !self.path.exists();
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut w = std::io::BufWriter::new(f);
        if fresh {
            w.write_all(b"line,reason\n")?;
        }
        Ok(w)
    }
}

/// An import job by id.
pub async fn job(store: &dyn Store, job_id: &str) -> ServiceResult<ImportJob> {
    store.get_import_job(job_id).await.map_err(|e| match e {
        crate::server::store::StoreError::NotFound => {
            ServiceError::NotFound(format!("Import job {job_id} does not exist."))
        }
        other => other.into(),
    })
}

/// Import jobs (of one destination, or all), newest first, each with its keyset cursor.
pub async fn jobs(
    store: &dyn Store,
    destination: Option<ImportDestination>,
    before: Option<i64>,
    limit: u32,
) -> ServiceResult<Vec<(i64, ImportJob)>> {
    Ok(store.list_import_jobs(destination, before, limit).await?)
}

/// What the parser hands the writer.
#[derive(Debug, Default)]
struct Batch {
    rows: Vec<ImportRow>,
    errors: Vec<RowError>,
    last_line: u64,
    /// Some address of this batch is also in the batch before it: this one is applied
    /// only after that one has committed.
    overlaps_previous: bool,
}

/// What an import asks for.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub list: String,
    pub path: PathBuf,
    pub format: Option<Format>,
    pub action: ImportAction,
    pub override_opt_outs: bool,
}

/// Progress after each committed batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub bytes: u64,
    pub total_bytes: u64,
    pub counts: ImportCounts,
    pub failed: u64,
}

#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub job: ImportJob,
    /// The line after which a previous, interrupted run of the same job was resumed.
    pub resumed_after: Option<i64>,
}

fn bad(m: impl Into<String>) -> ServiceError {
    ServiceError::BadRequest(m.into())
}

/// A job ready to run: created, or an unfinished one found to resume.
pub struct Prepared {
    pub job: ImportJob,
    /// The line after which a previous, interrupted run stopped.
    pub resumed_after: Option<i64>,
    list: crate::domain::ContactList,
    file: std::fs::File,
    size: u64,
    format: Format,
}

/// A job whose last committed batch is older than this may be claimed by another
/// process (its runner is presumed dead).
pub const STALE_AFTER_MS: i64 = 60_000;

/// Opens an import's file: the file, its size, and where it is (the canonical path) —
/// a job is resumed only for the same source of the same size.
pub(super) fn open_source(path: &Path) -> ServiceResult<(std::fs::File, u64, String)> {
    let unreadable = |e: std::io::Error| bad(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(bad(format!("{} is a directory", path.display())));
    }
    let source = std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string();
    Ok((file, meta.len(), source))
}

/// Checks the list and the file and creates the job — or finds an unfinished job for
/// the same list, action, file (same path and size), format and override flag, to be
/// resumed where it stopped.
pub async fn prepare(store: &dyn Store, req: &ImportRequest) -> ServiceResult<Prepared> {
    let list = lists::get(store, &req.list).await?;
    let (file, size, source) = open_source(&req.path)?;
    let format = req.format.unwrap_or_else(|| Format::from_path(&req.path));
    let resumable = store
        .resumable_import(list.name.as_str(), req.action, &source, size as i64)
        .await?
        .filter(|j| j.override_opt_outs == req.override_opt_outs && j.format == format.as_str());
    let (job, resumed_after) = resume_or_create(
        store,
        resumable,
        NewJob {
            destination: ImportDestination::ContactList,
            list_name: list.name.as_str().to_owned(),
            action: req.action,
            format: format.as_str(),
            source,
            source_size: size as i64,
            override_opt_outs: req.override_opt_outs,
        },
    )
    .await?;
    Ok(Prepared {
        job,
        resumed_after,
        list,
        file,
        size,
        format,
    })
}

/// Runs a prepared job to the end. Refused while another process is running it.
pub async fn execute(
    store: &dyn Store,
    p: Prepared,
    audit: &Audit,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
    on_error: &mut (dyn FnMut(&RowError) + Send),
) -> ServiceResult<ImportOutcome> {
    let Prepared {
        job,
        resumed_after,
        list,
        file,
        size,
        format,
    } = p;
    let audit = &claim(store, &job, audit).await?;
    let outcome = apply(
        store,
        &list,
        &job,
        Box::new(file),
        format,
        size,
        resumed_after.unwrap_or(0) as u64,
        audit,
        on_progress,
        on_error,
    )
    .await;
    let finished = finish(store, &job, &outcome, audit).await?;
    outcome.map(|()| ImportOutcome {
        job: finished,
        resumed_after,
    })
}

/// Claims a job for this process (refused while another process is running it), and
/// answers the audit of what the job changes: the job did it, so its events name it.
pub(super) async fn claim(
    store: &dyn Store,
    job: &ImportJob,
    audit: &Audit,
) -> ServiceResult<Audit> {
    let stale_before = crate::server::store::now_ms() - STALE_AFTER_MS;
    let me = format!("{}:{}", host_name(), std::process::id());
    let dead_owner = job
        .claimed_by
        .as_deref()
        .filter(|owner| owner_is_dead(owner));
    if !store
        .claim_import_job(&job.job_id, &me, stale_before, dead_owner)
        .await?
    {
        return Err(ServiceError::AlreadyExists(format!(
            "import job {} is being run by another process; try again when it has finished",
            job.job_id
        )));
    }
    Ok(Audit {
        actor: crate::domain::Actor::Import,
        actor_id: Some(job.job_id.clone()),
        ..audit.clone()
    })
}

/// Records how a claimed job ended: completed, or failed with the error (an internal one
/// logged with its causes); answers the job as recorded.
pub(super) async fn finish(
    store: &dyn Store,
    job: &ImportJob,
    outcome: &ServiceResult<()>,
    audit: &Audit,
) -> ServiceResult<ImportJob> {
    Ok(match outcome {
        Ok(()) => {
            store
                .finish_import_job(&job.job_id, JobStatus::Completed, None, audit)
                .await?
        }
        Err(e) => {
            if matches!(e, ServiceError::Internal(_) | ServiceError::Unavailable(_)) {
                tracing::error!(
                    job = %job.job_id,
                    destination = job.destination.as_str(),
                    error = %e.detail(),
                    "import failed"
                );
            }
            let msg = e.to_string();
            store
                .finish_import_job(&job.job_id, JobStatus::Failed, Some(&msg), audit)
                .await?
        }
    })
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// A claimant on this host whose process is gone (Linux: no `/proc/PID`). Claimants on
/// other hosts are only presumed dead when their heartbeat is stale.
fn owner_is_dead(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else {
        return false;
    };
    host == host_name()
        && Path::new("/proc/self").exists()
        && pid
            .parse::<u32>()
            .is_ok_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists())
}

/// Runs an import of a local file to the end: [`prepare`] then [`execute`].
pub async fn run(
    store: &dyn Store,
    req: &ImportRequest,
    audit: &Audit,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
    on_error: &mut (dyn FnMut(&RowError) + Send),
) -> ServiceResult<ImportOutcome> {
    let p = prepare(store, req).await?;
    execute(store, p, audit, on_progress, on_error).await
}

/// What a new import job is: where to, what, from where.
pub(super) struct NewJob {
    pub destination: ImportDestination,
    pub list_name: String,
    pub action: ImportAction,
    pub format: &'static str,
    pub source: String,
    pub source_size: i64,
    pub override_opt_outs: bool,
}

/// The job to run: `resumable`, with the last line its batches committed, or else a new
/// job as `new` describes it, created in the store with nothing done yet.
pub(super) async fn resume_or_create(
    store: &dyn Store,
    resumable: Option<ImportJob>,
    new: NewJob,
) -> ServiceResult<(ImportJob, Option<i64>)> {
    if let Some(j) = resumable {
        let after = j.lines_done;
        return Ok((j, Some(after)));
    }
    let job = ImportJob {
        job_id: new_job_id(),
        destination: new.destination,
        list_name: new.list_name,
        action: new.action,
        format: new.format.to_owned(),
        source: new.source,
        source_size: new.source_size,
        override_opt_outs: new.override_opt_outs,
        status: JobStatus::Created,
        lines_done: 0,
        counts: ImportCounts::default(),
        failed: 0,
        error: None,
        created_at: crate::server::store::now_ms(),
        completed_at: None,
        claimed_by: None,
    };
    store.create_import_job(&job).await?;
    Ok((job, None))
}

fn new_job_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    crate::server::hex::encode(&b)
}

struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    store: &dyn Store,
    list: &ContactList,
    job: &ImportJob,
    input: Box<dyn Read + Send>,
    format: Format,
    total_bytes: u64,
    skip_through: u64,
    audit: &Audit,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
    on_error: &mut (dyn FnMut(&RowError) + Send),
) -> ServiceResult<()> {
    let read = Arc::new(AtomicU64::new(0));
    let reader = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: input,
            n: read.clone(),
        },
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Batch, String>>(2);
    let parse_list = list.clone();
    let limit = batch_rows(store.backend());
    let parser = tokio::task::spawn_blocking(move || {
        let send = |b: Result<Batch, String>| tx.blocking_send(b).is_ok();
        let r = match format {
            Format::Csv => parse_csv(reader, &parse_list, skip_through, limit, &send),
            Format::Jsonl => parse_jsonl(reader, &parse_list, skip_through, limit, &send),
        };
        if let Err(e) = r {
            send(Err(e));
        }
    });
    let lanes = import_lanes(store.backend());
    let mut counts = job.counts;
    let mut failed = job.failed as u64;
    let mut result = Ok(());
    // Batches being applied, oldest first: each is one transaction, and each commits only
    // after the one before it (`BatchProgress::after_line`).
    let mut in_flight = FuturesOrdered::new();
    let mut sent = 0u64;
    let mut after_line = skip_through;
    let mut previous = Arc::new(Predecessor::default());
    // A received batch that has to wait for room.
    let mut waiting: Option<Batch> = None;
    let mut input_open = true;
    loop {
        if let Some(b) = waiting.take() {
            // The first batch goes alone (the statistics taken after it steer the look-ups
            // of the rest), and so does one that shares an address with the batch before
            // it, which must see that one's result.
            let alone = sent == 0 || b.overlaps_previous;
            if in_flight.is_empty() || (in_flight.len() < lanes && !alone) {
                sent += 1;
                // The batch still being applied, if any, commits first.
                let before = (!in_flight.is_empty()).then(|| previous.clone());
                let mine = Arc::new(Predecessor::default());
                previous = mine.clone();
                let (from, seq) = (after_line, sent);
                after_line = b.last_line;
                in_flight.push_back(async move {
                    let progress = BatchProgress {
                        job_id: &job.job_id,
                        after_line: from,
                        lines_done: b.last_line,
                        failed: b.errors.len() as u64,
                        after_batch: before.as_deref(),
                    };
                    let c = store
                        .import_batch(
                            list,
                            job.action,
                            &b.rows,
                            job.override_opt_outs,
                            audit,
                            Some(progress),
                        )
                        .await;
                    mine.settle(c.is_ok());
                    let c = c?;
                    // Statistics for a list that grows from empty: after 1, 4, 16, 64, …
                    // batches.
                    if seq.is_power_of_two() && seq.trailing_zeros().is_multiple_of(2) {
                        store.refresh_statistics().await?;
                    }
                    Ok::<_, crate::server::store::StoreError>((c, b.errors.len() as u64))
                });
                continue;
            }
            waiting = Some(b);
        }
        if !input_open && waiting.is_none() && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            done = in_flight.next(), if !in_flight.is_empty() => match done {
                Some(Ok((c, bad_rows))) => {
                    counts.add(&c);
                    failed += bad_rows;
                    on_progress(&Progress {
                        bytes: read.load(Ordering::Relaxed),
                        total_bytes,
                        counts,
                        failed,
                    });
                }
                Some(Err(e)) => {
                    // The batches after it roll back (their predecessor never committed).
                    if result.is_ok() {
                        result = Err(e.into());
                    }
                    input_open = false;
                    waiting = None;
                }
                None => {}
            },
            msg = rx.recv(), if input_open && waiting.is_none() && result.is_ok() => match msg {
                Some(Ok(b)) => {
                    for e in &b.errors {
                        on_error(e);
                    }
                    waiting = Some(b);
                }
                Some(Err(e)) => {
                    result = Err(bad(e));
                    input_open = false;
                }
                None => input_open = false,
            },
        }
    }
    drop(in_flight);
    drop(rx);
    let _ = parser.await;
    result
}

/// Batches applied side by side. PostgreSQL spends an import batch's time in one backend
/// process, mostly inserting index entries, so a second batch on a second connection
/// runs beside it; SQLite has one writer. At most two: a batch is checked for
/// addresses shared with the one batch before it (`Batch::overlaps_previous`).
pub fn import_lanes(backend: crate::server::store::Backend) -> usize {
    match backend {
        crate::server::store::Backend::Sqlite => 1,
        crate::server::store::Backend::Postgres => 2,
    }
}
