//! The durable relay queue: messages accepted from the pipeline are stored before the
//! sender is answered, then handed to the upstream SMTP server (`relay_url`) by a worker,
//! retried with backoff, or kept in the local outbox when no upstream is configured.
//!
//! Delivery is at least once: a row is marked sent right after the upstream's 250, so
//! only a message whose 250 arrived in the instant before the process was killed can be
//! sent twice (the row's lease runs out and another attempt is made).

use super::upstream::Upstream;
use crate::server::config::RelaySettings;
use crate::server::outbox;
use crate::server::store::SendInfo;
use crate::server::store::{
    ClaimedMail, DynStore, MailOutcome, MailRecord, MailState, NewMail, StoreError, StoreResult,
    now_ms,
};
use lettre::address::Envelope;
use std::sync::Arc;
use std::time::Duration;

/// A message ready for the relay queue: one envelope recipient, final bytes.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The id of its send record (`issued::new_send_id`).
    pub send_id: i64,
    pub message_id: String,
    pub mail_from: String,
    pub rcpt: String,
    pub data: Vec<u8>,
    /// What its send record holds besides the message id and the recipient.
    pub send: SendInfo,
    /// The submission's events, on its first copy: written with the queue rows.
    pub events: Option<std::sync::Arc<crate::server::store::SubmissionEvents>>,
}

