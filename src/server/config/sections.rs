//! The sections of [`super::Settings`] that belong to one part of the server: the SMTP
//! listener, the abuse limits of the HTTP surface, the relay and the webhook outbox. They
//! are flattened into the one settings namespace (`smtp_*`, `relay_*`, `webhook_*`).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// SMTP listener settings (`smtp_*` in `optbox.toml`, `OPTBOX_SMTP_*` in the
/// environment); `smtp_listen` itself is in [`crate::server::config::Settings`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The name in the greeting and the EHLO reply.
    pub smtp_hostname: String,
    /// PEM certificate chain and private key; STARTTLS is offered only when both are set.
    pub smtp_tls_cert: Option<PathBuf>,
    pub smtp_tls_key: Option<PathBuf>,
    /// Require AUTH before MAIL. Turning it off is allowed only on a loopback listener.
    pub smtp_require_auth: bool,
    /// The SIZE limit of one message (DATA), in bytes.
    pub smtp_max_message_bytes: usize,
    /// Recipients per message (SES allows 50).
    pub smtp_max_recipients: usize,
    /// How long the server waits for the client's next bytes (command or DATA).
    pub smtp_timeout_secs: u64,
    /// Concurrent connections; more are answered `421` and closed.
    pub smtp_max_connections: usize,
    /// Concurrent connections from one client (IPv4 address, IPv6 /64); more are
    /// answered `421` and closed.
    pub smtp_max_connections_per_ip: usize,
    /// With `smtp_require_auth`, a session must authenticate within this many seconds of
    /// connecting, or it is closed with `421`.
    pub smtp_auth_timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            smtp_hostname: "optbox".into(),
            smtp_tls_cert: None,
            smtp_tls_key: None,
            smtp_require_auth: true,
            smtp_max_message_bytes: 10 << 20,
            smtp_max_recipients: 50,
            smtp_timeout_secs: 120,
            smtp_max_connections: 256,
            smtp_max_connections_per_ip: 32,
            smtp_auth_timeout_secs: 30,
        }
    }
}

/// `recipient_rate_per_ip`, `recipient_burst`, `sign_in_per_minute`,
/// `sign_in_concurrency`, `request_timeout_secs`, the connection limits (see
/// `http::serve`) and `trusted_proxies`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LimitSettings {
    /// Sustained requests per second per client (IPv4 address, IPv6 /64) on `/u/*` and
    /// `/l/*`; 0 turns the limit off.
    pub recipient_rate_per_ip: u32,
    /// Requests a client address may send at once before the sustained rate applies.
    pub recipient_burst: u32,
    /// Sign-in attempts a client (IPv4 address, IPv6 /64) may make per minute, all at
    /// once if it likes; 0 turns the limit off.
    pub sign_in_per_minute: u32,
    /// Sign-ins whose password is checked at once (each argon2id check takes ~19 MiB and
    /// a core for a moment); more are answered 503 at once. At least 1.
    pub sign_in_concurrency: u32,
    /// Every HTTP request (headers, body and handler) must finish within this.
    pub request_timeout_secs: u64,
    /// A connection must send a request's complete headers within this (also between
    /// keep-alive requests), or it is closed.
    pub header_read_timeout_secs: u64,
    /// Open HTTP connections in all; more are closed at once.
    pub max_connections: usize,
    /// Open HTTP connections per client (IPv4 address, IPv6 /64; trusted proxies are
    /// exempt); more are closed at once.
    pub max_connections_per_ip: usize,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed: the client
    /// is the right-most address in it that is not itself a trusted proxy.
    pub trusted_proxies: Vec<String>,
    /// Requests for mail (a manage link, a subscription to confirm) a client (IPv4
    /// address, IPv6 /64) may make per minute on `/manage` and `/s/{list}`; 0 turns the
    /// limit off. A sender's site posting its visitors' sign-ups comes from one address,
    /// so this is generous: the per-address limit is what stops mail bombing.
    pub form_requests_per_minute: u32,
    /// Mails of each kind one address can be sent per day, however many clients ask.
    pub form_mails_per_address_per_day: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            recipient_rate_per_ip: 50,
            recipient_burst: 500,
            sign_in_per_minute: 10,
            sign_in_concurrency: 2,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_connections: 4096,
            max_connections_per_ip: 128,
            trusted_proxies: Vec::new(),
            form_requests_per_minute: 30,
            form_mails_per_address_per_day: 3,
        }
    }
}

impl LimitSettings {
    /// The trusted proxies as networks, or the entry that is neither an address nor a CIDR.
    pub fn proxies(&self) -> Result<Vec<IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("trusted_proxies: {s:?} is not an IP address or CIDR range")
                    })
            })
            .collect()
    }
}

/// Relay settings (`relay_*` in `optbox.toml`, `OPTBOX_RELAY_*` in the environment);
/// `relay_url` itself is in [`crate::server::config::Settings`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RelaySettings {
    /// Run the relay worker in `optbox serve` (several instances may all run it).
    pub relay_worker: bool,
    /// Timeout for reaching the upstream; a whole SMTP transaction gets three times it.
    pub relay_timeout_ms: u64,
    /// First retry delay after a temporary failure; doubles per attempt up to
    /// `relay_retry_max_ms`, with jitter.
    pub relay_retry_base_ms: u64,
    pub relay_retry_max_ms: u64,
    /// How long temporary failures are retried before the message is failed.
    pub relay_retry_window_secs: u64,
    /// How often an idle worker looks for due messages.
    pub relay_poll_ms: u64,
    /// SMTP transactions in flight per instance (also the connection pool size).
    pub relay_concurrency: usize,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            relay_worker: true,
            relay_timeout_ms: 60_000,
            relay_retry_base_ms: 30_000,
            relay_retry_max_ms: 3_600_000,
            relay_retry_window_secs: 5 * 86_400,
            relay_poll_ms: 100,
            relay_concurrency: 16,
        }
    }
}

