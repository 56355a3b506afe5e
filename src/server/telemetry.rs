//! Structured logging: human-readable text by default, JSON lines on request.

use super::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("OPTBOX_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => b.json().try_init(),
        LogFormat::Text => b.try_init(),
    };
}

/// The Prometheus recorder's handle, once metrics are on: installed as the process's
/// `metrics` recorder by [`install_metrics`] (the first call; later ones return the same
/// handle). Until then every `metrics::counter!` and friends is a no-op.
static METRICS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// Latency buckets (seconds) of every `*_duration_seconds` histogram: from 0.5 ms (a
/// cached page) to 10 s (a request timeout).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install_metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    METRICS
        .get_or_init(|| {
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), BUCKETS)
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics stays empty");
            }
            describe_metrics();
            handle
        })
        .clone()
}

/// The metrics optbox records, with their help texts (README "Health and metrics" lists
/// them too).
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "optbox_http_requests_total",
        "HTTP requests by route, method and status"
    );
    describe_histogram!(
        "optbox_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route"
    );
    describe_counter!(
        "optbox_one_click_total",
        "RFC 8058 one-click POSTs by outcome (ok: the opt-out is durable)"
    );
    describe_histogram!(
        "optbox_one_click_duration_seconds",
        Unit::Seconds,
        "One-click POST latency until the opt-out is durable"
    );
    describe_counter!(
        "optbox_page_renders_total",
        "Preference pages rendered, by outcome"
    );
    describe_counter!(
        "optbox_ses_requests_total",
        "SES API calls by operation and error code (OK when none)"
    );
    describe_counter!(
        "optbox_smtp_sessions_total",
        "SMTP sessions by listener (submission, inbound)"
    );
    describe_counter!(
        "optbox_smtp_messages_total",
        "SMTP messages by listener and outcome (accepted, temporary, refused)"
    );
    describe_counter!(
        "optbox_relay_deliveries_total",
        "Relay delivery attempts by outcome (sent, retry, failed)"
    );
    describe_counter!(
        "optbox_webhook_deliveries_total",
        "Webhook delivery attempts by outcome (delivered, retry, dead)"
    );
    describe_counter!(
        "optbox_suppressed_recipients_total",
        "Recipients not sent to because they are on the suppression list"
    );
    describe_gauge!(
        "optbox_relay_queue_depth",
        "Messages waiting in the relay queue"
    );
    describe_gauge!(
        "optbox_webhook_outbox_depth",
        "Webhook deliveries waiting (pending) or given up (dead)"
    );
    describe_gauge!(
        "optbox_one_click_backlog",
        "Acknowledged one-click opt-outs not yet applied to the tables (SQLite)"
    );
    describe_gauge!(
        "optbox_import_jobs_active",
        "Import jobs created or processing"
    );
    describe_gauge!(
        "optbox_import_rows_processed",
        "Rows processed so far by the active import jobs"
    );
    describe_gauge!(
        "optbox_suppression_list_size",
        "Addresses on the account suppression list"
    );
}
