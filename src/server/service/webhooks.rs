//! Webhook destinations (CRUD, test delivery, delivery log, replay) and event-log
//! queries. Delivery itself runs in the outbox worker (`server::events`).

use super::{ServiceError, ServiceResult};
use crate::domain::Audit;
use crate::domain::events::CONFIGURATION_KINDS;
use crate::server::config::WebhookSettings;
use crate::server::events::{self, EVENT_KINDS, UrlRules};
use crate::server::store::{
    DeliveryRecord, DeliveryStatus, EventQuery, EventRecord, NewWebhook, Store, StoreError,
    WebhookRecord, now_ms,
};

fn not_found(id: i64) -> impl Fn(StoreError) -> ServiceError {
    move |e| match e {
        StoreError::NotFound => ServiceError::NotFound(format!("no webhook with id {id}")),
        other => other.into(),
    }
}

/// Validates and stores a destination. `events` empty means every kind except
/// `webhook.failed` and the configuration kinds (`list.created`, …), which a destination
/// gets only by naming them; `all` or `*` say the same explicitly. The URL must satisfy
/// `rules` (https in production mode; no private IP literal unless allowed). A
/// `webhook.created` event says who added it.
pub async fn add(
    store: &dyn Store,
    rules: UrlRules,
    url: &str,
    secret: &str,
    events: &[String],
    list: Option<&str>,
    audit: &Audit,
) -> ServiceResult<WebhookRecord> {
    let new = validate(store, rules, url, secret, events, list).await?;
    let hook = store.create_webhook(&new).await?;
    let detail = describe(&hook, None);
    store
        .record_change(audit, "webhook.created", None, None, detail)
        .await?;
    Ok(hook)
}

/// Changes a destination (same rules as `add`); its delivery log is kept. A
/// `webhook.updated` event says who changed what.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    store: &dyn Store,
    rules: UrlRules,
    id: i64,
    url: &str,
    secret: &str,
    events: &[String],
    list: Option<&str>,
    audit: &Audit,
) -> ServiceResult<WebhookRecord> {
    let old = get(store, id).await?;
    let new = validate(store, rules, url, secret, events, list).await?;
    let hook = store
        .update_webhook(id, &new)
        .await
        .map_err(not_found(id))?;
    let detail = describe(&hook, Some(&old));
    store
        .record_change(audit, "webhook.updated", None, None, detail)
        .await?;
    Ok(hook)
}

/// Where a URL points without what may carry a credential: its scheme, host and port
/// (a path or query can hold a receiver's token).
fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => String::new(),
    }
}

/// A destination as its events describe it: id, the URL's origin, the kinds and list it
/// is subscribed to, and after a change which of `url`, `secret`, `events` and `list`
/// changed. Never the secret, nor the URL's path or query.
fn describe(hook: &WebhookRecord, old: Option<&WebhookRecord>) -> serde_json::Value {
    let mut d = serde_json::json!({
        "id": hook.id,
        "origin": origin(&hook.url),
        "events": hook.event_types,
        "list": hook.list_name,
    });
    if let Some(old) = old {
        let changed: Vec<&str> = [
            ("url", old.url != hook.url),
            ("secret", old.secret != hook.secret),
            ("events", old.event_types != hook.event_types),
            ("list", old.list_name != hook.list_name),
        ]
        .into_iter()
        .filter(|(_, c)| *c)
        .map(|(f, _)| f)
        .collect();
        d["changed"] = changed.into();
    }
    d
}

async fn validate(
    store: &dyn Store,
    rules: UrlRules,
    url: &str,
    secret: &str,
    events: &[String],
    list: Option<&str>,
) -> ServiceResult<NewWebhook> {
    let url = url.trim();
    events::check_url(url, rules).map_err(ServiceError::BadRequest)?;
    if secret.len() < 16 {
        return Err(ServiceError::BadRequest(
            "the webhook secret must be at least 16 characters".into(),
        ));
    }
    let mut kinds: Vec<String> = Vec::new();
    for e in events.iter().flat_map(|e| e.split(',')) {
        let e = e.trim();
        if e.is_empty() || e == "all" || e == "*" {
            continue;
        }
        if !EVENT_KINDS.contains(&e) && !CONFIGURATION_KINDS.contains(&e) {
            return Err(ServiceError::BadRequest(format!(
                "unknown event type {e:?}; known: {}, {}",
                EVENT_KINDS.join(", "),
                CONFIGURATION_KINDS.join(", ")
            )));
        }
        if !kinds.iter().any(|k| k == e) {
            kinds.push(e.to_owned());
        }
    }
    if let Some(l) = list {
        store.get_list(l).await.map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound(format!("no list named {l:?}")),
            other => other.into(),
        })?;
    }
    Ok(NewWebhook {
        url: url.to_owned(),
        secret: secret.to_owned(),
        event_types: kinds,
        list_name: list.map(str::to_owned),
    })
}

