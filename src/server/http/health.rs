//! `/healthz` (the process answers) and `/readyz`: each dependency in JSON. The database
//! decides readiness (`503` when it does not answer in time); a relay that cannot be
//! reached, a paused relay and backlogs over their bounds make the answer `degraded`
//! (still `200`: this instance serves recipients and the API, and a load balancer should
//! keep it) and say what is wrong. It is public (load balancers ask it), so it names no
//! host or address: the server log has those.

use crate::server::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Backlogs above these are reported (`degraded`): acknowledged one-click opt-outs not
/// yet in the tables, messages waiting for the relay, webhook deliveries waiting.
pub const ONE_CLICK_BACKLOG_BOUND: u64 = 100_000;
pub const RELAY_QUEUE_BOUND: i64 = 100_000;
pub const WEBHOOK_OUTBOX_BOUND: i64 = 100_000;

pub async fn healthz() -> &'static str {
    "ok"
}

fn check(ok: bool, detail: Value) -> Value {
    json!({ "ok": ok, "detail": detail })
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let t = Instant::now();
    let db_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
        Ok(Ok(()))
    );
    let mut checks = serde_json::Map::new();
    checks.insert(
        "database".into(),
        check(
            db_ok,
            if db_ok {
                json!(format!("answered in {} ms", t.elapsed().as_millis()))
            } else {
                json!("the database does not answer")
            },
        ),
    );
    if !db_ok {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "checks": checks })),
        );
    }
    if let Ok(Ok(g)) = tokio::time::timeout(Duration::from_secs(2), state.store.gauges()).await {
        checks.insert(
            "one_click_backlog".into(),
            check(
                g.one_click_backlog <= ONE_CLICK_BACKLOG_BOUND,
                json!(g.one_click_backlog),
            ),
        );
        checks.insert(
            "relay_queue".into(),
            check(g.relay_queued <= RELAY_QUEUE_BOUND, json!(g.relay_queued)),
        );
        checks.insert(
            "webhook_outbox".into(),
            check(
                g.webhooks_pending <= WEBHOOK_OUTBOX_BOUND,
                json!(g.webhooks_pending),
            ),
        );
    }
    if let Some(url) = &state.settings.relay_url {
        use crate::server::mail::upstream::{Probe, probe};
        let reach = match probe(url.expose(), Duration::from_secs(1)).await {
            Probe::Reachable { .. } => check(true, json!("accepts connections")),
            Probe::Refused { host, port, error } => {
                tracing::warn!(%error, %host, port, "readyz: the relay cannot be reached");
                check(
                    false,
                    json!("cannot connect (the server log has the reason)"),
                )
            }
            Probe::Silent { .. } => check(false, json!("no answer within 1 s")),
            Probe::Unparsable => check(false, json!("relay_url does not parse")),
        };
        checks.insert("relay".into(), reach);
        let paused = state.bounces.is_paused().await;
        checks.insert(
            "relay_breaker".into(),
            check(
                !paused,
                json!(if paused {
                    "paused: too many deliveries failed (optbox outbox resume)"
                } else {
                    "closed"
                }),
            ),
        );
    }
    let all_ok = checks.values().all(|c| c["ok"] == true);
    let status = if all_ok { "ready" } else { "degraded" };
    (
        StatusCode::OK,
        Json(json!({ "status": status, "checks": checks })),
    )
}
