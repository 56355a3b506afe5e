//! Request shapes of the SES v2 contact-list operations (model-exact member names), and
//! the protocol-level validation SES runs before its own checks: required members and
//! enum values, reported as "N validation errors detected: …".

use super::ApiError;
use crate::domain::{SubscriptionStatus, Tag, Topic, TopicName};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Parses a JSON body; an empty body counts as `{}` (botocore sends `{}` for inputs
/// without values, older clients send nothing on a GET). Unknown members are refused.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Could not parse the request body: {e}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TopicIn {
    pub topic_name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub default_subscription_status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagIn {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TopicPreferenceIn {
    pub topic_name: Option<String>,
    pub subscription_status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateContactListIn {
    pub contact_list_name: Option<String>,
    pub topics: Option<Vec<TopicIn>>,
    pub description: Option<String>,
    pub tags: Option<Vec<TagIn>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateContactListIn {
    pub topics: Option<Vec<TopicIn>>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateContactIn {
    pub email_address: Option<String>,
    pub topic_preferences: Option<Vec<TopicPreferenceIn>>,
    pub unsubscribe_all: Option<bool>,
    pub attributes_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateContactIn {
    pub topic_preferences: Option<Vec<TopicPreferenceIn>>,
    pub unsubscribe_all: Option<bool>,
    pub attributes_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TopicFilterIn {
    pub topic_name: Option<String>,
    pub use_default_if_preference_unavailable: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FilterIn {
    pub filtered_status: Option<String>,
    pub topic_filter: Option<TopicFilterIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListContactsIn {
    pub filter: Option<FilterIn>,
    pub page_size: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagResourceIn {
    pub resource_arn: Option<String>,
    pub tags: Option<Vec<TagIn>>,
}

/// Collects protocol violations in SES's words.
#[derive(Default)]
pub struct Violations(Vec<String>);

const ENUM_STATUS: &str = "[OPT_OUT, OPT_IN]";

impl Violations {
    pub fn required<'a, T>(&mut self, path: &str, v: &'a Option<T>) -> Option<&'a T> {
        if v.is_none() {
            self.0.push(format!(
                "Value at '{path}' failed to satisfy constraint: Member must not be null"
            ));
        }
        v.as_ref()
    }

    pub fn status(&mut self, path: &str, v: &Option<String>) -> Option<SubscriptionStatus> {
        let s = self.required(path, v)?;
        let parsed = SubscriptionStatus::parse_api(s);
        if parsed.is_none() {
            self.0.push(format!(
                "Value '{}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: {ENUM_STATUS}",
                s.chars().take(64).collect::<String>()
            ));
        }
        parsed
    }

    pub fn optional_status(
        &mut self,
        path: &str,
        v: &Option<String>,
    ) -> Option<SubscriptionStatus> {
        v.as_ref()?;
        self.status(path, v)
    }

    pub fn push(&mut self, violation: String) {
        self.0.push(violation);
    }

    /// The SES message when anything was collected.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(ApiError::bad_request(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(ApiError::bad_request(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

/// Checks the protocol rules of `Topics[]` and converts them; names are checked after
/// (SES reports protocol errors first).
pub fn topics(
    v: &mut Violations,
    topics: &[TopicIn],
) -> Vec<(Option<String>, String, String, SubscriptionStatus)> {
    let mut out = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        let p = format!("topics.{}.member", i + 1);
        let name = v
            .required(&format!("{p}.topicName"), &t.topic_name)
            .cloned();
        let display = v
            .required(&format!("{p}.displayName"), &t.display_name)
            .cloned();
        let status = v.status(
            &format!("{p}.defaultSubscriptionStatus"),
            &t.default_subscription_status,
        );
        if let (Some(display), Some(status)) = (display, status) {
            out.push((
                name,
                display,
                t.description.clone().unwrap_or_default(),
                status,
            ));
        }
    }
    out
}

/// Parses checked topics into the domain type (the service-level name check).
pub fn domain_topics(
    raw: Vec<(Option<String>, String, String, SubscriptionStatus)>,
) -> Result<Vec<Topic>, ApiError> {
    raw.into_iter()
        .map(|(name, display_name, description, default_status)| {
            let name = TopicName::parse(name.as_deref().unwrap_or(""))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(Topic {
                name,
                display_name,
                description,
                default_status,
                hidden: false,
            })
        })
        .collect()
}

pub fn tags(v: &mut Violations, tags: &[TagIn]) -> Vec<Tag> {
    let mut out = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        let p = format!("tags.{}.member", i + 1);
        let key = v.required(&format!("{p}.key"), &t.key).cloned();
        let value = v.required(&format!("{p}.value"), &t.value).cloned();
        if let (Some(key), Some(value)) = (key, value) {
            out.push(Tag { key, value });
        }
    }
    out
}

pub fn preferences(
    v: &mut Violations,
    prefs: &[TopicPreferenceIn],
) -> Vec<(Option<String>, SubscriptionStatus)> {
    let mut out = Vec::new();
    for (i, p) in prefs.iter().enumerate() {
        let path = format!("topicPreferences.{}.member", i + 1);
        let name = v
            .required(&format!("{path}.topicName"), &p.topic_name)
            .cloned();
        let status = v.status(
            &format!("{path}.subscriptionStatus"),
            &p.subscription_status,
        );
        if let Some(status) = status {
            out.push((name, status));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bodies_are_empty_objects_and_unknown_members_are_refused() {
        let x: CreateContactIn = parse(b"").unwrap();
        assert!(x.email_address.is_none());
        let e = parse::<CreateContactIn>(br#"{"EmailAddress":"a@b.co","Bogus":1}"#).unwrap_err();
        assert_eq!(e.code, "BadRequestException");
        assert!(e.message.contains("Bogus"), "{}", e.message);
        let e = parse::<CreateContactIn>(br#"{"UnsubscribeAll":"yes"}"#).unwrap_err();
        assert!(e.message.contains("invalid type"), "{}", e.message);
        assert!(parse::<CreateContactIn>(b"{not json").is_err());
        // null means absent
        let x: CreateContactIn = parse(br#"{"AttributesData":null}"#).unwrap();
        assert!(x.attributes_data.is_none());
    }

    #[test]
    fn protocol_errors_use_the_ses_wording_and_count() {
        let input: CreateContactListIn = parse(
            br#"{"ContactListName":"x","Topics":[{"TopicName":"a","DefaultSubscriptionStatus":"MAYBE"}]}"#,
        )
        .unwrap();
        let mut v = Violations::default();
        topics(&mut v, input.topics.as_deref().unwrap());
        let e = v.finish().unwrap_err();
        assert_eq!(
            e.message,
            "2 validation errors detected: Value at 'topics.1.member.displayName' failed to satisfy constraint: Member must not be null; Value 'MAYBE' at 'topics.1.member.defaultSubscriptionStatus' failed to satisfy constraint: Member must satisfy enum value set: [OPT_OUT, OPT_IN]"
        );
    }
}
