//! The account suppression list (SES v2's): addresses no message is delivered to, and why.

use serde::{Deserialize, Serialize};

/// Why an address is suppressed (SES `SuppressionListReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SuppressionReason {
    /// A permanent failure saying the mailbox does not exist.
    Bounce,
    /// The recipient reported a message as spam.
    Complaint,
}

impl SuppressionReason {
    /// SES's spelling: `BOUNCE`, `COMPLAINT`.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Bounce => "BOUNCE",
            SuppressionReason::Complaint => "COMPLAINT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "BOUNCE" => Some(SuppressionReason::Bounce),
            "COMPLAINT" => Some(SuppressionReason::Complaint),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_in_ses_spelling() {
        for r in [SuppressionReason::Bounce, SuppressionReason::Complaint] {
            assert_eq!(SuppressionReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(SuppressionReason::parse("bounce"), None);
    }
}
