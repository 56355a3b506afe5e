//! Email addresses as SES treats contacts: stored as given, compared case-insensitively on
//! the domain and case-sensitively on the local part.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an address was refused, worded as SES words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("EmailAddress can't be blank.")]
    Blank,
    #[error("EmailAddress <{0}> is invalid")]
    Invalid(String),
}

/// A syntactically valid address (`local@domain`, one `@`, a dotted domain, no spaces or
/// control characters, local part ≤ 64 bytes, whole address ≤ 254 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<Self, EmailError> {
        if s.trim().is_empty() {
            return Err(EmailError::Blank);
        }
        let invalid = || EmailError::Invalid(s.to_owned());
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || local.chars().any(|c| "<>()[]\\,;:\"".contains(c))
        {
            return Err(invalid());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || domain.len() > 253
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(invalid());
        }
        Ok(Self(s.to_owned()))
    }

    /// The address exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The matching key: the local part as given, the domain lower-cased.
    pub fn key(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').expect("validated");
        format!("{local}@{}", domain.to_lowercase())
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').expect("validated").1
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(s: String) -> Result<Self, EmailError> {
        Self::parse(&s)
    }
}
impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}
impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_addresses_parse_and_bad_ones_get_the_ses_message() {
        for ok in [
            "a@example.com",
            "a+b@example.com",
            "First.Last@Sub.Example.COM",
            "ü@bücher.de",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "a@",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@@example.com",
            "a@-x.com",
            "a..b@example.com",
        ] {
            assert_eq!(
                EmailAddress::parse(bad).unwrap_err().to_string(),
                format!("EmailAddress <{bad}> is invalid")
            );
        }
        assert_eq!(
            EmailAddress::parse("").unwrap_err().to_string(),
            "EmailAddress can't be blank."
        );
    }

    #[test]
    fn the_key_folds_the_domain_but_not_the_local_part() {
        let a = EmailAddress::parse("Jane@Example.COM").unwrap();
        assert_eq!(a.key(), "Jane@example.com");
        assert_eq!(a.as_str(), "Jane@Example.COM");
        assert_ne!(
            a.key(),
            EmailAddress::parse("jane@example.com").unwrap().key()
        );
    }

    proptest! {
        #[test]
        fn generated_addresses_parse_and_keys_ignore_domain_case(
            local in "[A-Za-z0-9_+-]{1,30}", d1 in "[a-zA-Z0-9]{1,20}", tld in "[a-zA-Z]{2,6}"
        ) {
            let s = format!("{local}@{d1}.{tld}");
            let a = EmailAddress::parse(&s).unwrap();
            let b = EmailAddress::parse(&format!("{local}@{}.{}", d1.to_uppercase(), tld.to_lowercase())).unwrap();
            prop_assert_eq!(a.key(), b.key());
            prop_assert_eq!(a.as_str(), s.as_str());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = EmailAddress::parse(&s);
        }
    }
}
