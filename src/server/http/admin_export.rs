//! Dashboard downloads that are plain HTTP, not server functions: the event log as CSV
//! (`GET /admin/events.csv`, the page's filters as query parameters), and everything
//! stored about an address as JSON (`GET /admin/privacy.json?email=E`, owners only). Signed-in viewers
//! and above; the role is checked by the service like every dashboard use-case.

use crate::domain::EventFilters;
use crate::server::http::dashboard::{SignedIn, refusal};
use crate::server::http::download;
use crate::server::service::{ServiceError, admin};
use crate::server::state::AppState;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::Write;

/// Most rows in one CSV download.
pub const CSV_MAX_ROWS: usize = 1_000_000;

fn csv_field(s: &str) -> String {
    // Cells that a spreadsheet would run as a formula are prefixed with a quote.
    let s = crate::domain::spreadsheet::neutralise(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into_owned()
    }
}

/// The query of `GET /admin/privacy.json`.
#[derive(serde::Deserialize)]
pub struct SubjectQuery {
    #[serde(default)]
    email: String,
}

/// `GET /admin/privacy.json?email=E`: everything stored about the address (the right of
/// access), as `optbox contacts show` prints it.
pub async fn subject_json(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Query(q): Query<SubjectQuery>,
) -> Response {
    match crate::server::service::privacy::show_as(&*state.store, &actor, &q.email).await {
        Ok(report) => json_attachment("optbox-subject.json", &report),
        Err(e) => refusal(e),
    }
}

/// `GET /admin/contacts/history.json?email=E`: every event about the address with what
/// proves it is in the event log's chain, as `optbox contacts history --json` prints it.
pub async fn history_json(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Query(q): Query<SubjectQuery>,
) -> Response {
    match crate::server::service::audit_trail::history_as(&*state.store, &actor, &q.email).await {
        Ok(history) => json_attachment("optbox-history.json", &history),
        Err(e) => refusal(e),
    }
}

/// A JSON download that no cache keeps.
fn json_attachment(filename: &str, body: &impl serde::Serialize) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        serde_json::to_string_pretty(body).unwrap_or_default(),
    )
        .into_response()
}

/// `GET /admin/events.csv`: every event matching the filters, newest first.
pub async fn events_csv(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    Query(filters): Query<EventFilters>,
) -> Response {
    let mut q = match admin::event_query(&filters) {
        Ok(q) => q,
        Err(m) => return (StatusCode::BAD_REQUEST, m).into_response(),
    };
    let headers = vec![
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"optbox-events.csv\"".to_owned(),
        ),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    let store = state.store.clone();
    download::stream(headers, refusal, move |out, rt| {
        let io = |e: std::io::Error| ServiceError::unavailable(e);
        out.write_all(
            b"id,created_at,kind,source,list,topic,contact,old_preferences,new_preferences,detail\n",
        )
        .map_err(io)?;
        let mut rows = 0;
        loop {
            let (page, more) = rt.block_on(admin::events(&*store, &actor, &q))?;
            for e in &page {
                let cells = [
                    e.id.to_string(),
                    crate::serverfns::support::when(e.created_at),
                    e.kind.clone(),
                    e.source.clone().unwrap_or_default(),
                    e.list_name.clone().unwrap_or_default(),
                    e.topic_name.clone().unwrap_or_default(),
                    e.contact_email.clone().unwrap_or_default(),
                    e.old_prefs.clone().unwrap_or_default(),
                    e.new_prefs.clone().unwrap_or_default(),
                    e.detail.clone(),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
                out.write_all(line.join(",").as_bytes()).map_err(io)?;
                out.write_all(b"\n").map_err(io)?;
            }
            rows += page.len();
            match page.last() {
                Some(last) if more && rows < CSV_MAX_ROWS => q.before_id = Some(last.id),
                _ => return Ok(()),
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("@cmd"), "'@cmd");
        assert_eq!(csv_field("\tcmd"), "'\tcmd");
        assert_eq!(csv_field("\rcmd"), "\"'\rcmd\"");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
