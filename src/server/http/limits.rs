//! Abuse limits on the public surface: the client's address (behind trusted proxies),
//! per-IP rate limits on the recipient routes, the dashboard sign-in's per-client rate
//! and its bound on password hashes at once, and the settings for them and for the
//! request timeout.
//!
//! The per-IP limit is deliberately generous: RFC 8058 one-click POSTs come from mailbox
//! providers' servers, so many recipients share one address, and an unsubscribe refused
//! with 429 may never be retried. The default (50 requests/s per address, bursts of 500)
//! is far above what one provider sends to one sender, and stops one host from scanning
//! tokens or hammering the preference page. Counters live in memory per instance.

use crate::server::config::LimitSettings;
use crate::server::conn_limit::client_key;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The client's address: the peer, or — when the peer is a trusted proxy — the right-most
/// untrusted address of `X-Forwarded-For`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if trusted.is_empty() || !trusted.iter().any(|n| n.contains(&peer)) {
        return peer;
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(v) = value.to_str() else { return client };
        for part in v.rsplit(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) if trusted.iter().any(|n| n.contains(&ip)) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
    }
    client
}

/// Per-client limits of one instance: the recipient routes' rate, the sign-in rate, and
/// the sign-ins being checked at once.
#[derive(Clone)]
pub struct Limiter {
    recipient: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    sign_in: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    sign_in_slots: Arc<tokio::sync::Semaphore>,
    trusted: Arc<Vec<IpNet>>,
    /// Requests for mail on `/manage` and `/s/{list}` per client.
    forms: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

/// Forgets idle keys of a limiter every minute so its table stays small.
fn prune(limiter: &Arc<DefaultKeyedRateLimiter<IpAddr>>) {
    let weak = Arc::downgrade(limiter);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(l) = weak.upgrade() else { break };
            l.retain_recent();
            l.shrink_to_fit();
        }
    });
}

impl Limiter {
    pub fn new(s: &LimitSettings) -> Result<Self, String> {
        let recipient = NonZeroU32::new(s.recipient_rate_per_ip).map(|rate| {
            let burst = NonZeroU32::new(s.recipient_burst.max(1))
                .unwrap_or(rate)
                .max(rate);
            let limiter = Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ));
            prune(&limiter);
            limiter
        });
        let sign_in = NonZeroU32::new(s.sign_in_per_minute).map(|rate| {
            let limiter = Arc::new(RateLimiter::keyed(Quota::per_minute(rate)));
            prune(&limiter);
            limiter
        });
        let forms = NonZeroU32::new(s.form_requests_per_minute).map(|rate| {
            let limiter = Arc::new(RateLimiter::keyed(Quota::per_minute(rate)));
            prune(&limiter);
            limiter
        });
        Ok(Self {
            recipient,
            forms,
            sign_in,
            sign_in_slots: Arc::new(tokio::sync::Semaphore::new(
                s.sign_in_concurrency.max(1) as usize
            )),
            trusted: Arc::new(s.proxies()?),
        })
    }

    /// Whether a client (by address, IPv6 by /64) may ask for one more mail now.
    pub fn allow_form(&self, client: IpAddr) -> bool {
        self.forms
            .as_ref()
            .is_none_or(|l| l.check_key(&client_key(client)).is_ok())
    }

    /// The client address of a request (see [`client_ip`]).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted)
    }
}

/// Whether a path belongs to the recipient surface: links, the page's server functions
/// and the lists' branding assets (`/l/{list}/logo`, `/l/{list}/theme.css`).
fn is_recipient_path(path: &str) -> bool {
    path.starts_with("/u/")
        || path.starts_with("/l/")
        || path.starts_with("/m/")
        || path.starts_with("/s/")
        || path.starts_with("/c/")
        || path == "/manage"
        || path == "/api/save_preferences"
}

