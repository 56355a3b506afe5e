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
    #[error("the database is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ServiceError::Unavailable(m.to_string()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
