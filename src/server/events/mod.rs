//! Webhook delivery: the payload (the SES `Subscription` event shape plus `eventId`), the
//! `Optbox-Signature` header, the retry schedule, and how one delivery is made for the
//! outbox worker every `optbox serve` runs (`server::outbox`). The outbox itself is in
//! `store/webhooks.rs` and `store/outbox.rs`; why enqueueing is durable, in
//! `store/events.rs`.

pub mod destination;

pub use destination::{UrlRules, check_url};

use crate::server::config::WebhookSettings;
use crate::server::outbox;
use crate::server::store::{
    ClaimedDelivery, DeliveryOutcome, DynStore, EventRecord, SendInfo, SendRecord, StoreError,
    now_ms,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The event kinds a webhook can subscribe to.
pub const EVENT_KINDS: &[&str] = &[
    "subscription",
    "subscription.confirmed",
    "pause",
    "resume",
    "unsubscribe.reason",
    "contact.created",
    "contact.deleted",
    "import",
    "webhook.failed",
    "send",
    "reject",
    "send.warning",
    "delivery.failed",
    "bounce",
    "complaint",
    "suppression.put",
    "suppression.delete",
    "relay.paused",
    "relay.resumed",
    "inbound.message",
    "rendering.failure",
];

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    let mac = m.finalize().into_bytes();
    format!("t={t},v1={}", crate::server::hex::encode(&mac))
}

