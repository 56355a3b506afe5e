//! The data model of contact lists, topics and contacts, and the validation rules that
//! apply to them in strict (SES) and relaxed (default) mode.

use super::{EmailAddress, ListName, SubscriptionStatus, TopicName, effective_status};
use serde::{Deserialize, Serialize};

/// A topic of a contact list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub name: TopicName,
    /// Any Unicode, at most 128 characters.
    pub display_name: String,
    pub description: String,
    pub default_status: SubscriptionStatus,
    /// Hidden topics are not shown on the preference page.
    pub hidden: bool,
}

/// A key/value tag on a list (SES `Tag`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// optbox's landing-page extras for a list. The logo is not here: it is an upload of its
/// own (`list_logos`). A `logo_url` that older versions stored in this JSON is ignored
/// when read and dropped at the next save.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    pub display_name: Option<String>,
    pub accent_color: Option<String>,
    pub privacy_url: Option<String>,
    pub footer_text: Option<String>,
    pub default_language: Option<String>,
    /// The pause lengths the recipient pages offer, in days: `None` offers
    /// [`DEFAULT_PAUSE_DAYS`], an empty list no pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_days: Option<Vec<u32>>,
    /// The answers the survey after an unsubscribe offers: `None` offers the built-in
    /// reasons (in the visitor's language), an empty list no survey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_reasons: Option<Vec<String>>,
    /// Whether the hosted form `/s/{list}` (and the endpoint behind it) takes
    /// subscriptions. Off until an operator turns it on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subscribe_form: bool,
    /// Topics' display names and descriptions in other languages: topic name → language
    /// code → text. A missing one falls back to the topic's own.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub topic_texts:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, TopicText>>,
}

/// The pause lengths a list offers unless it names its own.
pub const DEFAULT_PAUSE_DAYS: [u32; 2] = [30, 90];

/// The most answers a list's unsubscribe survey may offer, and the longest of each.
pub const MAX_REASONS: usize = 12;
pub const MAX_REASON_CHARS: usize = 100;
/// The longest free-text answer kept (longer ones are cut).
pub const MAX_SURVEY_COMMENT_CHARS: usize = 500;

/// The longest pause a list may offer, in days.
pub const MAX_PAUSE_DAYS: u32 = 366;

/// A topic's display name and description in one language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicText {
    pub display_name: String,
    #[serde(default)]
    pub description: String,
}

impl Branding {
    /// The pause lengths offered, in days (empty: the list offers no pause).
    pub fn pause_lengths(&self) -> Vec<u32> {
        self.pause_days
            .clone()
            .unwrap_or_else(|| DEFAULT_PAUSE_DAYS.to_vec())
    }

    /// The answers the unsubscribe survey offers: each as stored (the built-in ones in
    /// English, so that answers in every language count together) and as shown in
    /// `lang`. Empty: the list asks nothing.
    pub fn survey_reasons(&self, lang: crate::domain::lang::Lang) -> Vec<(String, String)> {
        match &self.unsubscribe_reasons {
            Some(own) => own.iter().map(|r| (r.clone(), r.clone())).collect(),
            None => {
                let (en, here) = (
                    crate::domain::i18n::words(crate::domain::lang::Lang::En),
                    crate::domain::i18n::words(lang),
                );
                [
                    (en.reason_too_many, here.reason_too_many),
                    (en.reason_not_relevant, here.reason_not_relevant),
                    (en.reason_never_signed_up, here.reason_never_signed_up),
                    (en.reason_other, here.reason_other),
                ]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect()
            }
        }
    }

    /// A topic's display name and description in `lang`, falling back to its own.
    pub fn topic_text<'a>(&'a self, topic: &'a Topic, lang: &str) -> (&'a str, &'a str) {
        match self
            .topic_texts
            .get(topic.name.as_str())
            .and_then(|m| m.get(lang))
        {
            Some(t) if !t.display_name.is_empty() => (
                &t.display_name,
                if t.description.is_empty() {
                    &topic.description
                } else {
                    &t.description
                },
            ),
            _ => (&topic.display_name, &topic.description),
        }
    }
}

/// A contact list with its topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactList {
    pub id: i64,
    pub name: ListName,
    pub description: String,
    pub topics: Vec<Topic>,
    pub tags: Vec<Tag>,
    pub branding: Branding,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl ContactList {
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name.as_str() == name)
    }
}

