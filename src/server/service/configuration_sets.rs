//! SES configuration sets: names, options, and event destinations that are optbox
//! webhooks. A message sent with a set (SendEmail's `ConfigurationSetName`, SMTP's
//! `X-SES-CONFIGURATION-SET`) has its events routed to the set's enabled destinations
//! (`store/events.rs`), and the set's SuppressionOptions choose which suppression reasons
//! stop it (`sending.rs`).
//!
//! SES delivers events to SNS, Firehose, CloudWatch, Pinpoint or EventBridge; optbox
//! delivers them to its own webhooks. A destination names one as an SNS topic whose name
//! is `optbox-webhook-<id>` (`arn:aws:sns:REGION:ACCOUNT:optbox-webhook-3`); the other
//! destination kinds are refused with a message saying so.

use super::{ServiceError, ServiceResult, check_name};
use crate::domain::events::SES_EVENT_TYPES;
use crate::domain::{Audit, SuppressionReason};
use crate::server::store::{
    ConfigurationSetRecord, DestinationSpec, EventDestinationRecord, Store, StoreError,
};

/// SES's quotas: configuration sets per account, event destinations per set.
pub const MAX_SETS: u32 = 10_000;
pub const MAX_DESTINATIONS: u32 = 10;
/// The SNS topic name prefix that names an optbox webhook.
pub const WEBHOOK_TOPIC: &str = "optbox-webhook-";

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("Configuration set <{name}> does not exist."))
}

