//! Types and rules shared by the server and the browser: names, addresses, statuses and
//! the one effective-status function. Nothing here touches a database or the network.

pub mod audit;
pub mod branding;
pub mod email;
pub mod events;
pub mod i18n;
pub mod key_scope;
pub mod lang;
pub mod model;
pub mod names;
pub mod query;
pub mod spreadsheet;
pub mod status;
pub mod suppression;

pub use audit::{Actor, Audit, Source};
pub use email::EmailAddress;
pub use events::EventFilters;
pub use key_scope::{KeyScope, Permission};
pub use model::*;
pub use names::{ListName, NameError, TopicName};
pub use status::{SubscriptionStatus, effective_status};
pub use suppression::SuppressionReason;
