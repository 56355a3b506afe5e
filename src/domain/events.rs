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

/// The kinds of event that record a change to optbox's configuration: who created,
/// changed or removed a contact list (its topics, tags and branding included), an API
/// key, a dashboard user, a webhook, a DKIM key, or an SES identity, configuration set
/// (its event destinations included) or template.
pub const CONFIGURATION_KINDS: &[&str] = &[
    "list.created",
    "list.updated",
    "list.deleted",
    "api_key.created",
    "api_key.revoked",
    "user.created",
    "user.role_changed",
    "user.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "dkim.generated",
    "identity.created",
    "identity.deleted",
    "configuration_set.created",
    "configuration_set.updated",
    "configuration_set.deleted",
    "template.created",
    "template.updated",
    "template.deleted",
];

/// Whether a webhook subscribed to every kind gets events of `kind`: all kinds but
/// `webhook.failed` and the configuration kinds, which a webhook gets only by naming
/// them.
pub fn for_every_webhook(kind: &str) -> bool {
    kind != "webhook.failed" && !CONFIGURATION_KINDS.contains(&kind)
}