/// Parses SuppressionOptions' `SuppressedReasons`.
pub fn reasons(names: &[String]) -> ServiceResult<Vec<SuppressionReason>> {
    let mut out = Vec::new();
    for n in names {
        let r = SuppressionReason::parse(n).ok_or_else(|| {
            ServiceError::BadRequest(format!(
                "Invalid suppression reason {:?}: BOUNCE or COMPLAINT.",
                n.chars().take(40).collect::<String>()
            ))
        })?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// A set's suppression reasons as its events name them (`null`: the account's).
fn reason_names(r: &Option<Vec<SuppressionReason>>) -> serde_json::Value {
    match r {
        Some(rs) => rs.iter().map(|r| r.as_str()).collect::<Vec<_>>().into(),
        None => serde_json::Value::Null,
    }
}

/// The `configuration_set.*` event of a change to a set.
async fn record(
    store: &dyn Store,
    audit: &Audit,
    kind: &str,
    detail: serde_json::Value,
) -> ServiceResult<()> {
    Ok(store.record_change(audit, kind, None, None, detail).await?)
}

/// Creates a set; a `configuration_set.created` event says who did.
pub async fn create(
    store: &dyn Store,
    set: &ConfigurationSetRecord,
    audit: &Audit,
) -> ServiceResult<()> {
    check_name("Configuration set", &set.name)?;
    match store.create_configuration_set(set, MAX_SETS).await {
        Ok(()) => {
            let detail = serde_json::json!({
                "name": set.name,
                "sending_enabled": set.sending_enabled,
                "suppressed_reasons": reason_names(&set.suppressed_reasons),
            });
            record(store, audit, "configuration_set.created", detail).await
        }
        Err(StoreError::Conflict) => Err(ServiceError::AlreadyExists(format!(
            "Configuration set <{}> already exists.",
            set.name
        ))),
        Err(StoreError::LimitReached) => Err(ServiceError::LimitExceeded(format!(
            "An account has at most {MAX_SETS} configuration sets."
        ))),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(store: &dyn Store, name: &str) -> ServiceResult<ConfigurationSetRecord> {
    match store.get_configuration_set(name).await {
        Ok(s) => Ok(s),
        Err(StoreError::NotFound) => Err(not_found(name)),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(
    store: &dyn Store,
    after: Option<&str>,
    limit: u32,
) -> ServiceResult<Vec<ConfigurationSetRecord>> {
    Ok(store.list_configuration_sets(after, limit).await?)
}

/// Deletes a set; a `configuration_set.deleted` event says who did.
pub async fn delete(store: &dyn Store, name: &str, audit: &Audit) -> ServiceResult<()> {
    if store.delete_configuration_set(name).await? {
        let detail = serde_json::json!({ "name": name });
        record(store, audit, "configuration_set.deleted", detail).await
    } else {
        Err(not_found(name))
    }
}

/// PutConfigurationSetSuppressionOptions / PutConfigurationSetSendingOptions; a
/// `configuration_set.updated` event says who changed which option.
pub async fn update(
    store: &dyn Store,
    name: &str,
    suppressed: Option<Option<Vec<SuppressionReason>>>,
    sending: Option<bool>,
    audit: &Audit,
) -> ServiceResult<()> {
    let mut detail = serde_json::json!({ "name": name });
    if let Some(r) = &suppressed {
        detail["suppressed_reasons"] = reason_names(r);
    }
    if let Some(s) = sending {
        detail["sending_enabled"] = s.into();
    }
    match store
        .update_configuration_set(name, suppressed, sending)
        .await
    {
        Ok(()) => record(store, audit, "configuration_set.updated", detail).await,
        Err(StoreError::NotFound) => Err(not_found(name)),
        Err(e) => Err(e.into()),
    }
}

/// An event destination as the sender defines it.
#[derive(Debug, Clone, Default)]
pub struct Definition {
    pub enabled: bool,
    pub event_types: Vec<String>,
    /// `SnsDestination.TopicArn`.
    pub topic_arn: Option<String>,
    /// The destination kinds optbox does not deliver to that the definition names.
    pub unsupported: Vec<&'static str>,
}

/// The webhook id an SNS topic ARN names (`…:optbox-webhook-<id>`).
pub fn webhook_of(arn: &str) -> Option<i64> {
    let topic = arn.strip_prefix("arn:")?.rsplit(':').next()?;
    let id = topic.strip_prefix(WEBHOOK_TOPIC)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// CreateConfigurationSetEventDestination (`create`) or its Update; a
/// `configuration_set.updated` event names the destination and what it became.
pub async fn put_destination(
    store: &dyn Store,
    set: &str,
    name: &str,
    d: &Definition,
    create: bool,
    audit: &Audit,
) -> ServiceResult<()> {
    check_name("Event destination", name)?;
    if let Some(kind) = d.unsupported.first() {
        return Err(ServiceError::BadRequest(format!(
            "optbox delivers events to its webhooks, not to {kind}: name one with SnsDestination.TopicArn = arn:aws:sns:REGION:ACCOUNT:{WEBHOOK_TOPIC}ID (see `optbox webhooks list`)."
        )));
    }
    if d.event_types.is_empty() {
        return Err(ServiceError::BadRequest(
            "MatchingEventTypes must name at least one event type.".into(),
        ));
    }
    let mut types: Vec<String> = Vec::new();
    for t in &d.event_types {
        if !SES_EVENT_TYPES.contains(&t.as_str()) {
            return Err(ServiceError::BadRequest(format!(
                "Invalid event type {:?}: one of {}.",
                t.chars().take(40).collect::<String>(),
                SES_EVENT_TYPES.join(", ")
            )));
        }
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    let Some(arn) = d.topic_arn.as_deref() else {
        return Err(ServiceError::BadRequest(format!(
            "An event destination needs SnsDestination.TopicArn naming an optbox webhook: arn:aws:sns:REGION:ACCOUNT:{WEBHOOK_TOPIC}ID."
        )));
    };
    let Some(webhook_id) = webhook_of(arn) else {
        return Err(ServiceError::BadRequest(format!(
            "SnsDestination.TopicArn {:?} names no optbox webhook: arn:aws:sns:REGION:ACCOUNT:{WEBHOOK_TOPIC}ID.",
            arn.chars().take(200).collect::<String>()
        )));
    };
    match store.get_webhook(webhook_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return Err(ServiceError::NotFound(format!(
                "Webhook {webhook_id} does not exist (`optbox webhooks list` shows them)."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let spec = DestinationSpec {
        enabled: d.enabled,
        event_types: &types,
        webhook_id,
        topic_arn: arn,
    };
    match store
        .put_event_destination(set, name, &spec, create, MAX_DESTINATIONS)
        .await
    {
        Ok(()) => {
            let detail = serde_json::json!({
                "name": set,
                "event_destination": {
                    "name": name,
                    "action": if create { "created" } else { "updated" },
                    "enabled": d.enabled,
                    "event_types": types,
                    "webhook_id": webhook_id,
                },
            });
            record(store, audit, "configuration_set.updated", detail).await
        }
        Err(StoreError::NotFound) => {
            if store.get_configuration_set(set).await.is_ok() {
                Err(ServiceError::NotFound(format!(
                    "Event destination <{name}> does not exist in configuration set <{set}>."
                )))
            } else {
                Err(not_found(set))
            }
        }
        Err(StoreError::Conflict) => Err(ServiceError::AlreadyExists(format!(
            "Event destination <{name}> already exists in configuration set <{set}>."
        ))),
        Err(StoreError::LimitReached) => Err(ServiceError::LimitExceeded(format!(
            "A configuration set has at most {MAX_DESTINATIONS} event destinations."
        ))),
        Err(e) => Err(e.into()),
    }
}

pub async fn destinations(
    store: &dyn Store,
    set: &str,
) -> ServiceResult<Vec<EventDestinationRecord>> {
    get(store, set).await?;
    Ok(store.list_event_destinations(set).await?)
}

/// Deletes an event destination; a `configuration_set.updated` event names it.
pub async fn delete_destination(
    store: &dyn Store,
    set: &str,
    name: &str,
    audit: &Audit,
) -> ServiceResult<()> {
    get(store, set).await?;
    if store.delete_event_destination(set, name).await? {
        let detail = serde_json::json!({
            "name": set,
            "event_destination": { "name": name, "action": "deleted" },
        });
        record(store, audit, "configuration_set.updated", detail).await
    } else {
        Err(ServiceError::NotFound(format!(
            "Event destination <{name}> does not exist in configuration set <{set}>."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_names_a_webhook_by_its_topic() {
        assert_eq!(
            webhook_of("arn:aws:sns:us-east-1:123456789012:optbox-webhook-3"),
            Some(3)
        );
        assert_eq!(webhook_of("arn:aws:sns:eu-west-1:1:optbox-webhook-"), None);
        assert_eq!(webhook_of("arn:aws:sns:eu-west-1:1:my-topic"), None);
        assert_eq!(webhook_of("optbox-webhook-3"), None);
        assert_eq!(webhook_of("arn:aws:sns:x:1:optbox-webhook-3a"), None);
        assert!(reasons(&["BOUNCE".into(), "BOUNCE".into()]).unwrap().len() == 1);
        assert!(reasons(&["SPAM".into()]).is_err());
        assert!(check_name("Configuration set", "news_2026-a").is_ok());
        assert!(check_name("Configuration set", "news letter").is_err());
    }
}