/// The configuration-set event destinations that name each webhook (`set/destination`):
/// such a webhook gets only what those sets route to it.
pub async fn routes(
    store: &dyn Store,
) -> ServiceResult<std::collections::HashMap<i64, Vec<String>>> {
    let mut out: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for (id, set, name) in store.webhook_routes().await? {
        out.entry(id).or_default().push(format!("{set}/{name}"));
    }
    Ok(out)
}

pub async fn list(store: &dyn Store) -> ServiceResult<Vec<WebhookRecord>> {
    Ok(store.list_webhooks().await?)
}

pub async fn get(store: &dyn Store, id: i64) -> ServiceResult<WebhookRecord> {
    store.get_webhook(id).await.map_err(not_found(id))
}

/// Removes a destination and its pending deliveries; a `webhook.deleted` event says who
/// did.
pub async fn remove(store: &dyn Store, id: i64, audit: &Audit) -> ServiceResult<()> {
    let hook = get(store, id).await?;
    store.delete_webhook(id).await.map_err(not_found(id))?;
    let detail = describe(&hook, None);
    Ok(store
        .record_change(audit, "webhook.deleted", None, None, detail)
        .await?)
}

/// Sends a signed sample `Subscription` event straight to the destination (not through
/// the outbox) and returns the HTTP status of a 2xx answer. A failure without an HTTP
/// answer is reported without its cause (see `events::NO_ANSWER`), which is logged.
pub async fn test(
    store: &dyn Store,
    settings: &WebhookSettings,
    rules: UrlRules,
    id: i64,
) -> ServiceResult<u16> {
    let hook = get(store, id).await?;
    let sample = EventRecord {
        id: 0,
        created_at: now_ms(),
        kind: "subscription".into(),
        source: Some("UnsubscribeHeader".into()),
        list_name: Some(
            hook.list_name
                .clone()
                .unwrap_or_else(|| "optbox-test".into()),
        ),
        topic_name: None,
        contact_email: Some("test@example.com".into()),
        old_prefs: Some(r#"{"unsubscribe_all":false,"topics":[]}"#.into()),
        new_prefs: Some(r#"{"unsubscribe_all":true,"topics":[]}"#.into()),
        ip_hash: None,
        user_agent: None,
        detail: r#"{"test":true}"#.into(),
        actor: Some("recipient".into()),
        actor_id: None,
        message_id: None,
        configuration_set: None,
        send_id: None,
        request_id: None,
    };
    let mut body = events::payload(&sample);
    let event_id = format!("test-{}", now_ms());
    body["eventId"] = event_id.clone().into();
    let client = events::client(settings, rules);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    events::send(&client, rules, &hook.url, &hook.secret, &event_id, 1, bytes)
        .await
        .map_err(|f| {
            tracing::warn!(webhook = id, error = %f.detail, "webhook test delivery failed");
            ServiceError::BadRequest(format!("test delivery failed: {}", f.shown))
        })
}

/// A destination's delivery log, newest first.
pub async fn deliveries(
    store: &dyn Store,
    id: i64,
    status: Option<DeliveryStatus>,
    before: Option<i64>,
    limit: u32,
) -> ServiceResult<Vec<DeliveryRecord>> {
    get(store, id).await?;
    Ok(store.list_deliveries(id, status, before, limit).await?)
}

/// Puts dead-lettered deliveries back in the queue (one, or all of the destination's).
pub async fn replay(store: &dyn Store, id: i64, delivery: Option<i64>) -> ServiceResult<u64> {
    get(store, id).await?;
    Ok(store.replay_deliveries(id, delivery).await?)
}

/// The event log, filtered and keyset-paged (newest first).
pub async fn events(store: &dyn Store, q: &EventQuery) -> ServiceResult<Vec<EventRecord>> {
    Ok(store.query_events(q).await?)
}