/// Middleware for the recipient surface (`/u/*`, `/l/*` and the preference page's server
/// functions): 429 with `Retry-After` once an address exceeds its rate.
pub async fn recipient(
    State(limiter): State<Limiter>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(l) = limiter
        .recipient
        .as_ref()
        .filter(|_| is_recipient_path(req.uri().path()))
    {
        // IPv6 clients by their /64: one host usually holds the whole network.
        let ip = crate::server::conn_limit::client_key(limiter.client(peer.ip(), req.headers()));
        if let Err(not_until) = l.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(route = "recipient", "per-IP rate limit exceeded");
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests from your address; try again in a moment.\n",
            )
                .into_response();
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
    }
    next.run(req).await
}

/// The sign-in endpoint (the login page's server function).
pub const SIGN_IN_PATH: &str = "/api/login";

/// A refusal of a sign-in as the dashboard shows it: a small page for a browser's plain
/// form POST (no JavaScript); for the page's own requests the message in the server
/// functions' error encoding, which the login form shows under its fields.
fn sign_in_refusal(
    status: StatusCode,
    retry_after: Duration,
    headers: &HeaderMap,
    title: &str,
    message: &str,
) -> Response {
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut resp = if html {
        super::page::dashboard_page(status, title, message)
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("ServerError|{message}"),
        )
            .into_response()
    };
    let secs = retry_after.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The largest sign-in form read (an address and a password).
const SIGN_IN_BODY_LIMIT: usize = 16 << 10;

/// Middleware for the sign-in endpoint: a client (IPv4 address, IPv6 /64) over its rate
/// gets 429 before its body is read; then the form is read, and when
/// `sign_in_concurrency` sign-ins are already being checked it gets 503 at once, before
/// anything is looked up or hashed. The slot is held while the sign-in runs, so the
/// password hashes in flight never exceed it; it is taken only once the form has
/// arrived, so slow senders cannot hold the slots.
pub async fn sign_in(
    State(limiter): State<Limiter>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() != SIGN_IN_PATH {
        return next.run(req).await;
    }
    if let Some(l) = &limiter.sign_in {
        let key = client_key(limiter.client(peer.ip(), req.headers()));
        if let Err(not_until) = l.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(route = "sign-in", "per-client sign-in rate exceeded");
            return sign_in_refusal(
                StatusCode::TOO_MANY_REQUESTS,
                wait,
                req.headers(),
                "Too many sign-in attempts",
                &format!(
                    "Too many sign-in attempts from your network; wait {} seconds and try again.",
                    wait.as_secs().max(1)
                ),
            );
        }
    }
    let (parts, body) = req.into_parts();
    let Ok(form) = axum::body::to_bytes(body, SIGN_IN_BODY_LIMIT).await else {
        return sign_in_refusal(
            StatusCode::BAD_REQUEST,
            Duration::from_secs(1),
            &parts.headers,
            "Sign-in failed",
            "The sign-in form could not be read (too large, or cut off); try again.",
        );
    };
    let req = Request::from_parts(parts, axum::body::Body::from(form));
    let Ok(_slot) = limiter.sign_in_slots.clone().try_acquire_owned() else {
        tracing::warn!(
            route = "sign-in",
            "sign-in refused: every checking slot is busy"
        );
        return sign_in_refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(2),
            req.headers(),
            "Sign-in is busy",
            "The server is checking other sign-ins right now; try again in a few seconds.",
        );
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        LimitSettings {
            trusted_proxies: s.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
        .proxies()
        .unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &xff("198.51.100.1"), &[]), peer);
        assert_eq!(
            client_ip(peer, &xff("198.51.100.1"), &nets(&["10.0.0.0/8"])),
            peer
        );
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_address() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = nets(&["10.0.0.0/8", "192.0.2.7"]);
        // A client cannot spoof its way in by prepending addresses.
        let h = xff("1.1.1.1, 198.51.100.1, 192.0.2.7");
        assert_eq!(
            client_ip(peer, &h, &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // Only proxies: the left-most proxy is the best we know.
        assert_eq!(
            client_ip(peer, &xff("10.1.1.1"), &trusted),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(client_ip(peer, &xff("nonsense"), &trusted), peer);
    }

    #[test]
    fn bad_proxy_entries_are_named() {
        let s = LimitSettings {
            trusted_proxies: vec!["10.0.0.0/33".into()],
            ..Default::default()
        };
        assert!(s.proxies().unwrap_err().contains("10.0.0.0/33"));
    }
}
