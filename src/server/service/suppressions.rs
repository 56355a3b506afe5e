//! The account suppression list (SES v2's): addresses no message is delivered to. Put,
//! get, delete and list for the SES API and the dashboard, and suppression-list import
//! jobs (CSV with the columns `emailAddress,reason`, or JSON lines with those keys).
//!
//! Addresses are kept lower-cased: an entry matches the address in any case. Every
//! change writes its event in its transaction: `suppression.put` or
//! `suppression.delete`, detail `{"email", "reason", "why"?}`.

use super::import::{self, Format, RowError};
use super::{ServiceError, ServiceResult};
use crate::domain::{EmailAddress, SuppressionReason};
use crate::server::store::{
    Audit, BatchProgress, ImportAction, ImportDestination, ImportJob, MailEvent, NewSuppression,
    Store, Suppression, SuppressionQuery,
};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::PathBuf;

/// Most entries one page of a listing returns (SES's `PageSize` maximum).
pub const MAX_PAGE: u32 = 1000;

/// Rows per transaction of an import job.
const IMPORT_BATCH: usize = 1000;

/// An address as the suppression list keys it: valid, then lower-cased.
pub fn parse_email(s: &str) -> ServiceResult<String> {
    let e = EmailAddress::parse(s).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    Ok(e.as_str().to_lowercase())
}

/// The event of a change to the list.
pub fn event<'a>(
    kind: &'a str,
    email: &'a str,
    reason: SuppressionReason,
    why: Option<&str>,
) -> MailEvent<'a> {
    let mut detail = json!({ "email": email, "reason": reason.as_str() });
    if let Some(w) = why {
        detail["why"] = json!(w);
    }
    MailEvent {
        kind,
        list_name: None,
        topic_name: None,
        contact_email: Some(email),
        detail,
    }
}

fn not_on_list(email: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "Email address {email} does not exist on your suppression list."
    ))
}

/// Puts an address on the list, or gives it a new reason (and time).
pub async fn put(
    store: &dyn Store,
    email: &str,
    reason: SuppressionReason,
    audit: &Audit,
    why: Option<&str>,
) -> ServiceResult<()> {
    let email = parse_email(email)?;
    let row = NewSuppression {
        email: &email,
        reason,
        message_id: None,
        feedback_id: None,
    };
    store
        .put_suppressions(
            std::slice::from_ref(&row),
            audit,
            &[event("suppression.put", &email, reason, why)],
        )
        .await?;
    Ok(())
}

/// One entry; `NotFound` when the address is not on the list.
pub async fn get(store: &dyn Store, email: &str) -> ServiceResult<Suppression> {
    let email = parse_email(email)?;
    store
        .get_suppression(&email)
        .await?
        .ok_or_else(|| not_on_list(&email))
}

/// The entry of an address, if it has one (an invalid address has none).
pub async fn find(store: &dyn Store, email: &str) -> ServiceResult<Option<Suppression>> {
    match parse_email(email) {
        Ok(e) => Ok(store.get_suppression(&e).await?),
        Err(_) => Ok(None),
    }
}

/// Takes an address off the list; `NotFound` when it is not on it.
pub async fn delete(
    store: &dyn Store,
    email: &str,
    audit: &Audit,
    why: Option<&str>,
) -> ServiceResult<()> {
    let email = parse_email(email)?;
    let Some(old) = store.get_suppression(&email).await? else {
        return Err(not_on_list(&email));
    };
    let removed = store
        .delete_suppression(
            &email,
            audit,
            &[event("suppression.delete", &email, old.reason, why)],
        )
        .await?;
    if removed {
        Ok(())
    } else {
        Err(not_on_list(&email))
    }
}

/// A page of the list (newest first) and whether another follows.
pub async fn list(
    store: &dyn Store,
    q: &SuppressionQuery,
) -> ServiceResult<(Vec<Suppression>, bool)> {
    let limit = q.limit.clamp(1, MAX_PAGE);
    let mut q = q.clone();
    q.limit = limit + 1;
    q.search = q
        .search
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let mut rows = store.list_suppressions(&q).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

// ---- import jobs ---------------------------------------------------------------------

/// What a suppression-list import asks for.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub path: PathBuf,
    pub format: Format,
    pub action: ImportAction,
}

