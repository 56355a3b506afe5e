//! The HTTP accept loop: hyper's HTTP/1.1 server with the limits that keep idle or slow
//! clients from holding the service.
//!
//! - **Header-read timeout** (`header_read_timeout_secs`): a connection must deliver a
//!   request's complete header block within this time, also when it sits idle between
//!   keep-alive requests; a client that trickles bytes (slowloris) is closed. The request
//!   timeout (`request_timeout_secs`) starts only once the headers are in.
//! - **Connection caps**: at most `max_connections` open connections in all and
//!   `max_connections_per_ip` from one client (IPv4 address, IPv6 /64). A connection over
//!   a cap is closed at once, so the ones already open (the one-click POST among them)
//!   keep their share. Trusted proxies (`trusted_proxies`) count only against the total:
//!   every client behind them shares their address.
//!
//! Each request carries `ConnectInfo<SocketAddr>` as `axum::serve` would give it.

use crate::server::config::LimitSettings;
use crate::server::conn_limit::{PerClient, client_key};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (connections are told to close after their current request).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &LimitSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = Duration::from_secs(limits.header_read_timeout_secs.max(1));
    let total = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip_max = limits.max_connections_per_ip.max(1);
    let trusted: Vec<IpNet> = limits.proxies().unwrap_or_default();
    let table = Arc::new(PerClient::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = total.clone().try_acquire_owned() else {
            tracing::warn!("HTTP connection limit reached; connection closed");
            drop(stream);
            continue;
        };
        let key = (!trusted.iter().any(|n| n.contains(&peer.ip()))).then(|| client_key(peer.ip()));
        let Some(slot) = table.take(key, per_ip_max) else {
            tracing::warn!("HTTP per-client connection limit reached; connection closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = router
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { drop(stop.wait_for(|s| *s).await) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop((permit, slot));
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Wait for every connection to finish its request and close.
    let all = limits.max_connections.max(1) as u32;
    let _ = total.acquire_many(all).await;
    Ok(())
}