impl RelaySettings {
    /// How long a claim keeps other instances off a message: longer than one SMTP
    /// transaction (connect, EHLO, TLS, AUTH, MAIL, RCPT, DATA, each up to the timeout).
    pub fn lease_ms(&self) -> i64 {
        (8 * self.relay_timeout_ms + 5_000) as i64
    }

    /// The delay before retry number `attempt` (1 = after the first failure), before
    /// jitter: base · 2^(attempt−1), capped.
    pub fn retry_delay_ms(&self, attempt: i64) -> u64 {
        let exp = (attempt.max(1) - 1).min(40) as u32;
        self.relay_retry_base_ms
            .saturating_mul(1u64 << exp)
            .min(self.relay_retry_max_ms)
    }
}

/// Webhook delivery settings (`webhook_*` in `optbox.toml`, `OPTBOX_WEBHOOK_*` in the
/// environment).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Run the delivery worker in `optbox serve` (several instances may all run it).
    pub webhook_worker: bool,
    /// Whole-request timeout of one attempt.
    pub webhook_timeout_ms: u64,
    /// First retry delay; doubles per attempt up to `webhook_retry_max_ms`, with jitter.
    pub webhook_retry_base_ms: u64,
    pub webhook_retry_max_ms: u64,
    /// How long a delivery is retried before it is dead-lettered.
    pub webhook_retry_window_secs: u64,
    /// How often an idle worker looks for due deliveries.
    pub webhook_poll_ms: u64,
    /// Requests in flight per instance.
    pub webhook_concurrency: usize,
    /// Let webhooks reach loopback, private, link-local and other non-public addresses
    /// (off: such addresses are refused when a URL is saved and at every connection).
    pub webhook_allow_private: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            webhook_worker: true,
            webhook_timeout_ms: 10_000,
            webhook_retry_base_ms: 5_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_retry_window_secs: 86_400,
            webhook_poll_ms: 100,
            webhook_concurrency: 64,
            webhook_allow_private: false,
        }
    }
}

impl WebhookSettings {
    /// How long a claim keeps other instances off a delivery: longer than any attempt.
    pub fn lease_ms(&self) -> i64 {
        (2 * self.webhook_timeout_ms + 2_000) as i64
    }

    /// The delay before retry number `attempt` (1 = after the first failure), before
    /// jitter: base · 2^(attempt−1), capped.
    pub fn retry_delay_ms(&self, attempt: i64) -> u64 {
        let exp = (attempt.max(1) - 1).min(40) as u32;
        self.webhook_retry_base_ms
            .saturating_mul(1u64 << exp)
            .min(self.webhook_retry_max_ms)
    }
}

/// The inbound listener (an MX) for unsubscribe mail, bounces and complaints, and the
/// relay's breaker. STARTTLS, the host name and the size, time and connection limits are
/// the SMTP listener's (`smtp_*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InboundSettings {
    /// Where the inbound listener accepts mail from the internet; off when unset.
    pub inbound_listen: Option<SocketAddr>,
    /// The domain of the addresses optbox issues (unsubscribe, VERP bounce); its MX
    /// points at `inbound_listen`. Unset: no mailto unsubscribe, no VERP.
    pub inbound_domain: Option<String>,
    /// A further address the feedback-loop reports are sent to (besides `abuse@` and
    /// `postmaster@` of `inbound_domain`).
    pub inbound_report_address: Option<String>,
    /// The breaker: when more than this share of the relay's recent deliveries failed
    /// permanently, the relay pauses until an operator resumes it (0 turns it off).
    pub relay_breaker_share: f64,
    /// How many recent deliveries the share is taken over (at least this many must be
    /// known before the breaker can trip).
    pub relay_breaker_window: usize,
}

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            inbound_listen: None,
            inbound_domain: None,
            inbound_report_address: None,
            relay_breaker_share: 0.1,
            relay_breaker_window: 200,
        }
    }
}

impl InboundSettings {
    /// The issued addresses' domain, lower-cased, when set.
    pub fn domain(&self) -> Option<String> {
        self.inbound_domain
            .as_deref()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
    }

    pub(super) fn check(&self) -> Result<(), String> {
        if let Some(d) = self.domain() {
            let ok = d.contains('.')
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !ok || d.len() > 200 {
                return Err(format!(
                    "inbound_domain {d:?} is not a domain name (like bounces.example.com)"
                ));
            }
        }
        if self.inbound_listen.is_some() && self.domain().is_none() {
            return Err("inbound_listen needs inbound_domain: the listener accepts only the addresses optbox issues under it".into());
        }
        if let Some(a) = &self.inbound_report_address
            && a.parse::<lettre::Address>().is_err()
        {
            return Err(format!(
                "inbound_report_address {a:?} is not an email address"
            ));
        }
        if !(0.0..=1.0).contains(&self.relay_breaker_share) {
            return Err(
                "relay_breaker_share must be between 0 and 1 (0 turns the breaker off)".into(),
            );
        }
        if self.relay_breaker_window < 10 {
            return Err("relay_breaker_window must be at least 10".into());
        }
        Ok(())
    }
}
