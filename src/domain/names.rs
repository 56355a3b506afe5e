//! Contact-list and topic names: at most 64 characters from `[A-Za-z0-9_-]` (the SES rule).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a name was refused, worded as SES words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{0} can't be blank.")]
    Blank(&'static str),
    #[error(
        "{0} can contain up to 64 characters. Only alphanumeric characters, underscores(_) and hyphens(-) are allowed."
    )]
    Invalid(&'static str),
}

/// Whether `s` is a name by the SES rule: 1 to 64 ASCII letters, digits, `_` or `-`.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check(field: &'static str, s: &str) -> Result<(), NameError> {
    if s.trim().is_empty() {
        return Err(NameError::Blank(field));
    }
    if !is_name(s) {
        return Err(NameError::Invalid(field));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Parses a name, returning the SES validation message on failure.
            pub fn parse(s: &str) -> Result<Self, NameError> {
                check($field, s).map(|()| Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                check($field, &s).map(|()| Self(s))
            }
        }
        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A contact list's name.
    ListName,
    "ContactListName"
);
name_type!(
    /// A topic's name, unique within its list.
    TopicName,
    "TopicName"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn blank_and_invalid_names_get_the_ses_messages() {
        assert_eq!(
            ListName::parse("").unwrap_err().to_string(),
            "ContactListName can't be blank."
        );
        assert_eq!(
            TopicName::parse("  ").unwrap_err().to_string(),
            "TopicName can't be blank."
        );
        assert!(
            ListName::parse("a b")
                .unwrap_err()
                .to_string()
                .starts_with("ContactListName can contain up to 64 characters.")
        );
        assert!(ListName::parse(&"a".repeat(65)).is_err());
        assert!(ListName::parse(&"a".repeat(64)).is_ok());
        assert!(ListName::parse("news;topic=x").is_err());
        assert!(ListName::parse("Weekly_news-2").is_ok());
    }

    proptest! {
        #[test]
        fn every_valid_name_parses_and_round_trips(s in "[A-Za-z0-9_-]{1,64}") {
            let n = ListName::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<ListName>(&json).unwrap(), n);
        }

        #[test]
        fn any_name_with_a_foreign_character_is_refused(
            pre in "[A-Za-z0-9_-]{0,20}", bad in "[^A-Za-z0-9_-]", post in "[A-Za-z0-9_-]{0,20}"
        ) {
            let s = format!("{pre}{bad}{post}");
            prop_assert!(TopicName::parse(&s).is_err());
        }

        #[test]
        fn names_longer_than_64_are_refused(s in "[A-Za-z0-9_-]{65,100}") {
            prop_assert!(ListName::parse(&s).is_err());
        }
    }
}
