//! Subscription statuses and the single rule that decides a contact's effective status.

use serde::{Deserialize, Serialize};
use std::fmt;

/// OPT_IN or OPT_OUT, spelled as the SES API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SubscriptionStatus {
    #[serde(rename = "OPT_IN")]
    OptIn,
    #[serde(rename = "OPT_OUT")]
    OptOut,
}

impl SubscriptionStatus {
    /// The API spelling (`OPT_IN`).
    pub fn as_api(self) -> &'static str {
        match self {
            Self::OptIn => "OPT_IN",
            Self::OptOut => "OPT_OUT",
        }
    }
    /// The event spelling (`OptIn`), as in SES Subscription events.
    pub fn as_event(self) -> &'static str {
        match self {
            Self::OptIn => "OptIn",
            Self::OptOut => "OptOut",
        }
    }
    pub fn parse_api(s: &str) -> Option<Self> {
        match s {
            "OPT_IN" => Some(Self::OptIn),
            "OPT_OUT" => Some(Self::OptOut),
            _ => None,
        }
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_api())
    }
}

/// The one effective-status function used everywhere (API defaults, filters, the
/// preference page, send-time suppression, exports): UnsubscribeAll wins, then the
/// contact's explicit preference, then the topic's default.
pub fn effective_status(
    unsubscribe_all: bool,
    explicit: Option<SubscriptionStatus>,
    topic_default: SubscriptionStatus,
) -> SubscriptionStatus {
    if unsubscribe_all {
        SubscriptionStatus::OptOut
    } else {
        explicit.unwrap_or(topic_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubscriptionStatus::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = SubscriptionStatus> {
        prop_oneof![Just(OptIn), Just(OptOut)]
    }

    #[test]
    fn the_three_rules_in_order() {
        assert_eq!(effective_status(true, Some(OptIn), OptIn), OptOut);
        assert_eq!(effective_status(false, Some(OptOut), OptIn), OptOut);
        assert_eq!(effective_status(false, Some(OptIn), OptOut), OptIn);
        assert_eq!(effective_status(false, None, OptOut), OptOut);
        assert_eq!(effective_status(false, None, OptIn), OptIn);
    }

    proptest! {
        #[test]
        fn unsubscribe_all_always_means_opt_out(e in proptest::option::of(status()), d in status()) {
            prop_assert_eq!(effective_status(true, e, d), OptOut);
        }

        #[test]
        fn an_explicit_preference_beats_the_default(e in status(), d in status()) {
            prop_assert_eq!(effective_status(false, Some(e), d), e);
        }

        #[test]
        fn without_a_preference_the_default_rules(d in status()) {
            prop_assert_eq!(effective_status(false, None, d), d);
        }
    }

    #[test]
    fn spellings_differ_between_api_and_events() {
        assert_eq!(serde_json::to_string(&OptIn).unwrap(), "\"OPT_IN\"");
        assert_eq!(OptOut.as_event(), "OptOut");
        assert_eq!(SubscriptionStatus::parse_api("OPT_OUT"), Some(OptOut));
        assert_eq!(SubscriptionStatus::parse_api("opt_out"), None);
    }
}
