//! SES v2 configuration sets under `/v2/email/configuration-sets`: Create, Get, List and
//! Delete; their event destinations (Create, Get, Update, Delete); and the suppression
//! and sending options. The other option objects (tracking, delivery, reputation, VDM,
//! archiving) are kept as given and answered back; optbox does not act on them.

use super::paging::{decode_token, encode_token, page_size, query_page_size};
use super::wire::{self, TagIn, Violations};
use super::{ApiError, ApiRequest};
use crate::server::service::configuration_sets::{self as sets, Definition};
use crate::server::store::{ConfigurationSetRecord, EventDestinationRecord};
use serde::Deserialize;
use serde_json::{Map, Value, json};

type OpResult = Result<String, ApiError>;

/// The option objects kept as given.
const KEPT: &[&str] = &[
    "TrackingOptions",
    "DeliveryOptions",
    "ReputationOptions",
    "VdmOptions",
    "ArchivingOptions",
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SuppressionIn {
    suppressed_reasons: Option<Vec<String>>,
    /// Accepted, not acted on (optbox validates no addresses).
    #[serde(rename = "ValidationOptions")]
    _validation_options: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SendingIn {
    sending_enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateIn {
    configuration_set_name: Option<String>,
    tracking_options: Option<Map<String, Value>>,
    delivery_options: Option<Map<String, Value>>,
    reputation_options: Option<Map<String, Value>>,
    vdm_options: Option<Map<String, Value>>,
    archiving_options: Option<Map<String, Value>>,
    sending_options: Option<SendingIn>,
    suppression_options: Option<SuppressionIn>,
    tags: Option<Vec<TagIn>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TopicIn {
    topic_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DefinitionIn {
    enabled: Option<bool>,
    matching_event_types: Option<Vec<String>>,
    sns_destination: Option<TopicIn>,
    kinesis_firehose_destination: Option<Value>,
    cloud_watch_destination: Option<Value>,
    event_bridge_destination: Option<Value>,
    pinpoint_destination: Option<Value>,
}

impl DefinitionIn {
    fn into_definition(self) -> Definition {
        let mut unsupported = Vec::new();
        for (given, kind) in [
            (
                self.kinesis_firehose_destination.is_some(),
                "Kinesis Data Firehose",
            ),
            (self.cloud_watch_destination.is_some(), "CloudWatch"),
            (self.event_bridge_destination.is_some(), "EventBridge"),
            (self.pinpoint_destination.is_some(), "Pinpoint"),
        ] {
            if given {
                unsupported.push(kind);
            }
        }
        Definition {
            enabled: self.enabled.unwrap_or(false),
            event_types: self.matching_event_types.unwrap_or_default(),
            topic_arn: self.sns_destination.and_then(|s| s.topic_arn),
            unsupported,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateDestinationIn {
    event_destination_name: Option<String>,
    event_destination: Option<DefinitionIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UpdateDestinationIn {
    event_destination: Option<DefinitionIn>,
}

fn store<'a>(api: &ApiRequest<'a>) -> &'a dyn crate::server::store::Store {
    api.state.store.as_ref()
}

fn reasons_of(
    s: Option<SuppressionIn>,
) -> Result<Option<Vec<crate::domain::SuppressionReason>>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) => Ok(Some(sets::reasons(
            s.suppressed_reasons.as_deref().unwrap_or_default(),
        )?)),
    }
}

/// `POST /v2/email/configuration-sets`.
pub async fn create(api: &ApiRequest<'_>) -> OpResult {
    let input: CreateIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let name = v
        .required("configurationSetName", &input.configuration_set_name)
        .cloned();
    let tags = wire::tags(&mut v, input.tags.as_deref().unwrap_or_default());
    v.finish()?;
    let mut options = Map::new();
    for (key, value) in KEPT.iter().zip([
        input.tracking_options,
        input.delivery_options,
        input.reputation_options,
        input.vdm_options,
        input.archiving_options,
    ]) {
        if let Some(o) = value {
            options.insert((*key).to_owned(), Value::Object(o));
        }
    }
    let set = ConfigurationSetRecord {
        name: name.unwrap_or_default(),
        options: Value::Object(options).to_string(),
        tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
        suppressed_reasons: reasons_of(input.suppression_options)?,
        sending_enabled: input
            .sending_options
            .and_then(|s| s.sending_enabled)
            .unwrap_or(true),
        created_at: 0,
    };
    sets::create(store(api), &set, &api.audit).await?;
    Ok("{}".into())
}

/// `GET /v2/email/configuration-sets/{ConfigurationSetName}`.
pub async fn get(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let s = sets::get(store(api), name).await?;
    let mut out = match serde_json::from_str::<Value>(&s.options) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    out.insert("ConfigurationSetName".into(), json!(s.name));
    out.insert(
        "SendingOptions".into(),
        json!({ "SendingEnabled": s.sending_enabled }),
    );
    if let Some(r) = &s.suppressed_reasons {
        out.insert(
            "SuppressionOptions".into(),
            json!({ "SuppressedReasons": r.iter().map(|x| x.as_str()).collect::<Vec<_>>() }),
        );
    }
    out.insert(
        "Tags".into(),
        Value::Array(
            s.tags
                .iter()
                .map(|(k, v)| json!({ "Key": k, "Value": v }))
                .collect(),
        ),
    );
    Ok(Value::Object(out).to_string())
}

/// `GET /v2/email/configuration-sets`: names, paged.
pub async fn list(api: &ApiRequest<'_>) -> OpResult {
    let size = page_size(query_page_size(api)?)?;
    let after = api.query_one("NextToken").map(decode_token).transpose()?;
    let mut page = sets::list(store(api), after.as_deref(), size + 1).await?;
    let more = page.len() > size as usize;
    page.truncate(size as usize);
    let mut out = json!({
        "ConfigurationSets": page.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
    });
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(encode_token(&last.name));
    }
    Ok(out.to_string())
}

/// `DELETE /v2/email/configuration-sets/{ConfigurationSetName}`.
pub async fn delete(api: &ApiRequest<'_>, name: &str) -> OpResult {
    sets::delete(store(api), name, &api.audit).await?;
    Ok("{}".into())
}

/// `PUT /v2/email/configuration-sets/{ConfigurationSetName}/suppression-options`.
pub async fn put_suppression(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let input: SuppressionIn = wire::parse(api.body)?;
    let reasons = sets::reasons(input.suppressed_reasons.as_deref().unwrap_or_default())?;
    sets::update(store(api), name, Some(Some(reasons)), None, &api.audit).await?;
    Ok("{}".into())
}

/// `PUT /v2/email/configuration-sets/{ConfigurationSetName}/sending`.
pub async fn put_sending(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let input: SendingIn = wire::parse(api.body)?;
    sets::update(
        store(api),
        name,
        None,
        Some(input.sending_enabled.unwrap_or(false)),
        &api.audit,
    )
    .await?;
    Ok("{}".into())
}

fn destination_json(d: &EventDestinationRecord) -> Value {
    json!({
        "Name": d.name,
        "Enabled": d.enabled,
        "MatchingEventTypes": d.event_types,
        "SnsDestination": { "TopicArn": d.topic_arn },
    })
}

/// `POST /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations`.
pub async fn create_destination(api: &ApiRequest<'_>, set: &str) -> OpResult {
    let input: CreateDestinationIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let name = v
        .required("eventDestinationName", &input.event_destination_name)
        .cloned();
    v.required("eventDestination", &input.event_destination);
    v.finish()?;
    let def = input
        .event_destination
        .unwrap_or_default()
        .into_definition();
    sets::put_destination(
        store(api),
        set,
        &name.unwrap_or_default(),
        &def,
        true,
        &api.audit,
    )
    .await?;
    Ok("{}".into())
}

/// `GET /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations`.
pub async fn list_destinations(api: &ApiRequest<'_>, set: &str) -> OpResult {
    let all = sets::destinations(store(api), set).await?;
    Ok(
        json!({ "EventDestinations": all.iter().map(destination_json).collect::<Vec<_>>() })
            .to_string(),
    )
}

/// `PUT /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations/{Name}`.
pub async fn update_destination(api: &ApiRequest<'_>, set: &str, name: &str) -> OpResult {
    let input: UpdateDestinationIn = wire::parse(api.body)?;
    let Some(def) = input.event_destination else {
        return Err(ApiError::bad_request("EventDestination is required."));
    };
    sets::put_destination(
        store(api),
        set,
        name,
        &def.into_definition(),
        false,
        &api.audit,
    )
    .await?;
    Ok("{}".into())
}

/// `DELETE /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations/{Name}`.
pub async fn delete_destination(api: &ApiRequest<'_>, set: &str, name: &str) -> OpResult {
    sets::delete_destination(store(api), set, name, &api.audit).await?;
    Ok("{}".into())
}
