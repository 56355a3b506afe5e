//! The `optbox` command line: one module per command. Each parses its arguments (clap),
//! opens what it needs and calls the service layer; every error is one line.

pub mod admin;
pub mod contacts;
pub mod database;
pub mod dkim;
pub mod events;
pub mod import;
pub mod keys;
pub mod link;
pub mod outbox;
pub mod serve;
pub mod webhooks;

/// An epoch-ms time as RFC 3339 (UTC), to the second.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