/// Unix milliseconds as RFC 3339 (UTC).
pub fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Stored preferences (`{"unsubscribe_all", "topics": [{"topic", "status"}]}`) in the SES
/// event shape (`OptIn`/`OptOut`).
fn ses_prefs(stored: Option<&str>) -> Option<Value> {
    let v: Value = serde_json::from_str(stored?).ok()?;
    let topics: Vec<Value> = v["topics"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    json!({
                        "topicName": t["topic"],
                        "subscriptionStatus": if t["status"] == "OPT_IN" { "OptIn" } else { "OptOut" },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(json!({
        "unsubscribeAll": v["unsubscribe_all"].as_bool().unwrap_or(false),
        "topicSubscriptionStatus": topics,
    }))
}

/// The event-log source as the SES event spells it: `UnsubscribeHeader` as AWS does,
/// labelled extensions for the rest.
fn ses_source(source: Option<&str>) -> &str {
    match source {
        Some("LandingPage") => "UnsubscribeLandingPage",
        Some("Api") => "SesApi",
        Some("Admin") => "AdminDashboard",
        Some(other) => other,
        None => "Unknown",
    }
}

fn event_type(kind: &str) -> String {
    kind.split(['.', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The webhook body of an event: for `subscription` the SES `Subscription` event (with
/// `mail.destination` when the contact is known), for other kinds the same envelope
/// with their own `eventType`; always `eventId` (the event-log id, stable across
/// retries: de-duplicate on it) and an `optbox` object with the log entry's fields.
pub fn payload(e: &EventRecord) -> Value {
    payload_with(e, None)
}

/// As [`payload`], with the send record the event names (`send_id`): its whole `mail`
/// object (tags, configuration set, time) goes into the event, as SES's does.
pub fn payload_with(e: &EventRecord, send: Option<&SendRecord>) -> Value {
    let detail: Value = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
    let mut new_prefs = ses_prefs(e.new_prefs.as_deref());
    // An opt-out of an address with no contact is kept as a tombstone.
    if new_prefs.is_none()
        && let Some(t) = detail.get("tombstone").filter(|t| t.is_object())
    {
        let topics: Vec<Value> = t["opted_out_topics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| json!({"topicName": n, "subscriptionStatus": "OptOut"}))
                    .collect()
            })
            .unwrap_or_default();
        new_prefs = Some(json!({
            "unsubscribeAll": t["unsubscribe_all"].as_bool().unwrap_or(false),
            "topicSubscriptionStatus": topics,
        }));
    }
    let mut out = json!({
        "eventId": e.id.to_string(),
        "eventType": if e.kind == "subscription" { "Subscription".to_owned() } else { event_type(&e.kind) },
    });
    if let Some(email) = &e.contact_email {
        out["mail"] = json!({ "destination": [email] });
    }
    // An event a message caused (an unsubscribe by mail, a send) names it in `mail`, as
    // SES does; bounces and complaints carry their send record's whole `mail` object.
    if let Some(mid) = &e.message_id {
        if !out["mail"].is_object() {
            out["mail"] = json!({});
        }
        out["mail"]["messageId"] = json!(mid);
        if let Some(set) = &e.configuration_set {
            out["mail"]["tags"] = json!({ "ses:configuration-set": [set] });
        }
    }
    if let Some(mail) = detail.get("mail").filter(|m| m.is_object()) {
        out["mail"] = mail.clone();
    } else if let Some(r) = send {
        out["mail"] = mail_object(r);
    }
    match e.kind.as_str() {
        "bounce" => {
            let mut r = json!({ "emailAddress": detail["recipient"] });
            if let Some(s) = detail["status"].as_str() {
                r["status"] = json!(s);
                r["action"] = json!(if s.starts_with('5') {
                    "failed"
                } else {
                    "delayed"
                });
            }
            if let Some(d) = detail["diagnosticCode"].as_str() {
                r["diagnosticCode"] = json!(d);
            }
            out["bounce"] = json!({
                "bounceType": detail["bounceType"],
                "bounceSubType": detail["bounceSubType"],
                "bouncedRecipients": [r],
                "timestamp": iso(e.created_at),
                "feedbackId": detail.get("feedbackId").cloned().unwrap_or_else(|| json!(e.id.to_string())),
            });
        }
        "rendering.failure" => {
            out["eventType"] = json!("Rendering Failure");
            out["failure"] = json!({
                "templateName": detail["templateName"],
                "errorMessage": detail["errorMessage"],
            });
        }
        "complaint" => {
            out["complaint"] = json!({
                "complainedRecipients": [{ "emailAddress": detail["recipient"] }],
                "timestamp": iso(e.created_at),
                "feedbackId": detail.get("feedbackId").cloned().unwrap_or_else(|| json!(e.id.to_string())),
                "complaintFeedbackType": detail["complaintFeedbackType"],
            });
        }
        _ => {}
    }
    if e.kind == "subscription" {
        let mut sub = json!({
            "contactList": e.list_name,
            "timestamp": iso(e.created_at),
            "source": ses_source(e.source.as_deref()),
        });
        if let Some(p) = new_prefs {
            sub["newTopicPreferences"] = p;
        }
        if let Some(p) = ses_prefs(e.old_prefs.as_deref()) {
            sub["oldTopicPreferences"] = p;
        }
        out["subscription"] = sub;
    }
    out["optbox"] = json!({
        "kind": e.kind,
        "timestamp": iso(e.created_at),
        "source": e.source,
        "actor": e.actor.as_ref().map(|a| json!({ "type": a, "id": e.actor_id })),
        "messageId": e.message_id,
        "requestId": e.request_id,
        "contactList": e.list_name,
        "topicName": e.topic_name,
        "contact": e.contact_email,
        "detail": detail,
    });
    out
}

/// The SES `mail` object of a send record: the message, its recipient, its tags (and
/// configuration set, as SES's `ses:configuration-set` tag).
pub fn mail_object(r: &SendRecord) -> serde_json::Value {
    mail_object_of(
        &r.message_id,
        r.created_at,
        r.info.identity.as_deref(),
        &[r.rcpt.as_str()],
        &r.info,
    )
}

/// SES's `mail` object of a message: `timestamp`, `messageId`, `source`, `destination`
/// and `tags` (EmailTags, and the configuration set as `ses:configuration-set`).
pub fn mail_object_of(
    message_id: &str,
    created_at: i64,
    source: Option<&str>,
    destination: &[&str],
    info: &SendInfo,
) -> serde_json::Value {
    let mut tags = serde_json::Map::new();
    for (k, v) in &info.tags {
        if let Some(a) = tags
            .entry(k.clone())
            .or_insert_with(|| json!([]))
            .as_array_mut()
        {
            a.push(json!(v));
        }
    }
    if let Some(c) = &info.configuration_set {
        tags.insert("ses:configuration-set".into(), json!([c]));
    }
    let timestamp = time::OffsetDateTime::from_unix_timestamp_nanos(created_at as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    json!({
        "timestamp": timestamp,
        "messageId": message_id,
        "source": source,
        "destination": destination,
        "tags": tags,
    })
}

/// Builds the HTTP client webhook requests use. Unless `rules` allow private addresses
/// its resolver drops non-public addresses, and it uses no proxy (a proxy would resolve
/// and connect on optbox's behalf, past that check).
pub fn client(s: &WebhookSettings, rules: UrlRules) -> reqwest::Client {
    let timeout = Duration::from_millis(s.webhook_timeout_ms.max(1));
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("optbox-webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(s.webhook_concurrency.max(1));
    if !rules.allow_private {
        b = b.dns_resolver(Arc::new(destination::PublicOnly)).no_proxy();
    }
    b.build().expect("static client configuration")
}

/// What the dashboard, the CLI and the delivery log show for an attempt that got no HTTP
/// answer. The cause (refused, timed out, DNS, a refused address) is logged, not shown:
/// telling them apart would let whoever can add a webhook probe hosts and ports.
pub const NO_ANSWER: &str = "no answer from the destination (the server log has the reason)";

/// Why an attempt failed: the HTTP status when there was one, the text users are shown,
/// and the detail for the server log.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: Option<u16>,
    pub shown: String,
    pub detail: String,
}

/// The answer of one attempt: the HTTP status, or why there was none.
pub type SendResult = Result<u16, Failure>;

/// Sends one signed payload; success is any 2xx. The URL is checked against `rules`
/// again (it may have been saved under other settings).
pub async fn send(
    client: &reqwest::Client,
    rules: UrlRules,
    url: &str,
    secret: &str,
    event_id: &str,
    attempt: i64,
    body: Vec<u8>,
) -> SendResult {
    let url = match check_url(url, rules) {
        Ok(u) => u,
        Err(why) => {
            return Err(Failure {
                status: None,
                shown: why.clone(),
                detail: why,
            });
        }
    };
    let t = now_ms() / 1000;
    let sig = signature(secret.as_bytes(), t, &body);
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("optbox-signature", sig)
        .header("optbox-event-id", event_id)
        .header("optbox-delivery-attempt", attempt.to_string())
        .body(body)
        .send()
        .await;
    match resp {
        Ok(r) => {
            let status = r.status().as_u16();
            // Read the (small) answer so the connection can be reused.
            let _ = r.bytes().await;
            if (200..300).contains(&status) {
                Ok(status)
            } else {
                Err(Failure {
                    status: Some(status),
                    shown: format!("HTTP {status}"),
                    detail: format!("HTTP {status}"),
                })
            }
        }
        Err(e) => {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            // reqwest's message hides the cause (refused, TLS, DNS): append the chain.
            let mut msg = format!("{kind}: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                msg.push_str(&format!(": {c}"));
                cause = c.source();
            }
            msg.truncate(500);
            Err(Failure {
                status: None,
                shown: NO_ANSWER.into(),
                detail: msg,
            })
        }
    }
}

/// The send record an event names, when its payload needs it (the event does not carry
/// its `mail` object already). A record that cannot be read leaves the payload without it.
async fn send_record_of(store: &DynStore, e: &EventRecord) -> Option<SendRecord> {
    let id = e.send_id?;
    if e.detail.contains("\"mail\":") {
        return None;
    }
    match store.get_send_record(id).await {
        Ok(r) => Some(r),
        Err(StoreError::NotFound) => None,
        Err(err) => {
            tracing::warn!(error = %err, event = e.id, "webhook payload without its send record");
            None
        }
    }
}

async fn attempt(
    store: &DynStore,
    client: &reqwest::Client,
    s: &WebhookSettings,
    rules: UrlRules,
    c: ClaimedDelivery,
) -> DeliveryOutcome {
    let record = send_record_of(store, &c.event).await;
    let body = serde_json::to_vec(&payload_with(&c.event, record.as_ref())).unwrap_or_default();
    let result = send(
        client,
        rules,
        &c.webhook.url,
        &c.webhook.secret,
        &c.event.id.to_string(),
        c.attempt,
        body,
    )
    .await;
    match result {
        Ok(status) => DeliveryOutcome::Delivered {
            id: c.id,
            http_status: status as i64,
        },
        Err(Failure {
            status,
            shown,
            detail,
        }) => {
            let now = now_ms();
            let window_ms = (s.webhook_retry_window_secs as i64).saturating_mul(1000);
            let retry_at = if now - c.created_at >= window_ms {
                None
            } else {
                use rand::Rng;
                let d = s.retry_delay_ms(c.attempt);
                let jittered = rand::thread_rng().gen_range(d / 2..=d.max(1));
                Some(now + jittered as i64)
            };
            tracing::warn!(
                webhook = c.webhook.id,
                event = c.event.id,
                attempt = c.attempt,
                dead = retry_at.is_none(),
                error = %detail,
                "webhook delivery failed"
            );
            DeliveryOutcome::Failed {
                id: c.id,
                attempt: c.attempt,
                webhook_id: c.webhook.id,
                event_id: c.event.id,
                http_status: status.map(i64::from),
                error: shown,
                retry_at,
            }
        }
    }
}

/// A running outbox worker.
pub use outbox::Worker;

/// The webhook outbox as the worker drains it.
struct Deliveries {
    store: DynStore,
    client: reqwest::Client,
    settings: WebhookSettings,
    rules: UrlRules,
}

#[async_trait::async_trait]
impl outbox::Outbox for Deliveries {
    type Item = ClaimedDelivery;
    type Outcome = DeliveryOutcome;
    type Error = StoreError;

    async fn due(&self, now: i64) -> Result<bool, StoreError> {
        self.store.deliveries_due(now).await
    }

    async fn claim(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        self.store.claim_deliveries(now, lease_until, limit).await
    }

    fn span(&self, c: &ClaimedDelivery) -> tracing::Span {
        tracing::info_span!(
            "webhook_delivery",
            delivery_id = c.id,
            attempt = c.attempt,
            event_id = c.event.id,
            event = %c.event.kind,
            webhook_id = c.webhook.id,
        )
    }

    async fn deliver(&self, c: ClaimedDelivery) -> DeliveryOutcome {
        let o = attempt(&self.store, &self.client, &self.settings, self.rules, c).await;
        let outcome = match &o {
            DeliveryOutcome::Delivered { .. } => "delivered",
            DeliveryOutcome::Failed {
                retry_at: Some(_), ..
            } => "retry",
            DeliveryOutcome::Failed { .. } => "dead",
        };
        metrics::counter!("optbox_webhook_deliveries_total", "outcome" => outcome).increment(1);
        o
    }

    async fn record(&self, outcomes: &[DeliveryOutcome]) -> Result<(), StoreError> {
        self.store.finish_deliveries(outcomes).await
    }
}

/// Starts the outbox worker: claims due deliveries, sends them with up to
/// `webhook_concurrency` requests in flight, and records outcomes in batches. Deliveries
/// claimed by a process that dies are retried by any instance when their lease ends.
pub fn start_worker(store: DynStore, s: WebhookSettings, rules: UrlRules) -> Worker {
    let worker = outbox::Settings {
        concurrency: s.webhook_concurrency,
        poll: Duration::from_millis(s.webhook_poll_ms),
        lease_ms: s.lease_ms(),
        claim_batch: 256,
        record_batch: 1024,
        names: outbox::Names {
            unavailable: "webhook outbox unavailable",
            cannot_claim: "cannot claim webhook deliveries",
            cannot_record: "cannot record webhook outcomes",
        },
    };
    let deliveries = Deliveries {
        store,
        client: client(&s, rules),
        settings: s,
        rules,
    };
    outbox::start(Arc::new(deliveries), worker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Checked with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec
        let s = signature(b"whsec", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            s,
            "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
    }

    #[test]
    fn retries_double_up_to_the_cap_and_cover_a_day() {
        let s = WebhookSettings::default();
        assert_eq!(s.retry_delay_ms(1), 5_000);
        assert_eq!(s.retry_delay_ms(2), 10_000);
        assert_eq!(s.retry_delay_ms(30), 3_600_000);
        assert!(s.lease_ms() > s.webhook_timeout_ms as i64);
    }

    #[test]
    fn subscription_events_take_the_ses_shape() {
        let e = EventRecord {
            id: 7,
            created_at: 1_700_000_000_123,
            kind: "subscription".into(),
            source: Some("UnsubscribeHeader".into()),
            list_name: Some("news".into()),
            topic_name: Some("weekly".into()),
            contact_email: Some("a@example.com".into()),
            old_prefs: Some(
                r#"{"unsubscribe_all":false,"topics":[{"topic":"weekly","status":"OPT_IN"}]}"#
                    .into(),
            ),
            new_prefs: Some(
                r#"{"unsubscribe_all":false,"topics":[{"topic":"weekly","status":"OPT_OUT"}]}"#
                    .into(),
            ),
            ip_hash: None,
            user_agent: None,
            detail: "{}".into(),
            actor: Some("recipient".into()),
            actor_id: None,
            message_id: None,
            configuration_set: None,
            send_id: None,
            request_id: Some("req-1".into()),
        };
        let p = payload(&e);
        assert_eq!(p["optbox"]["requestId"], "req-1");
        assert_eq!(p["eventId"], "7");
        assert_eq!(p["eventType"], "Subscription");
        assert_eq!(p["mail"]["destination"][0], "a@example.com");
        assert_eq!(p["optbox"]["actor"]["type"], "recipient");
        assert!(p["optbox"]["messageId"].is_null());
        let sub = &p["subscription"];
        assert_eq!(sub["contactList"], "news");
        assert_eq!(sub["source"], "UnsubscribeHeader");
        assert_eq!(sub["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(
            sub["oldTopicPreferences"]["topicSubscriptionStatus"][0]["subscriptionStatus"],
            "OptIn"
        );
        assert_eq!(
            sub["newTopicPreferences"]["topicSubscriptionStatus"][0]["subscriptionStatus"],
            "OptOut"
        );
        assert!(p["mail"].get("messageId").is_none());
        assert_eq!(event_type("contact.created"), "ContactCreated");
        // An unsubscribe by mail names the message it came from, as SES's `mail` does.
        let by_mail = EventRecord {
            source: Some("Mailto".into()),
            message_id: Some("0100abc-000000".into()),
            ..e
        };
        let p = payload(&by_mail);
        assert_eq!(p["mail"]["messageId"], "0100abc-000000");
        assert_eq!(p["mail"]["destination"][0], "a@example.com");
        assert_eq!(p["subscription"]["source"], "Mailto");
        // With the send record it names, the event carries the message's whole `mail`.
        let record = SendRecord {
            id: 5,
            message_id: "0100abc-000000".into(),
            rcpt: "a@example.com".into(),
            info: SendInfo {
                list_name: Some("news".into()),
                topic_name: None,
                identity: Some("example.com".into()),
                configuration_set: Some("marketing".into()),
                tags: vec![("campaign".into(), "spring".into())],
            },
            created_at: 1_700_000_000_000,
        };
        let linked = EventRecord {
            send_id: Some(5),
            configuration_set: Some("marketing".into()),
            ..by_mail
        };
        assert_eq!(
            payload(&linked)["mail"]["tags"]["ses:configuration-set"][0],
            "marketing"
        );
        let p = payload_with(&linked, Some(&record));
        assert_eq!(p["mail"]["messageId"], "0100abc-000000");
        assert_eq!(p["mail"]["tags"]["campaign"][0], "spring");
        assert_eq!(p["mail"]["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(p["mail"]["source"], "example.com");
    }
}
