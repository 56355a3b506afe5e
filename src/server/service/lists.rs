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

/// UpdateContactList as the SES API sends it: members that are present replace the
/// list's (topics are matched by name, so preferences for kept topics survive and a
/// kept topic keeps its `hidden` flag); absent members keep what is there. Tags and
/// branding are not part of this operation and are kept.
pub async fn api_update(
    store: &dyn Store,
    limits: &Limits,
    name: &str,
    topics: Option<Vec<crate::domain::Topic>>,
    description: Option<String>,
) -> ServiceResult<ContactList> {
    let current = get(store, name).await?;
    let topics = match topics {
        Some(mut ts) => {
            for t in &mut ts {
                if let Some(old) = current.topic(t.name.as_str()) {
                    t.hidden = old.hidden;
                }
            }
            ts
        }
        None => current.topics.clone(),
    };
    let def = ListDefinition {
        description: description.unwrap_or(current.description),
        topics,
        tags: current.tags,
        branding: current.branding,
    };
    update(store, limits, name, &def).await
}

/// Most tags a list may carry (the SES limit per resource).
pub const MAX_TAGS: usize = 50;

fn check_tags(tags: &[crate::domain::Tag]) -> ServiceResult<()> {
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(ServiceError::BadRequest(
                "Tag keys must be 1-128 characters long.".into(),
            ));
        }
        if t.value.chars().count() > 256 {
            return Err(ServiceError::BadRequest(
                "Tag values can contain up to 256 characters.".into(),
            ));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ServiceError::BadRequest(
                "Tag keys starting with aws: are reserved.".into(),
            ));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ServiceError::BadRequest(format!(
            "A resource can have at most {MAX_TAGS} tags."
        )));
    }
    Ok(())
}

/// TagResource: adds tags, replacing the values of keys the list already has.
pub async fn tag(store: &dyn Store, name: &str, add: &[crate::domain::Tag]) -> ServiceResult<()> {
    check_tags(add)?;
    let list = get(store, name).await?;
    let mut tags = list.tags;
    for t in add {
        match tags.iter_mut().find(|x| x.key == t.key) {
            Some(x) => x.value = t.value.clone(),
            None => tags.push(t.clone()),
        }
    }
    check_tags(&tags)?;
    match store.set_list_tags(list.name.as_str(), &tags).await {
        Err(StoreError::NotFound) => Err(not_found(list.name.as_str())),
        other => Ok(other?),
    }
}

/// UntagResource: removes the tags with these keys (unknown keys are ignored).
pub async fn untag(store: &dyn Store, name: &str, keys: &[&str]) -> ServiceResult<()> {
    let list = get(store, name).await?;
    let tags: Vec<_> = list
        .tags
        .into_iter()
        .filter(|t| !keys.contains(&t.key.as_str()))
        .collect();
    match store.set_list_tags(list.name.as_str(), &tags).await {
        Err(StoreError::NotFound) => Err(not_found(list.name.as_str())),
        other => Ok(other?),
    }
}