/// A job ready to run: created, or an unfinished one found to resume.
pub struct Prepared {
    pub job: ImportJob,
    file: std::fs::File,
    format: Format,
}

fn bad(m: impl Into<String>) -> ServiceError {
    ServiceError::BadRequest(m.into())
}

/// Checks the file and creates the job, or finds an unfinished job of the same action,
/// file (path and size) and format to resume after its last committed batch.
pub async fn prepare_import(store: &dyn Store, req: &ImportRequest) -> ServiceResult<Prepared> {
    let (file, size, source) = import::open_source(&req.path)?;
    let size = size as i64;
    let resumable = store
        .resumable_import("", req.action, &source, size)
        .await?
        .filter(|j| {
            j.destination == ImportDestination::SuppressionList && j.format == req.format.as_str()
        });
    let (job, _) = import::resume_or_create(
        store,
        resumable,
        import::NewJob {
            destination: ImportDestination::SuppressionList,
            list_name: String::new(),
            action: req.action,
            format: req.format.as_str(),
            source,
            source_size: size,
            override_opt_outs: false,
        },
    )
    .await?;
    Ok(Prepared {
        job,
        file,
        format: req.format,
    })
}

/// One valid row of a suppression-list file.
#[derive(Debug, Clone)]
struct Row {
    email: String,
    /// Required for PUT; DELETE ignores it.
    reason: Option<SuppressionReason>,
}

/// What the parser hands the writer.
#[derive(Debug, Default)]
struct Batch {
    rows: Vec<Row>,
    errors: Vec<RowError>,
    last_line: u64,
}

/// Runs a prepared job to the end and returns it finished (COMPLETED, or FAILED with
/// its error). Invalid rows go to `on_error` and never stop the valid ones.
pub async fn execute_import(
    store: &dyn Store,
    p: Prepared,
    audit: &Audit,
    on_error: &mut (dyn FnMut(&RowError) + Send),
) -> ServiceResult<ImportJob> {
    let Prepared { job, file, format } = p;
    let audit = &import::claim(store, &job, audit).await?;
    let outcome = apply(store, &job, file, format, audit, on_error).await;
    let finished = import::finish(store, &job, &outcome, audit).await?;
    outcome.map(|()| finished)
}

async fn apply(
    store: &dyn Store,
    job: &ImportJob,
    file: std::fs::File,
    format: Format,
    audit: &Audit,
    on_error: &mut (dyn FnMut(&RowError) + Send),
) -> ServiceResult<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Batch, String>>(2);
    let skip_through = job.lines_done as u64;
    let action = job.action;
    let parser = tokio::task::spawn_blocking(move || {
        let send = |b: Result<Batch, String>| tx.blocking_send(b).is_ok();
        let reader = BufReader::with_capacity(1 << 16, file);
        let r = match format {
            Format::Csv => parse_csv(reader, action, skip_through, &send),
            Format::Jsonl => parse_jsonl(reader, action, skip_through, &send),
        };
        if let Err(e) = r {
            send(Err(e));
        }
    });
    let mut after_line = skip_through;
    let mut result = Ok(());
    while let Some(msg) = rx.recv().await {
        let b = match msg {
            Ok(b) => b,
            Err(e) => {
                result = Err(bad(e));
                break;
            }
        };
        for e in &b.errors {
            on_error(e);
        }
        let rows: Vec<NewSuppression<'_>> = b
            .rows
            .iter()
            .map(|r| NewSuppression {
                email: &r.email,
                // DELETE rows need no reason; the event then names the one it had, or
                // BOUNCE when the file gave none.
                reason: r.reason.unwrap_or(SuppressionReason::Bounce),
                message_id: None,
                feedback_id: None,
            })
            .collect();
        let kind = match action {
            ImportAction::Put => "suppression.put",
            ImportAction::Delete => "suppression.delete",
        };
        // A DELETE event names the reason the address had.
        let had: HashMap<String, SuppressionReason> = if action == ImportAction::Delete {
            let emails: Vec<String> = b.rows.iter().map(|r| r.email.clone()).collect();
            store
                .suppressed_among(&emails)
                .await?
                .into_iter()
                .map(|s| (s.email, s.reason))
                .collect()
        } else {
            HashMap::new()
        };
        let why = format!("import job {}", job.job_id);
        let events: Vec<MailEvent<'_>> = rows
            .iter()
            .map(|r| {
                let reason = had.get(r.email).copied().unwrap_or(r.reason);
                event(kind, r.email, reason, Some(&why))
            })
            .collect();
        let progress = BatchProgress {
            job_id: &job.job_id,
            after_line,
            lines_done: b.last_line,
            failed: b.errors.len() as u64,
            after_batch: None,
        };
        if let Err(e) = store
            .import_suppressions(action, &rows, audit, &events, progress)
            .await
        {
            result = Err(e.into());
            break;
        }
        after_line = b.last_line;
    }
    drop(rx);
    let _ = parser.await;
    result
}