/// What a caller supplies to create a list or replace its definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListDefinition {
    pub description: String,
    pub topics: Vec<Topic>,
    pub tags: Vec<Tag>,
    pub branding: Branding,
}

/// A contact's explicit preference for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPreference {
    pub topic: TopicName,
    pub status: SubscriptionStatus,
}

/// A contact on a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    pub email: EmailAddress,
    pub unsubscribe_all: bool,
    /// Explicit preferences only, ordered by topic name.
    pub preferences: Vec<TopicPreference>,
    /// A JSON object, stored and returned as a string (SES `AttributesData`).
    pub attributes: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set while the recipient has paused the list (Unix ms): until then sending treats
    /// the contact as opted out of every topic. Cleared once the time is past.
    #[serde(default)]
    pub paused_until: Option<i64>,
}

impl Contact {
    /// Whether the contact's pause still runs at `now` (Unix ms).
    pub fn paused_at(&self, now: i64) -> bool {
        self.paused_until.is_some_and(|t| t > now)
    }

    /// The status sending honours at `now`: a running pause is OPT_OUT for every topic.
    pub fn status_at(&self, topic: &Topic, now: i64) -> SubscriptionStatus {
        if self.paused_at(now) {
            SubscriptionStatus::OptOut
        } else {
            self.status_for(topic)
        }
    }

    pub fn explicit(&self, topic: &str) -> Option<SubscriptionStatus> {
        self.preferences
            .iter()
            .find(|p| p.topic.as_str() == topic)
            .map(|p| p.status)
    }

    /// The effective status for a topic of `list`.
    pub fn status_for(&self, topic: &Topic) -> SubscriptionStatus {
        effective_status(
            self.unsubscribe_all,
            self.explicit(topic.name.as_str()),
            topic.default_status,
        )
    }
}

/// A contact's subscription state as it is recorded in events and compared for changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub unsubscribe_all: bool,
    pub topics: Vec<TopicPreference>,
}

/// The opt-outs of an address that no contact row holds: those of a deleted contact (or
/// of a contact whose list was deleted), of an address that opted out before it was a
/// contact, and of topics that were removed from the list. A later import, CreateContact
/// or topic of the same name gets them back, so no operator action subscribes the
/// address again by accident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub unsubscribe_all: bool,
    /// Sorted, without duplicates.
    pub opted_out_topics: Vec<TopicName>,
}

impl Tombstone {
    pub fn is_empty(&self) -> bool {
        !self.unsubscribe_all && self.opted_out_topics.is_empty()
    }

    /// Both tombstones' opt-outs.
    pub fn merged(&self, other: &Tombstone) -> Tombstone {
        let mut topics = self.opted_out_topics.clone();
        topics.extend(other.opted_out_topics.iter().cloned());
        topics.sort();
        topics.dedup();
        Tombstone {
            unsubscribe_all: self.unsubscribe_all || other.unsubscribe_all,
            opted_out_topics: topics,
        }
    }

    /// What a contact of `list` cannot hold and so stays in the tombstone once the
    /// contact exists: the opt-outs of topics the list does not have (now).
    pub fn beyond(&self, list: &ContactList) -> Tombstone {
        Tombstone {
            unsubscribe_all: false,
            opted_out_topics: self
                .opted_out_topics
                .iter()
                .filter(|t| list.topic(t.as_str()).is_none())
                .cloned()
                .collect(),
        }
    }
}

/// Limits that differ between SES-strict and relaxed mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub aws_strict: bool,
    pub max_lists: Option<u32>,
    pub max_topics: usize,
}

impl Limits {
    pub const RELAXED_MAX_TOPICS: usize = 1000;

    pub fn new(aws_strict: bool) -> Self {
        if aws_strict {
            Self {
                aws_strict,
                max_lists: Some(1),
                max_topics: 20,
            }
        } else {
            Self {
                aws_strict,
                max_lists: None,
                max_topics: Self::RELAXED_MAX_TOPICS,
            }
        }
    }

