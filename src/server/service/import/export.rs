//! A list's contacts written out as CSV or JSON lines.

use super::Format;
use crate::domain::effective_status;
use crate::domain::spreadsheet::neutralise;
use crate::server::service::{ServiceError, ServiceResult, lists};
use crate::server::store::{ContactFilter, Store};
use std::borrow::Cow;
use std::io::Write;

/// Contacts read per page.
const EXPORT_PAGE: u32 = 5000;

/// Writes every contact of a list, in contact order, with the *effective* status per
/// topic (so an export says exactly who would get mail). Returns the number of contacts.
pub async fn export(
    store: &dyn Store,
    list_name: &str,
    format: Format,
    out: &mut dyn Write,
) -> ServiceResult<u64> {
    let list = lists::get(store, list_name).await?;
    let io = |e: std::io::Error| ServiceError::internal(format!("writing the export: {e}"));
    let csv_err = |e: csv::Error| ServiceError::internal(format!("writing the export: {e}"));
    let page_csv = |cap: usize| {
        csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::with_capacity(cap))
    };
    if format == Format::Csv {
        let mut header = vec![
            "emailAddress".to_owned(),
            "unsubscribeAll".to_owned(),
            "attributesData".to_owned(),
            "pausedUntil".to_owned(),
        ];
        header.extend(
            list.topics
                .iter()
                .map(|t| format!("topicPreferences.{}", t.name)),
        );
        let mut w = page_csv(256);
        w.write_record(&header).map_err(csv_err)?;
        out.write_all(&w.into_inner().map_err(|e| io(e.into_error()))?)
            .map_err(io)?;
    }
    let render = |page: &[crate::domain::Contact]| -> ServiceResult<Vec<u8>> {
        let mut w = page_csv(page.len() * 96);
        let mut chunk: Vec<u8> = Vec::with_capacity(page.len() * 160);
        for c in page {
            // A paused contact is OPT_OUT of every topic until its pause ends.
            let paused = c.paused_until.map(crate::server::events::iso);
            let statuses = list.topics.iter().map(|t| {
                if paused.is_some() {
                    crate::domain::SubscriptionStatus::OptOut
                } else {
                    effective_status(
                        c.unsubscribe_all,
                        c.explicit(t.name.as_str()),
                        t.default_status,
                    )
                }
            });
            if format == Format::Csv {
                // Addresses and attributes are the sender's data: neutralised for
                // spreadsheets (and restored by the importer).
                let mut rec: Vec<Cow<'_, str>> = Vec::with_capacity(4 + list.topics.len());
                rec.push(neutralise(c.email.as_str()));
                rec.push(Cow::Borrowed(if c.unsubscribe_all {
                    "true"
                } else {
                    "false"
                }));
                rec.push(neutralise(&c.attributes));
                rec.push(Cow::Owned(paused.clone().unwrap_or_default()));
                rec.extend(statuses.map(|s| Cow::Borrowed(s.as_api())));
                w.write_record(rec.iter().map(|cell| cell.as_bytes()))
                    .map_err(csv_err)?;
            } else {
                let prefs: Vec<serde_json::Value> = list
                    .topics
                    .iter()
                    .zip(statuses)
                    .map(|(t, s)| {
                        serde_json::json!({ "topicName": t.name.as_str(), "subscriptionStatus": s.as_api() })
                    })
                    .collect();
                let v = serde_json::json!({
                    "emailAddress": c.email.as_str(),
                    "unsubscribeAll": c.unsubscribe_all,
                    "attributesData": c.attributes,
                    "topicPreferences": prefs,
                    "pausedUntil": paused,
                });
                serde_json::to_writer(&mut chunk, &v)
                    .map_err(|e| ServiceError::internal(e.to_string()))?;
                chunk.push(b'\n');
            }
        }
        if format == Format::Csv {
            chunk = w.into_inner().map_err(|e| io(e.into_error()))?;
        }
        Ok(chunk)
    };
    let fetch = |after: Option<i64>| {
        let list = &list;
        async move {
            store
                .list_contacts(list, &ContactFilter::default(), after, EXPORT_PAGE)
                .await
        }
    };
    // The next page is read while the current one is rendered and written.
    let mut n = 0u64;
    let mut page = fetch(None).await?;
    while let Some(last) = page.last() {
        let more = page.len() == EXPORT_PAGE as usize;
        let after = Some(last.id);
        let (next, chunk) = tokio::join!(
            async { if more { Some(fetch(after).await) } else { None } },
            async { render(&page) }
        );
        out.write_all(&chunk?).map_err(io)?;
        n += page.len() as u64;
        match next {
            Some(p) => page = p?,
            None => break,
        }
    }
    out.flush().map_err(io)?;
    Ok(n)
}
