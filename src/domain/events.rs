//! What the event log can be filtered by (the dashboard's event page and its CSV).

use serde::{Deserialize, Serialize};

/// Filters as the page's GET form sends them; empty strings mean "any".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct EventFilters {
    pub list: String,
    pub topic: String,
    pub kind: String,
    pub contact: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    pub since: String,
    /// `YYYY-MM-DD`, inclusive (UTC).
    pub until: String,
}

/// SES's event types (`MatchingEventTypes` of an event destination), in the model's order.
pub const SES_EVENT_TYPES: &[&str] = &[
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
];

/// The SES event type an optbox event kind is delivered as to configuration-set event
/// destinations; `None` for kinds that are not about a message. An upstream's `250` is a
/// `send` (optbox cannot see the final mailbox), so nothing is ever a `DELIVERY`; a
/// message the relay gave up on after retrying is a `BOUNCE`.
pub fn ses_event_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "send" => "SEND",
        "reject" => "REJECT",
        "bounce" | "delivery.failed" => "BOUNCE",
        "complaint" => "COMPLAINT",
        "rendering.failure" => "RENDERING_FAILURE",
        "subscription" => "SUBSCRIPTION",
        _ => return None,
    })
}
