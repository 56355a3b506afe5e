//! An import job's progress, for the upload page (polled while it runs).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImportView {
    pub job_id: String,
    pub list: String,
    /// CREATED, PROCESSING, COMPLETED or FAILED.
    pub status: String,
    pub lines_done: i64,
    /// Lines in the uploaded file, when known.
    pub total_lines: Option<i64>,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub opt_outs_kept: u64,
    pub failed: i64,
    pub error: Option<String>,
}

impl ImportView {
    pub fn finished(&self) -> bool {
        self.status == "COMPLETED" || self.status == "FAILED"
    }
    /// Percent done (0–100).
    pub fn percent(&self) -> u32 {
        if self.status == "COMPLETED" {
            return 100;
        }
        match self.total_lines {
            Some(t) if t > 0 => ((self.lines_done.max(0) * 100) / t).min(99) as u32,
            _ => 0,
        }
    }
}

#[server(endpoint = "import_job")]
pub async fn get_import(job: String) -> Result<ImportView, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let j = admin::import_job(&*state().store, &user, &job)
        .await
        .map_err(service)?;
    let sidecar = crate::server::service::import::lines_sidecar(std::path::Path::new(&j.source));
    // The upload and its line count are deleted when the job ends; a completed job has
    // read every line.
    let total_lines = tokio::fs::read_to_string(sidecar)
        .await
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .or((j.status.as_str() == "COMPLETED").then_some(j.lines_done));
    Ok(ImportView {
        job_id: j.job_id,
        list: j.list_name,
        status: j.status.as_str().to_owned(),
        lines_done: j.lines_done,
        total_lines,
        created: j.counts.created,
        updated: j.counts.updated,
        unchanged: j.counts.unchanged,
        deleted: j.counts.deleted,
        opt_outs_kept: j.counts.opt_outs_kept,
        failed: j.failed,
        error: j.error,
    })
}
