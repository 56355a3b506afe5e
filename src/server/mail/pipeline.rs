//! The list-management pipeline every submitted message goes through (product.md §4
//! steps 1–6): parse the options, refuse opted-out recipients, add the one-click headers,
//! fill the unsubscribe placeholder, DKIM-sign. Messages without options pass through
//! untouched apart from DKIM.

use crate::server::state::AppState;

/// Where a message came from (recorded in events; SMTP and the API answer refusals differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Api,
    Smtp,
}

/// List-management options: the API's `ListManagementOptions`, or parsed from the
/// `X-SES-LIST-MANAGEMENT-OPTIONS` header when `None` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    pub list: String,
    pub topic: Option<String>,
}

/// One message as submitted: envelope plus the raw RFC 5322 bytes.
#[derive(Debug, Clone)]
pub struct Submission {
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub data: Vec<u8>,
    /// Options given out of band (API); `None` means "read the header, if any".
    pub options: Option<ListOptions>,
    pub via: Via,
}

/// A message ready for the relay queue: one envelope recipient, final bytes.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message_id: String,
    pub mail_from: String,
    pub rcpt: String,
    pub data: Vec<u8>,
}

/// A recipient the pipeline will not send to (opted out), with the reason to report.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub rcpt: String,
    pub reason: String,
}

/// The pipeline's answer: what to relay and whom it refused.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    pub outgoing: Vec<Outgoing>,
    pub refused: Vec<Refusal>,
}

/// Why a whole message is refused.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The list named in the options does not exist.
    #[error("{0}")]
    UnknownList(String),
    /// The topic named in the options does not exist on the list.
    #[error("{0}")]
    UnknownTopic(String),
    /// The options or the message cannot be parsed.
    #[error("{0}")]
    BadRequest(String),
    #[error("the database is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

/// Runs the pipeline. Placeholder until the pipeline lands: passes the message through
/// unchanged, one copy per recipient.
pub async fn process(_state: &AppState, s: Submission) -> Result<Processed, SendError> {
    let outgoing = s
        .rcpts
        .iter()
        .map(|rcpt| Outgoing {
            message_id: String::new(),
            mail_from: s.mail_from.clone(),
            rcpt: rcpt.clone(),
            data: s.data.clone(),
        })
        .collect();
    Ok(Processed {
        outgoing,
        refused: Vec::new(),
    })
}
