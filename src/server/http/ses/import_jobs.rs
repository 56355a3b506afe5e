//! SES import jobs — CreateImportJob, GetImportJob, ListImportJobs — over the same
//! import service as `optbox import`.
//!
//! SES reads the data from S3; optbox reads it from its `import_dir`:
//! `s3://BUCKET/KEY` is the file `import_dir/BUCKET/KEY`, and `file:///PATH` names a
//! file by its absolute path, which must lie inside `import_dir` (an API key must not
//! read arbitrary files of the server). Failed records are written to
//! `import_dir/failures/JOBID.csv`, reported as `s3://failures/JOBID.csv`.
//!
//! The job runs in the background of the instance that accepted it. Each batch commits
//! with the job's progress; if that instance dies, the same CreateImportJob again
//! resumes the unfinished job after its last committed batch and answers its JobId.
//!
//! A `SuppressionListDestination` fills the account suppression list instead
//! (`service::suppressions`): CSV `emailAddress,reason` or JSON lines with those keys;
//! PUT adds or re-dates the addresses, DELETE takes them off.

use super::wire::{self, Violations};
use super::{ApiError, ApiRequest};
use crate::server::service::ServiceResult;
use crate::server::service::import::{self, FailureReport, Format, ImportRequest, RowError};
use crate::server::service::suppressions;
use crate::server::store::{Audit, ImportAction, ImportDestination, ImportJob, Source};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};

