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
