//! The gauges of `/metrics`: queue depths and sizes read from the store at each scrape.

use super::ServiceResult;
use crate::server::store::Store;

/// Reads the queue depths and sets their gauges.
pub async fn sample(store: &dyn Store) -> ServiceResult<()> {
    let g = store.gauges().await?;
    metrics::gauge!("optbox_relay_queue_depth").set(g.relay_queued as f64);
    metrics::gauge!("optbox_webhook_outbox_depth", "status" => "pending")
        .set(g.webhooks_pending as f64);
    metrics::gauge!("optbox_webhook_outbox_depth", "status" => "dead").set(g.webhooks_dead as f64);
    metrics::gauge!("optbox_one_click_backlog").set(g.one_click_backlog as f64);
    metrics::gauge!("optbox_import_jobs_active").set(g.imports_active as f64);
    metrics::gauge!("optbox_import_rows_processed").set(g.import_lines_done as f64);
    metrics::gauge!("optbox_suppression_list_size").set(g.suppressed as f64);
    Ok(())
}
