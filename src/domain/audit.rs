//! Who made a change: recorded with the event every change writes.

use serde::{Deserialize, Serialize};

/// Where a change came from; recorded in the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    UnsubscribeHeader,
    LandingPage,
    Api,
    Admin,
    Import,
    Mailto,
    Send,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::UnsubscribeHeader => "UnsubscribeHeader",
            Source::LandingPage => "LandingPage",
            Source::Api => "Api",
            Source::Admin => "Admin",
            Source::Import => "Import",
            Source::Mailto => "Mailto",
            Source::Send => "Send",
        }
    }
}

/// Who made a change, for the event written in the same transaction.
#[derive(Debug, Clone)]
pub struct Audit {
    pub source: Source,
    /// A keyed hash of the client IP, never the IP itself.
    pub ip_hash: Option<String>,
    pub user_agent: Option<String>,
}

impl Audit {
    /// A change with no client behind it (the CLI, an import job, the sending pipeline).
    pub fn new(source: Source) -> Self {
        Self {
            source,
            ip_hash: None,
            user_agent: None,
        }
    }

    /// A change a client made: its keyed address hash and its `User-Agent`, cut to 256
    /// characters.
    pub fn from_client(source: Source, ip_hash: Option<String>, user_agent: Option<&str>) -> Self {
        Self {
            source,
            ip_hash,
            user_agent: user_agent.map(|s| s.chars().take(256).collect()),
        }
    }
}
