//! Use-cases. Edges (HTTP handlers, server functions, the CLI, SMTP) parse and authorise;
//! services decide; the store persists.

pub mod admin;
pub mod admin_ops;
pub mod api_keys;
pub mod audit_trail;
pub mod auth;
pub mod bounces;
pub mod branding;
pub mod configuration_sets;
pub mod contacts;
pub mod demo;
pub mod dkim;
pub mod doctor;
pub mod identities;
pub mod import;
pub mod inbound;
pub mod lists;
pub mod metrics;
pub mod overview;
pub mod privacy;
pub mod recipient;
pub mod requests;
pub mod sending;
pub mod suppressions;
pub mod templates;
pub mod webhooks;

use super::store::StoreError;

/// A service failure: the caller's mistakes first, then ours.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Worth trying again; the cause is logged, never shown to a client.
    #[error("the database is unavailable")]
    Unavailable(#[source] Cause),
    /// Ours: what caused it is logged, never shown to a client.
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// The cause of an internal error, with its own causes.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl ServiceError {
    /// An internal error caused by `e` (an error, whose causes are kept, or a message).
    pub fn internal(e: impl Into<Cause>) -> Self {
        ServiceError::Internal(e.into())
    }

    /// The database (or a file it writes) is unavailable because of `e`.
    pub fn unavailable(e: impl Into<Cause>) -> Self {
        ServiceError::Unavailable(e.into())
    }

    /// What a log line says about it: the whole cause chain for an internal error or an
    /// unavailable database, the message otherwise.
    pub fn detail(&self) -> String {
        chain(self)
    }
}

/// Checks the name of a template, configuration set or event destination (`what`): 1-64
/// ASCII letters, digits, `_` or `-`.
pub fn check_name(what: &str, name: &str) -> ServiceResult<()> {
    if crate::domain::names::is_name(name) {
        return Ok(());
    }
    Err(ServiceError::BadRequest(format!(
        "{what} name {:?} is invalid: 1-64 ASCII letters, digits, '_' or '-'.",
        name.chars().take(80).collect::<String>()
    )))
}

/// An error and each of its causes, `: `-separated (a cause whose text its parent
/// already ends with is not repeated).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ServiceError::Unavailable(Box::new(m)),
            other => ServiceError::Internal(Box::new(other)),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_logs_its_whole_cause_chain_and_shows_none() {
        let io = std::io::Error::other("disk full");
        let e = ServiceError::internal(io);
        assert_eq!(e.to_string(), "internal error");
        assert_eq!(e.detail(), "internal error: disk full");
        let e = ServiceError::from(StoreError::Refused("no backup of PostgreSQL".into()));
        assert_eq!(e.detail(), "internal error: no backup of PostgreSQL");
        assert_eq!(
            ServiceError::unavailable("pool timed out").detail(),
            "the database is unavailable: pool timed out"
        );
    }
}