type OpResult = Result<String, ApiError>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateImportJobIn {
    import_destination: Option<DestinationIn>,
    import_data_source: Option<DataSourceIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DestinationIn {
    contact_list_destination: Option<ContactListDestinationIn>,
    suppression_list_destination: Option<SuppressionListDestinationIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SuppressionListDestinationIn {
    suppression_list_import_action: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ContactListDestinationIn {
    contact_list_name: Option<String>,
    contact_list_import_action: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataSourceIn {
    #[serde(rename = "S3Url")]
    s3_url: Option<String>,
    #[serde(rename = "DataFormat")]
    data_format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListImportJobsIn {
    import_destination_type: Option<String>,
    next_token: Option<String>,
    page_size: Option<i64>,
}

fn enum_error(v: &str, path: &str, set: &str) -> String {
    format!(
        "Value '{}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: {set}",
        v.chars().take(64).collect::<String>()
    )
}

/// What CreateImportJob answers for a data source that is not a readable file inside
/// `import_dir`, whatever the reason: telling "outside" from "does not exist" would let
/// an API key find out which files the server has.
pub const UNREADABLE_SOURCE: &str =
    "The import data source does not exist inside import_dir or cannot be read.";

/// The file an `S3Url` names, inside `dir`.
fn resolve(dir: &Path, url: &str) -> Result<PathBuf, ApiError> {
    let malformed = || {
        ApiError::bad_request(format!(
            "ImportDataSource.S3Url must be s3://BUCKET/KEY (the file import_dir/BUCKET/KEY) or file:///PATH inside import_dir ({}).",
            dir.display()
        ))
    };
    let path = if let Some(rest) = url.strip_prefix("s3://") {
        let rel = Path::new(rest);
        let clean =
            rest.contains('/') && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !clean {
            return Err(malformed());
        }
        dir.join(rel)
    } else if let Some(p) = url.strip_prefix("file://") {
        let p = Path::new(p);
        if !p.is_absolute() {
            return Err(malformed());
        }
        p.to_path_buf()
    } else {
        return Err(malformed());
    };
    // From here on every failure gets the same answer (the reason is logged).
    let unreadable = |why: &str| {
        tracing::info!(source = %url.chars().take(300).collect::<String>(), why, "import data source refused");
        ApiError::bad_request(UNREADABLE_SOURCE)
    };
    let root = std::fs::canonicalize(dir).map_err(|_| unreadable("import_dir is missing"))?;
    let real = std::fs::canonicalize(&path).map_err(|_| unreadable("no such file"))?;
    if !real.starts_with(&root) {
        return Err(unreadable("outside import_dir"));
    }
    if !real.is_file() {
        return Err(unreadable("not a file"));
    }
    Ok(real)
}

/// An `…ImportAction` member: required, PUT or DELETE.
fn import_action(v: &mut Violations, path: &str, a: &Option<String>) -> Option<ImportAction> {
    let a = v.required(path, a)?;
    match a.as_str() {
        "PUT" => Some(ImportAction::Put),
        "DELETE" => Some(ImportAction::Delete),
        other => {
            v.push(enum_error(other, path, "[DELETE, PUT]"));
            None
        }
    }
}

fn failures_path(dir: &Path, job_id: &str) -> PathBuf {
    dir.join("failures").join(format!("{job_id}.csv"))
}

pub async fn create(api: &ApiRequest<'_>) -> OpResult {
    let input: CreateImportJobIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let dest = v.required("importDestination", &input.import_destination);
    let source = v.required("importDataSource", &input.import_data_source);
    let url = source.and_then(|s| v.required("importDataSource.s3Url", &s.s3_url));
    let format = source
        .and_then(|s| v.required("importDataSource.dataFormat", &s.data_format))
        .and_then(|f| match f.as_str() {
            "CSV" => Some(Format::Csv),
            "JSON" => Some(Format::Jsonl),
            other => {
                v.push(enum_error(
                    other,
                    "importDataSource.dataFormat",
                    "[CSV, JSON]",
                ));
                None
            }
        });
    let mut list_and_action = None;
    if let Some(c) = dest.and_then(|d| d.contact_list_destination.as_ref()) {
        let name = v.required(
            "importDestination.contactListDestination.contactListName",
            &c.contact_list_name,
        );
        let a = import_action(
            &mut v,
            "importDestination.contactListDestination.contactListImportAction",
            &c.contact_list_import_action,
        );
        if let (Some(n), Some(a)) = (name, a) {
            list_and_action = Some((n.clone(), a));
        }
    }
    let mut suppression_action = None;
    if let Some(s) = dest.and_then(|d| d.suppression_list_destination.as_ref()) {
        suppression_action = import_action(
            &mut v,
            "importDestination.suppressionListDestination.suppressionListImportAction",
            &s.suppression_list_import_action,
        );
    }
    v.finish()?;
    let (Some(dest), Some(url)) = (dest, url) else {
        return Err(ApiError::bad_request(
            "ImportDestination and ImportDataSource.S3Url are required.",
        ));
    };
    if dest.suppression_list_destination.is_some() && dest.contact_list_destination.is_some() {
        return Err(ApiError::bad_request(
            "ImportDestination must have one of ContactListDestination and SuppressionListDestination, not both.",
        ));
    }
    if let Some((list, _)) = &list_and_action {
        crate::server::service::api_keys::require_list(&api.scope, list)?;
    }
    if suppression_action.is_some() {
        crate::server::service::api_keys::require(
            &api.scope,
            crate::domain::Permission::Suppression,
        )?;
    }
    let dir = api.state.settings.import_dir.clone();
    if let Some(action) = suppression_action {
        let path = resolve(&dir, url)?;
        return create_suppression_job(api, dir, path, format, action).await;
    }
    let (list, action) = list_and_action.ok_or_else(|| {
        ApiError::bad_request(
            "ImportDestination must have a ContactListDestination or a SuppressionListDestination.",
        )
    })?;
    let path = resolve(&dir, url)?;
    let req = ImportRequest {
        list,
        path,
        format,
        action,
        override_opt_outs: false,
    };
    let store = api.state.store.clone();
    let prepared = import::prepare(store.as_ref(), &req).await?;
    let job_id = prepared.job.job_id.clone();
    spawn_job(
        api,
        &dir,
        job_id,
        "import job",
        move |audit, mut report| async move {
            let mut on_error = |e: &RowError| report.write(e);
            import::execute(store.as_ref(), prepared, &audit, &mut |_| {}, &mut on_error)
                .await
                .map(|o| o.job)
        },
    )
}

/// A suppression-list job, run in the background like a contact-list one.
async fn create_suppression_job(
    api: &ApiRequest<'_>,
    dir: PathBuf,
    path: PathBuf,
    format: Option<Format>,
    action: ImportAction,
) -> OpResult {
    let req = suppressions::ImportRequest {
        path,
        format: format.unwrap_or(Format::Csv),
        action,
    };
    let store = api.state.store.clone();
    let prepared = suppressions::prepare_import(store.as_ref(), &req).await?;
    let job_id = prepared.job.job_id.clone();
    spawn_job(
        api,
        &dir,
        job_id,
        "suppression import job",
        move |audit, mut report| async move {
            let mut on_error = |e: &RowError| report.write(e);
            suppressions::execute_import(store.as_ref(), prepared, &audit, &mut on_error).await
        },
    )
}

/// Runs a prepared job to its end in the background, its invalid rows reported beside
/// the job's other files, and answers with the job's id. `run` gets the request's audit
/// (as an import) and the report.
fn spawn_job<F, Fut>(
    api: &ApiRequest<'_>,
    dir: &Path,
    job_id: String,
    what: &'static str,
    run: F,
) -> OpResult
where
    F: FnOnce(Audit, FailureReport) -> Fut,
    Fut: Future<Output = ServiceResult<ImportJob>> + Send + 'static,
{
    let report = FailureReport::new(failures_path(dir, &job_id), true);
    let mut audit = api.audit.clone();
    audit.source = Source::Import;
    let job = run(audit, report);
    tokio::spawn(async move {
        match job.await {
            Ok(j) => {
                tracing::info!(job = %j.job_id, counts = ?j.counts, failed = j.failed, "{what} completed")
            }
            Err(e) => {
                tracing::warn!(error = %crate::server::service::chain(&e), "{what} did not complete")
            }
        }
    });
    Ok(json!({ "JobId": job_id }).to_string())
}

fn destination(j: &ImportJob) -> Value {
    match j.destination {
        ImportDestination::ContactList => json!({ "ContactListDestination": {
            "ContactListName": j.list_name,
            "ContactListImportAction": j.action.as_str(),
        }}),
        ImportDestination::SuppressionList => json!({ "SuppressionListDestination": {
            "SuppressionListImportAction": j.action.as_str(),
        }}),
    }
}

fn processed(j: &ImportJob) -> i64 {
    j.counts.processed() as i64 + j.failed
}

fn job_json(dir: &Path, j: &ImportJob) -> Value {
    let mut out = json!({
        "JobId": j.job_id,
        "ImportDestination": destination(j),
        "ImportDataSource": { "S3Url": format!("file://{}", j.source), "DataFormat": j.format },
        "JobStatus": j.status.as_str(),
        "CreatedTimestamp": super::paging::ts(j.created_at),
        "ProcessedRecordsCount": processed(j),
        "FailedRecordsCount": j.failed,
    });
    if let Some(c) = j.completed_at {
        out["CompletedTimestamp"] = super::paging::ts(c);
    }
    let mut failure = serde_json::Map::new();
    if j.failed > 0 && failures_path(dir, &j.job_id).exists() {
        failure.insert(
            "FailedRecordsS3Url".into(),
            json!(format!("s3://failures/{}.csv", j.job_id)),
        );
    }
    if let Some(e) = &j.error {
        failure.insert("ErrorMessage".into(), json!(e));
    }
    if !failure.is_empty() {
        out["FailureInfo"] = Value::Object(failure);
    }
    out
}

pub async fn get(api: &ApiRequest<'_>, job_id: &str) -> OpResult {
    let job = import::job(api.state.store.as_ref(), job_id).await?;
    Ok(job_json(&api.state.settings.import_dir, &job).to_string())
}

/// `POST /v2/email/import-jobs/list` (members in the body) and the older
/// `GET /v2/email/import-jobs` (PageSize and NextToken in the query).
pub async fn list(api: &ApiRequest<'_>, legacy: bool) -> OpResult {
    let input: ListImportJobsIn = wire::parse(api.body)?;
    let (size, token) = if legacy {
        (
            super::paging::query_page_size(api)?.or(input.page_size),
            api.query_one("NextToken")
                .map(str::to_owned)
                .or(input.next_token),
        )
    } else {
        (input.page_size, input.next_token)
    };
    let mut v = Violations::default();
    let kind = input.import_destination_type.as_deref().and_then(|t| {
        let d = ImportDestination::parse(t);
        if d.is_none() {
            v.push(enum_error(
                t,
                "importDestinationType",
                "[SUPPRESSION_LIST, CONTACT_LIST]",
            ));
        }
        d
    });
    v.finish()?;
    let limit = super::paging::page_size(size)?;
    let before = match token {
        Some(t) => Some(
            super::paging::decode_token(&t)?
                .strip_prefix("j1:")
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(super::paging::invalid_token)?,
        ),
        None => None,
    };
    let mut rows = import::jobs(api.state.store.as_ref(), kind, before, limit + 1).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last()
            .map(|(id, _)| super::paging::encode_token(&format!("j1:{id}")))
    } else {
        None
    };
    let mut out = json!({
        "ImportJobs": rows.iter().map(|(_, j)| {
            let mut o = json!({
                "JobId": j.job_id,
                "ImportDestination": destination(j),
                "JobStatus": j.status.as_str(),
                "CreatedTimestamp": super::paging::ts(j.created_at),
                "ProcessedRecordsCount": processed(j),
                "FailedRecordsCount": j.failed,
            });
            if let Some(c) = j.completed_at {
                o["CompletedTimestamp"] = super::paging::ts(c);
            }
            o
        }).collect::<Vec<_>>(),
    });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out.to_string())
}