/// Collects rows into batches of [`IMPORT_BATCH`] lines.
struct Batcher<'a> {
    batch: Batch,
    send: &'a dyn Fn(Result<Batch, String>) -> bool,
}

impl Batcher<'_> {
    fn push(&mut self, line: u64, row: Result<Row, String>) -> Result<(), String> {
        match row {
            Ok(r) => self.batch.rows.push(r),
            Err(reason) => self.batch.errors.push(RowError { line, reason }),
        }
        self.batch.last_line = line;
        if self.batch.rows.len() + self.batch.errors.len() >= IMPORT_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        let last = self.batch.last_line;
        let b = std::mem::take(&mut self.batch);
        self.batch.last_line = last;
        if (b.rows.is_empty() && b.errors.is_empty()) || (self.send)(Ok(b)) {
            Ok(())
        } else {
            Err("import cancelled".into())
        }
    }
}

fn row(action: ImportAction, email: &str, reason: &str) -> Result<Row, String> {
    if email.is_empty() {
        return Err("emailAddress is empty".into());
    }
    let email = EmailAddress::parse(email)
        .map_err(|e| e.to_string())?
        .as_str()
        .to_lowercase();
    let reason = match reason.trim() {
        "" if action == ImportAction::Delete => None,
        "" => return Err("reason is empty: it must be BOUNCE or COMPLAINT".into()),
        r => Some(
            SuppressionReason::parse(&r.to_ascii_uppercase())
                .ok_or_else(|| format!("reason must be BOUNCE or COMPLAINT, not \"{r}\""))?,
        ),
    };
    Ok(Row { email, reason })
}

/// CSV: a header naming `emailAddress` (or `email`) and `reason` in any order, or no
/// header when the first cell is an address (then the columns are address, reason).
fn parse_csv<R: Read>(
    reader: R,
    action: ImportAction,
    skip_through: u64,
    send: &dyn Fn(Result<Batch, String>) -> bool,
) -> Result<(), String> {
    let mut rdr = import::csv_reader(reader);
    let blank = |rec: &csv::StringRecord| rec.iter().all(|f| f.trim().is_empty());
    let mut rec = csv::StringRecord::new();
    let first = loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => return Err("the file is empty".into()),
            Ok(true) if blank(&rec) => continue,
            Ok(true) => break rec.clone(),
            Err(e) => return Err(format!("unreadable CSV: {e}")),
        }
    };
    let cell = |i: usize| {
        first
            .get(i)
            .map(|c| c.trim().trim_start_matches('\u{feff}').to_owned())
            .unwrap_or_default()
    };
    let mut batcher = Batcher {
        batch: Batch::default(),
        send,
    };
    let headerless = cell(0).contains('@');
    let (email_col, reason_col) = if headerless {
        (0, Some(1))
    } else {
        let names: Vec<String> = (0..first.len())
            .map(|i| cell(i).to_ascii_lowercase())
            .collect();
        let email = names
            .iter()
            .position(|n| n == "emailaddress" || n == "email" || n == "email_address")
            .ok_or("the header must have an emailAddress column")?;
        let reason = names.iter().position(|n| n == "reason");
        if let Some(unknown) = names
            .iter()
            .find(|n| !["emailaddress", "email", "email_address", "reason"].contains(&n.as_str()))
        {
            return Err(format!(
                "unknown column \"{unknown}\": expected emailAddress and reason"
            ));
        }
        if reason.is_none() && action == ImportAction::Put {
            return Err("the header must have a reason column (BOUNCE or COMPLAINT)".into());
        }
        (email, reason)
    };
    let field = |r: &csv::StringRecord, i: Option<usize>| {
        i.and_then(|i| r.get(i)).unwrap_or("").trim().to_owned()
    };
    let length = |r: &csv::StringRecord| import::row_length(r.as_slice().len());
    if headerless {
        let line = first.position().map_or(1, |p| p.line());
        if line > skip_through {
            let parsed =
                length(&first).and_then(|()| row(action, &cell(0), &field(&first, reason_col)));
            batcher.push(line, parsed)?;
        }
    }
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map_or(0, |p| p.line());
                if line <= skip_through || blank(&rec) {
                    continue;
                }
                let parsed = length(&rec).and_then(|()| {
                    row(
                        action,
                        &field(&rec, Some(email_col)),
                        &field(&rec, reason_col),
                    )
                });
                batcher.push(line, parsed)?;
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(format!("reading the file failed at line {line}: {e}"));
                }
                if line > skip_through {
                    batcher.push(line, Err(e.to_string()))?;
                }
            }
        }
    }
    batcher.flush()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonRow {
    email_address: Option<String>,
    reason: Option<String>,
}

