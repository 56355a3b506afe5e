//! The dashboard's import upload and export download, plain HTTP because they move files:
//! `POST /admin/upload/{name}` (multipart: `file`, `format`, `action`) stores the
//! upload under `import_dir/uploads/`, creates the import job and runs it in the
//! background; `GET /admin/export/{name}/{csv|jsonl}` downloads the list.
//!
//! The form carries `wait=1`; once the page has hydrated, its script sets `wait=0`. With
//! `wait=0` the answer is an immediate redirect to the job's page, which polls the job and
//! shows a live progress bar; with `wait=1` (no JavaScript) the redirect comes when the
//! job has finished, so the page shows the finished job.

use crate::server::http::dashboard::{AdminPost, SignedIn, refusal};
use crate::server::service::import::{Format, ImportRequest};
use crate::server::service::{ServiceError, admin, import};
use crate::server::state::AppState;
use crate::server::store::{Audit, ImportAction, Source};
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use tokio::io::AsyncWriteExt;

/// The largest upload accepted.
pub const MAX_UPLOAD: usize = 1 << 30;

fn random_name() -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    crate::server::hex::encode(&b)
}

/// An uploaded file (and its line count) that is deleted when this is dropped: when the
/// upload is refused, and when its import job ends — finished, failed, or cancelled (its
/// task dropped, as at shutdown). The contacts of a list do not stay on disk.
struct Upload(std::path::PathBuf);

impl Upload {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        for p in [self.0.clone(), import::lines_sidecar(&self.0)] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "cannot delete an upload")
                }
            }
        }
    }
}

pub async fn upload(
    State(state): State<AppState>,
    AdminPost(actor): AdminPost,
    Path(list): Path<String>,
    mut form: Multipart,
) -> Response {
    let mut js = false;
    let dir = state.settings.import_dir.join("uploads");
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        return refusal(ServiceError::internal(format!(
            "cannot create {}: {e}",
            dir.display()
        )));
    }
    let mut format: Option<Format> = None;
    let mut action = ImportAction::Put;
    let mut saved: Option<(Upload, u64, u64)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("the upload is malformed: {e}"),
                )
                    .into_response();
            }
        };
        let field_name = field.name().unwrap_or("").to_owned();
        match field_name.as_str() {
            "format" => {
                let v = field.text().await.unwrap_or_default();
                format = match v.as_str() {
                    "" | "auto" => None,
                    other => match Format::parse(other) {
                        Some(f) => Some(f),
                        None => {
                            return (StatusCode::BAD_REQUEST, "the format is csv or jsonl")
                                .into_response();
                        }
                    },
                };
            }
            "wait" => js = field.text().await.unwrap_or_default() == "0",
            "action" => {
                action = match field.text().await.unwrap_or_default().as_str() {
                    "" | "put" => ImportAction::Put,
                    "delete" => ImportAction::Delete,
                    _ => {
                        return (StatusCode::BAD_REQUEST, "the action is put or delete")
                            .into_response();
                    }
                };
            }
            "file" => {
                let original = field.file_name().unwrap_or("upload.csv").to_lowercase();
                let ext = if original.ends_with(".jsonl")
                    || original.ends_with(".ndjson")
                    || original.ends_with(".json")
                {
                    "jsonl"
                } else {
                    "csv"
                };
                let path = dir.join(format!("dashboard-{}.{ext}", random_name()));
                let mut out = match tokio::fs::File::create(&path).await {
                    Ok(f) => f,
                    Err(e) => {
                        return refusal(ServiceError::internal(format!(
                            "cannot write {}: {e}",
                            path.display()
                        )));
                    }
                };
                // From here on every way out deletes the file.
                let upload = Upload(path);
                let (mut size, mut lines, mut last) = (0u64, 0u64, b'\n');
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            size += chunk.len() as u64;
                            if size as usize > MAX_UPLOAD {
                                return (
                                    StatusCode::PAYLOAD_TOO_LARGE,
                                    "the file is larger than 1 GiB",
                                )
                                    .into_response();
                            }
                            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                            last = *chunk.last().unwrap_or(&last);
                            if let Err(e) = out.write_all(&chunk).await {
                                return refusal(ServiceError::internal(format!(
                                    "cannot write the upload: {e}"
                                )));
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            return (
                                StatusCode::BAD_REQUEST,
                                format!("the upload was interrupted: {e}"),
                            )
                                .into_response();
                        }
                    }
                }
                if let Err(e) = out.flush().await {
                    return refusal(ServiceError::internal(format!(
                        "cannot write the upload: {e}"
                    )));
                }
                if last != b'\n' {
                    lines += 1;
                }
                saved = Some((upload, size, lines));
            }
            _ => {}
        }
    }
    let Some((upload, size, lines)) = saved else {
        return (StatusCode::BAD_REQUEST, "choose a file to import").into_response();
    };
    if size == 0 {
        return back_with_error(js, &list, "the file is empty");
    }
    let path = upload.path().to_path_buf();
    let _ = tokio::fs::write(import::lines_sidecar(&path), lines.to_string()).await;
    let req = ImportRequest {
        list: list.clone(),
        path: path.clone(),
        format: format.or(Some(Format::from_path(&path))),
        action,
        override_opt_outs: false,
    };
    let prepared = match admin::prepare_import(&*state.store, &actor, &req).await {
        Ok(p) => p,
        Err(ServiceError::BadRequest(m) | ServiceError::NotFound(m)) => {
            return back_with_error(js, &list, &m);
        }
        Err(e) => return refusal(e),
    };
    let job_id = prepared.job.job_id.clone();
    let store = state.store.clone();
    let run = tokio::spawn(async move {
        // Deleted when the job ends, however it ends.
        let _upload = upload;
        let audit = Audit::new(Source::Import);
        let failures = path.with_extension("errors.csv");
        let mut report = import::FailureReport::new(failures, false);
        let r = import::execute(
            &*store,
            prepared,
            &audit,
            &mut |_: &import::Progress| {},
            &mut |e: &import::RowError| report.write(e),
        )
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %crate::server::service::chain(&e), "dashboard import failed");
        }
    });
    let page = format!("/admin/lists/{list}/import?job={job_id}");
    if !js {
        let _ = run.await;
    }
    Redirect::to(&page).into_response()
}

fn back_with_error(_js: bool, list: &str, msg: &str) -> Response {
    Redirect::to(&format!(
        "/admin/lists/{list}/import?error={}",
        crate::domain::query::query_escape(msg)
    ))
    .into_response()
}

/// `GET /admin/export/{name}/csv` or `…/jsonl`.
pub async fn export(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Path((list, file)): Path<(String, String)>,
) -> Response {
    let (format, ctype) = match file.as_str() {
        "csv" => (Format::Csv, "text/csv; charset=utf-8"),
        "jsonl" => (Format::Jsonl, "application/jsonl; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let ext = if format == Format::Csv {
        "csv"
    } else {
        "jsonl"
    };
    let headers = vec![
        (header::CONTENT_TYPE, ctype.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{list}.{ext}\""),
        ),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    // The export writes to a plain `Write`: it runs on a blocking thread and streams.
    let store = state.store.clone();
    crate::server::http::download::stream(headers, refusal, move |out, rt| {
        rt.block_on(admin::export(&*store, &actor, &list, format, out))
            .map(|_| ())
    })
    .await
}