    /// Checks a list definition against the SES rules, returning the SES message.
    pub fn validate_definition(&self, def: &ListDefinition) -> Result<(), String> {
        if def.topics.len() > self.max_topics {
            return Err(format!(
                "Maximum of <{}> topics allowed per ContactList",
                self.max_topics
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for t in &def.topics {
            if !seen.insert(t.name.as_str()) {
                return Err("Duplicate topic names are not allowed within a List.".into());
            }
            if t.display_name.trim().is_empty() {
                return Err("Topic DisplayName can't be blank.".into());
            }
            if t.display_name.chars().count() > 128 {
                return Err("Topic DisplayName can contain up to <128> characters.".into());
            }
            if t.description.chars().count() > 500 {
                return Err("Topic Description can contain up to 500 characters.".into());
            }
        }
        if def.description.chars().count() > 500 {
            return Err("List description can contain up to 500 characters.".into());
        }
        for tag in &def.tags {
            if tag.key.is_empty()
                || tag.key.chars().count() > 128
                || tag.value.chars().count() > 256
            {
                return Err(
                    "Tag keys must be 1-128 characters and values 0-256 characters.".into(),
                );
            }
        }
        Ok(())
    }

    /// The SES message for one list too many.
    pub fn too_many_lists_message(&self) -> String {
        format!(
            "A maximum of {} Lists allowed per account.",
            self.max_lists.unwrap_or(u32::MAX)
        )
    }
}

/// Checks `AttributesData`: empty, or a JSON object.
pub fn validate_attributes(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err("AttributesData must be a valid JSON object.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> Topic {
        Topic {
            name: TopicName::parse(name).unwrap(),
            display_name: name.into(),
            description: String::new(),
            default_status: SubscriptionStatus::OptIn,
            hidden: false,
        }
    }

    #[test]
    fn strict_mode_allows_twenty_topics_and_relaxed_a_thousand() {
        let def = |n| ListDefinition {
            topics: (0..n).map(|i| topic(&format!("t{i}"))).collect(),
            ..Default::default()
        };
        let strict = Limits::new(true);
        assert!(strict.validate_definition(&def(20)).is_ok());
        assert_eq!(
            strict.validate_definition(&def(21)).unwrap_err(),
            "Maximum of <20> topics allowed per ContactList"
        );
        let relaxed = Limits::new(false);
        assert!(relaxed.validate_definition(&def(21)).is_ok());
        assert!(relaxed.validate_definition(&def(1001)).is_err());
        assert_eq!(
            strict.too_many_lists_message(),
            "A maximum of 1 Lists allowed per account."
        );
        assert_eq!(relaxed.max_lists, None);
    }

    #[test]
    fn duplicate_topics_long_display_names_and_descriptions_are_refused() {
        let l = Limits::new(false);
        let mut def = ListDefinition {
            topics: vec![topic("a"), topic("a")],
            ..Default::default()
        };
        assert_eq!(
            l.validate_definition(&def).unwrap_err(),
            "Duplicate topic names are not allowed within a List."
        );
        def.topics = vec![Topic {
            display_name: "é".repeat(129),
            ..topic("a")
        }];
        assert!(l.validate_definition(&def).unwrap_err().contains("<128>"));
        def.topics = vec![Topic {
            display_name: "é".repeat(128),
            ..topic("a")
        }];
        assert!(l.validate_definition(&def).is_ok());
        def.description = "x".repeat(501);
        assert_eq!(
            l.validate_definition(&def).unwrap_err(),
            "List description can contain up to 500 characters."
        );
    }

    #[test]
    fn attributes_must_be_a_json_object() {
        assert!(validate_attributes("").is_ok());
        assert!(validate_attributes(r#"{"language":"de"}"#).is_ok());
        assert!(validate_attributes("[1]").is_err());
        assert!(validate_attributes("{").is_err());
    }

    #[test]
    fn a_contact_status_follows_the_effective_rule() {
        let t = Topic {
            default_status: SubscriptionStatus::OptOut,
            ..topic("news")
        };
        let mut c = Contact {
            id: 1,
            email: EmailAddress::parse("a@example.com").unwrap(),
            unsubscribe_all: false,
            preferences: vec![],
            attributes: String::new(),
            created_at: 0,
            updated_at: 0,
            paused_until: None,
        };
        assert_eq!(c.status_for(&t), SubscriptionStatus::OptOut);
        c.preferences.push(TopicPreference {
            topic: t.name.clone(),
            status: SubscriptionStatus::OptIn,
        });
        assert_eq!(c.status_for(&t), SubscriptionStatus::OptIn);
        c.paused_until = Some(1_000);
        assert_eq!(c.status_at(&t, 999), SubscriptionStatus::OptOut);
        assert_eq!(c.status_at(&t, 1_000), SubscriptionStatus::OptIn);
        c.unsubscribe_all = true;
        assert_eq!(c.status_for(&t), SubscriptionStatus::OptOut);
    }
}