/// JSON lines: `{"emailAddress": "…", "reason": "BOUNCE"}`, one object per line.
fn parse_jsonl<R: Read>(
    reader: R,
    action: ImportAction,
    skip_through: u64,
    send: &dyn Fn(Result<Batch, String>) -> bool,
) -> Result<(), String> {
    let mut batcher = Batcher {
        batch: Batch::default(),
        send,
    };
    import::each_json_line(reader, skip_through, |line, bytes| {
        let parsed = bytes.and_then(import::json_line::<JsonRow>).and_then(|j| {
            row(
                action,
                j.email_address.as_deref().unwrap_or("").trim(),
                j.reason.as_deref().unwrap_or(""),
            )
        });
        batcher.push(line, parsed)
    })?;
    batcher.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn parse(format: Format, action: ImportAction, text: &str) -> Result<Vec<Batch>, String> {
        let out = Mutex::new(Vec::new());
        let send = |b: Result<Batch, String>| {
            out.lock().unwrap().push(b);
            true
        };
        match format {
            Format::Csv => parse_csv(text.as_bytes(), action, 0, &send)?,
            Format::Jsonl => parse_jsonl(text.as_bytes(), action, 0, &send)?,
        }
        out.into_inner().unwrap().into_iter().collect()
    }

    #[test]
    fn csv_with_a_header_in_any_order_and_without_one() {
        let b = parse(
            Format::Csv,
            ImportAction::Put,
            "reason,emailAddress\nBOUNCE,Ann@Example.com\ncomplaint,bob@example.com\nBOUNCE,nope\nMAYBE,c@example.com\n",
        )
        .unwrap();
        let rows: Vec<_> = b.iter().flat_map(|b| &b.rows).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email, "ann@example.com");
        assert_eq!(rows[1].reason, Some(SuppressionReason::Complaint));
        let errors: Vec<u64> = b.iter().flat_map(|b| &b.errors).map(|e| e.line).collect();
        assert_eq!(errors, vec![4, 5]);
        let b = parse(Format::Csv, ImportAction::Put, "a@example.com,BOUNCE\n").unwrap();
        assert_eq!(b[0].rows.len(), 1);
        assert!(
            parse(
                Format::Csv,
                ImportAction::Put,
                "emailAddress\na@example.com\n"
            )
            .is_err()
        );
        let b = parse(
            Format::Csv,
            ImportAction::Delete,
            "emailAddress\na@example.com\n",
        )
        .unwrap();
        assert_eq!(b[0].rows[0].reason, None);
    }

    #[test]
    fn json_lines_use_the_same_keys() {
        let b = parse(
            Format::Jsonl,
            ImportAction::Put,
            "{\"emailAddress\":\"a@example.com\",\"reason\":\"COMPLAINT\"}\n{\"emailAddress\":\"b@example.com\",\"bogus\":1}\n",
        )
        .unwrap();
        assert_eq!(b[0].rows.len(), 1);
        assert_eq!(b[0].errors.len(), 1);
        assert_eq!(b[0].last_line, 2);
    }
}
