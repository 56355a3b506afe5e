//! Outbound mail: the list-management pipeline (options, suppression, headers, the
//! unsubscribe placeholder, DKIM) and the durable relay queue that hands messages upstream.
//!
//! The two halves meet in one place: an edge (SES SendEmail, the SMTP listener) calls
//! [`pipeline::process`] and then [`relay::enqueue`] with what it returns.

pub mod dkim;
pub mod fuzzing;
pub mod options;
pub mod pipeline;
pub mod relay;
pub mod rewrite;
pub mod upstream;
