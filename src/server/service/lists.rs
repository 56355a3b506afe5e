//! Contact-list use-cases with SES validation and messages.

use super::{ServiceError, ServiceResult};
use crate::domain::{ContactList, Limits, ListDefinition, ListName};
use crate::server::store::{ListSummary, Store, StoreError};

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("List with name: {name} doesn't exist."))
}

/// Parses a list name from a request, with the SES message on failure.
pub fn parse_name(name: &str) -> ServiceResult<ListName> {
    ListName::parse(name).map_err(|e| ServiceError::BadRequest(e.to_string()))
}

pub async fn create(
    store: &dyn Store,
    limits: &Limits,
    name: &str,
    def: &ListDefinition,
) -> ServiceResult<ContactList> {
    let name = parse_name(name)?;
    limits
        .validate_definition(def)
        .map_err(ServiceError::BadRequest)?;
    match store
        .create_list(name.as_str(), def, limits.max_lists)
        .await
    {
        Err(StoreError::LimitReached) => {
            Err(ServiceError::BadRequest(limits.too_many_lists_message()))
        }
        Err(StoreError::Conflict) => Err(ServiceError::AlreadyExists(format!(
            "List with name: {name} already exists."
        ))),
        other => Ok(other?),
    }
}

pub async fn get(store: &dyn Store, name: &str) -> ServiceResult<ContactList> {
    let name = parse_name(name)?;
    match store.get_list(name.as_str()).await {
        Err(StoreError::NotFound) => Err(not_found(name.as_str())),
        other => Ok(other?),
    }
}

pub async fn update(
    store: &dyn Store,
    limits: &Limits,
    name: &str,
    def: &ListDefinition,
) -> ServiceResult<ContactList> {
    let name = parse_name(name)?;
    limits
        .validate_definition(def)
        .map_err(ServiceError::BadRequest)?;
    match store.update_list(name.as_str(), def).await {
        Err(StoreError::NotFound) => Err(not_found(name.as_str())),
        other => Ok(other?),
    }
}

pub async fn delete(store: &dyn Store, name: &str) -> ServiceResult<()> {
    let name = parse_name(name)?;
    match store.delete_list(name.as_str()).await {
        Err(StoreError::NotFound) => Err(not_found(name.as_str())),
        other => Ok(other?),
    }
}

pub async fn list(
    store: &dyn Store,
    after: Option<&str>,
    limit: u32,
) -> ServiceResult<Vec<ListSummary>> {
    Ok(store.list_lists(after, limit.clamp(1, 1000)).await?)
}