/// A new SES-like opaque message id: time-ordered hex, random part, `-000000`.
pub fn new_message_id() -> String {
    use rand::RngCore;
    let mut r = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut r);
    let h = crate::server::hex::encode(&r);
    format!(
        "0100{:012x}-{}-{}-{}-{}-{}-000000",
        now_ms(),
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Stores `msgs` durably (committed before this returns) and returns their message ids,
/// in order. Messages without a message id get one, shared by all of this call's
/// messages that lack one (the copies of one submission). Without an upstream
/// (`relay_url`) they go to the local outbox instead of the queue.
pub async fn enqueue(
    store: &DynStore,
    has_upstream: bool,
    msgs: &[Outgoing],
) -> Result<Vec<String>, StoreError> {
    let generated = if msgs.iter().any(|m| m.message_id.is_empty()) {
        new_message_id()
    } else {
        String::new()
    };
    let rows: Vec<NewMail> = msgs
        .iter()
        .map(|m| NewMail {
            send_id: m.send_id,
            message_id: if m.message_id.is_empty() {
                generated.clone()
            } else {
                m.message_id.clone()
            },
            mail_from: m.mail_from.clone(),
            rcpt: m.rcpt.clone(),
            data: m.data.clone(),
            state: if has_upstream {
                MailState::Queued
            } else {
                MailState::Outbox
            },
            send: m.send.clone(),
        })
        .collect();
    let events: Vec<&crate::server::store::SubmissionEvents> =
        msgs.iter().filter_map(|m| m.events.as_deref()).collect();
    store.enqueue_mail_with(&rows, &events).await?;
    Ok(rows.into_iter().map(|r| r.message_id).collect())
}

/// Outbox and queue listing for the dashboard and the CLI: newest first, keyset-paged
/// by id (pass the last id of the previous page as `before_id`).
pub async fn list(
    store: &DynStore,
    state: Option<MailState>,
    before_id: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<MailRecord>> {
    store.list_mail(state, before_id, limit).await
}

/// One stored message with its raw bytes.
pub async fn get(store: &DynStore, id: i64) -> StoreResult<MailRecord> {
    store.get_mail(id).await
}

/// The upstream client built from `relay_url` (lettre's URL forms: `smtp://host:25`,
/// `smtp://user:pass@host:587?tls=required` or `?tls=opportunistic`, `smtps://host:465`).
pub fn transport(url: &str, s: &RelaySettings) -> Result<Upstream, String> {
    Upstream::from_url(url, s)
}

fn envelope(m: &ClaimedMail) -> Result<Envelope, String> {
    let from = if m.mail_from.is_empty() {
        None
    } else {
        Some(
            m.mail_from
                .parse()
                .map_err(|e| format!("invalid sender {:?}: {e}", m.mail_from))?,
        )
    };
    let to = m
        .rcpt
        .parse()
        .map_err(|e| format!("invalid recipient {:?}: {e}", m.rcpt))?;
    Envelope::new(from, vec![to]).map_err(|e| e.to_string())
}

/// What the relay tells about its deliveries (the bounce handling of `service`), and
/// whether it may deliver at all (the breaker).
#[async_trait::async_trait]
pub trait Observer: Send + Sync {
    /// The upstream accepted a message (`refused` false), or refused its recipient
    /// permanently at RCPT or DATA with this reply.
    async fn delivered(&self, m: &ClaimedMail, refused: Option<&str>);
    /// False while the relay is paused.
    async fn may_deliver(&self) -> bool;
}

/// An observer that sees nothing and never pauses (tests, tools).
pub struct NoObserver;

#[async_trait::async_trait]
impl Observer for NoObserver {
    async fn delivered(&self, _: &ClaimedMail, _: Option<&str>) {}
    async fn may_deliver(&self) -> bool {
        true
    }
}

async fn attempt(t: &Upstream, s: &RelaySettings, o: &dyn Observer, m: ClaimedMail) -> MailOutcome {
    let env = match envelope(&m) {
        Ok(e) => e,
        Err(error) => {
            return MailOutcome::Failed {
                id: m.id,
                attempt: m.attempt,
                error,
            };
        }
    };
    // lettre ends DATA with CRLF "." CRLF after the bytes: the message's own final CRLF
    // is that first CRLF, so the upstream receives exactly the stored bytes.
    let body = m.data.strip_suffix(b"\r\n").unwrap_or(&m.data);
    let err = match t.send_raw(&env, body).await {
        Ok(_) => {
            o.delivered(&m, None).await;
            return MailOutcome::Sent {
                id: m.id,
                attempt: m.attempt,
            };
        }
        Err(e) => e,
    };
    let permanent = err.permanent;
    if permanent {
        o.delivered(&m, Some(&err.message)).await;
    }
    let mut error = err.message;
    if error.len() > 500 {
        let mut cut = 500;
        while !error.is_char_boundary(cut) {
            cut -= 1;
        }
        error.truncate(cut);
    }
    let now = now_ms();
    let window_ms = (s.relay_retry_window_secs as i64).saturating_mul(1000);
    tracing::warn!(
        queue_id = m.id,
        attempt = m.attempt,
        permanent,
        %error,
        "relay attempt failed"
    );
    if permanent || now - m.created_at >= window_ms {
        MailOutcome::Failed {
            id: m.id,
            attempt: m.attempt,
            error,
        }
    } else {
        use rand::Rng;
        let d = s.retry_delay_ms(m.attempt);
        let jittered = rand::thread_rng().gen_range(d / 2..=d.max(1));
        MailOutcome::Retry {
            id: m.id,
            attempt: m.attempt,
            error,
            retry_at: now + jittered as i64,
        }
    }
}

/// A running relay worker.
pub use outbox::Worker;

/// The relay queue as the worker drains it.
struct Relay {
    store: DynStore,
    transport: Upstream,
    settings: RelaySettings,
    observer: Arc<dyn Observer>,
}

#[async_trait::async_trait]
impl outbox::Outbox for Relay {
    type Item = ClaimedMail;
    type Outcome = MailOutcome;
    type Error = StoreError;

    async fn due(&self, now: i64) -> Result<bool, StoreError> {
        if !self.observer.may_deliver().await {
            return Ok(false);
        }
        self.store.mail_due(now).await
    }

    async fn claim(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        self.store.claim_mail(now, lease_until, limit).await
    }

    fn span(&self, m: &ClaimedMail) -> tracing::Span {
        tracing::info_span!(
            "relay",
            mail_id = m.id,
            attempt = m.attempt,
            message_id = %m.message_id,
            send_id = m.send_id,
        )
    }

    async fn deliver(&self, m: ClaimedMail) -> MailOutcome {
        let o = attempt(&self.transport, &self.settings, self.observer.as_ref(), m).await;
        let outcome = match &o {
            MailOutcome::Sent { .. } => "sent",
            MailOutcome::Retry { .. } => "retry",
            MailOutcome::Failed { .. } => "failed",
        };
        metrics::counter!("optbox_relay_deliveries_total", "outcome" => outcome).increment(1);
        o
    }

    async fn record(&self, outcomes: &[MailOutcome]) -> Result<(), StoreError> {
        self.store.finish_mail(outcomes).await
    }
}

/// Starts the relay worker for `relay_url`: claims due messages, sends them through a
/// pooled lettre client with up to `relay_concurrency` transactions in flight, records
/// outcomes in batches, and tells `observer` how deliveries went.
pub fn start_worker(
    store: DynStore,
    url: &str,
    s: RelaySettings,
    observer: Arc<dyn Observer>,
) -> Result<Worker, String> {
    let worker = outbox::Settings {
        concurrency: s.relay_concurrency,
        poll: Duration::from_millis(s.relay_poll_ms),
        lease_ms: s.lease_ms(),
        claim_batch: 64,
        record_batch: 256,
        names: outbox::Names {
            unavailable: "relay queue unavailable",
            cannot_claim: "cannot claim queued mail",
            cannot_record: "cannot record relay outcomes",
        },
    };
    let relay = Relay {
        store,
        transport: transport(url, &s)?,
        settings: s,
        observer,
    };
    Ok(outbox::start(Arc::new(relay), worker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_unique_and_ses_shaped() {
        let a = new_message_id();
        let b = new_message_id();
        assert_ne!(a, b);
        assert!(a.starts_with("0100") && a.ends_with("-000000"), "{a}");
        assert_eq!(a.len(), 60, "{a}");
    }

    #[test]
    fn retries_double_up_to_the_cap() {
        let s = RelaySettings::default();
        assert_eq!(s.retry_delay_ms(1), 30_000);
        assert_eq!(s.retry_delay_ms(2), 60_000);
        assert_eq!(s.retry_delay_ms(40), 3_600_000);
        assert!(s.lease_ms() > 6 * s.relay_timeout_ms as i64);
    }

    #[test]
    fn bad_relay_urls_are_named() {
        let e = transport("http://example.com", &RelaySettings::default())
            .err()
            .unwrap();
        assert!(e.contains("relay_url"), "{e}");
    }
}
