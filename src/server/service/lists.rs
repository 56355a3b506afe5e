//! Contact-list use-cases with SES validation and messages.

use super::{ServiceError, ServiceResult};
use crate::domain::{Audit, ContactList, Limits, ListDefinition, ListName, Tag};
use crate::server::store::{ListSummary, Store, StoreError};
use serde_json::{Map, Value, json};

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("List with name: {name} doesn't exist."))
}

/// Parses a list name from a request, with the SES message on failure.
pub fn parse_name(name: &str) -> ServiceResult<ListName> {
    ListName::parse(name).map_err(|e| ServiceError::BadRequest(e.to_string()))
}

/// Creates a list; a `list.created` event says who did.
pub async fn create(
    store: &dyn Store,
    limits: &Limits,
    name: &str,
    def: &ListDefinition,
    audit: &Audit,
) -> ServiceResult<ContactList> {
    let name = checked(limits, name, def)?;
    let list = match store
        .create_list(name.as_str(), def, limits.max_lists)
        .await
    {
        Err(StoreError::LimitReached) => {
            return Err(ServiceError::BadRequest(limits.too_many_lists_message()));
        }
        Err(StoreError::Conflict) => {
            return Err(ServiceError::AlreadyExists(format!(
                "List with name: {name} already exists."
            )));
        }
        other => other?,
    };
    record_created(store, &list, audit).await?;
    Ok(list)
}

/// The `list.created` event of a new list: its name, description, topic names and tag
/// keys.
pub async fn record_created(
    store: &dyn Store,
    list: &ContactList,
    audit: &Audit,
) -> ServiceResult<()> {
    let detail = json!({
        "name": list.name.as_str(),
        "description": list.description,
        "topics": list.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        "tags": tag_keys(&list.tags),
    });
    let name = Some(list.name.as_str());
    Ok(store
        .record_change(audit, "list.created", name, None, detail)
        .await?)
}

fn tag_keys(tags: &[Tag]) -> Vec<&str> {
    tags.iter().map(|t| t.key.as_str()).collect()
}

/// What a new definition changes in a list, for its `list.updated` event: the
/// description (`from`, `to`), the topics added, removed or changed (by name; a new order
/// alone is `topic_order`), the tag keys set or removed, and the branding fields changed.
/// Empty when nothing changes.
pub fn changes(old: &ContactList, new: &ListDefinition) -> Map<String, Value> {
    let mut out = Map::new();
    if old.description != new.description {
        out.insert(
            "description".into(),
            json!({"from": old.description, "to": new.description}),
        );
    }
    let names = |ts: &[crate::domain::Topic]| -> Vec<String> {
        ts.iter().map(|t| t.name.as_str().to_owned()).collect()
    };
    let added: Vec<String> = names(&new.topics)
        .into_iter()
        .filter(|n| old.topic(n).is_none())
        .collect();
    let removed: Vec<String> = names(&old.topics)
        .into_iter()
        .filter(|n| !new.topics.iter().any(|t| t.name.as_str() == n))
        .collect();
    let changed: Vec<String> = new
        .topics
        .iter()
        .filter(|t| old.topic(t.name.as_str()).is_some_and(|o| o != *t))
        .map(|t| t.name.as_str().to_owned())
        .collect();
    for (key, v) in [
        ("topics_added", &added),
        ("topics_removed", &removed),
        ("topics_changed", &changed),
    ] {
        if !v.is_empty() {
            out.insert(key.into(), json!(v));
        }
    }
    let kept: Vec<String> = names(&old.topics)
        .into_iter()
        .filter(|n| !removed.contains(n))
        .collect();
    let order: Vec<String> = names(&new.topics)
        .into_iter()
        .filter(|n| !added.contains(n))
        .collect();
    if kept != order {
        out.insert("topic_order".into(), json!(names(&new.topics)));
    }
    let set: Vec<&str> = new
        .tags
        .iter()
        .filter(|t| !old.tags.contains(t))
        .map(|t| t.key.as_str())
        .collect();
    let gone: Vec<&str> = old
        .tags
        .iter()
        .filter(|t| !new.tags.iter().any(|n| n.key == t.key))
        .map(|t| t.key.as_str())
        .collect();
    if !set.is_empty() {
        out.insert("tags_set".into(), json!(set));
    }
    if !gone.is_empty() {
        out.insert("tags_removed".into(), json!(gone));
    }
    let (a, b) = (&old.branding, &new.branding);
    let branding: Vec<&str> = [
        ("display_name", a.display_name != b.display_name),
        ("accent_color", a.accent_color != b.accent_color),
        ("privacy_url", a.privacy_url != b.privacy_url),
        ("footer_text", a.footer_text != b.footer_text),
        ("default_language", a.default_language != b.default_language),
    ]
    .into_iter()
    .filter(|(_, c)| *c)
    .map(|(f, _)| f)
    .collect();
    if !branding.is_empty() {
        out.insert("branding".into(), json!(branding));
    }
    out
}

/// Writes the `list.updated` event of a change (none when nothing changed); its topic is
/// the one topic the change touched, if it touched exactly one.
async fn record_update(
    store: &dyn Store,
    old: &ContactList,
    new: &ListDefinition,
    audit: &Audit,
) -> ServiceResult<()> {
    let mut detail = changes(old, new);
    if detail.is_empty() {
        return Ok(());
    }
    let touched: Vec<&str> = ["topics_added", "topics_removed", "topics_changed"]
        .iter()
        .filter_map(|k| detail.get(*k)?.as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let topic = match touched.as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    };
    detail.insert("name".into(), json!(old.name.as_str()));
    Ok(store
        .record_change(
            audit,
            "list.updated",
            Some(old.name.as_str()),
            topic.as_deref(),
            Value::Object(detail),
        )
        .await?)
}

pub async fn get(store: &dyn Store, name: &str) -> ServiceResult<ContactList> {
    let name = parse_name(name)?;
    match store.get_list(name.as_str()).await {
        Err(StoreError::NotFound) => Err(not_found(name.as_str())),
        other => Ok(other?),
    }
}

/// A list's name and definition, checked.
fn checked(limits: &Limits, name: &str, def: &ListDefinition) -> ServiceResult<ListName> {
    let name = parse_name(name)?;
    limits
        .validate_definition(def)
        .map_err(ServiceError::BadRequest)?;
    Ok(name)
}

/// Replaces a list's definition; a `list.updated` event says who changed what (none
/// when nothing changes).
pub async fn update(
    store: &dyn Store,
    limits: &Limits,
    name: &str,
    def: &ListDefinition,
    audit: &Audit,
) -> ServiceResult<ContactList> {
    let name = checked(limits, name, def)?;
    let old = get(store, name.as_str()).await?;
    let list = match store.update_list(name.as_str(), def).await {
        Err(StoreError::NotFound) => return Err(not_found(name.as_str())),
        other => other?,
    };
    record_update(store, &old, def, audit).await?;
    Ok(list)
}

/// Deletes a list with its contacts; a `list.deleted` event says who did.
pub async fn delete(store: &dyn Store, name: &str, audit: &Audit) -> ServiceResult<()> {
    let name = parse_name(name)?;
    match store.delete_list(name.as_str()).await {
        Err(StoreError::NotFound) => return Err(not_found(name.as_str())),
        other => other?,
    }
    let detail = json!({ "name": name.as_str() });
    Ok(store
        .record_change(audit, "list.deleted", Some(name.as_str()), None, detail)
        .await?)
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
    audit: &Audit,
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
    update(store, limits, name, &def, audit).await
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
pub async fn tag(
    store: &dyn Store,
    name: &str,
    add: &[crate::domain::Tag],
    audit: &Audit,
) -> ServiceResult<()> {
    check_tags(add)?;
    let list = get(store, name).await?;
    let mut tags = list.tags.clone();
    for t in add {
        match tags.iter_mut().find(|x| x.key == t.key) {
            Some(x) => x.value = t.value.clone(),
            None => tags.push(t.clone()),
        }
    }
    check_tags(&tags)?;
    set_tags(store, &list, tags, audit).await
}

/// Replaces a list's tags; a `list.updated` event names the keys set or removed.
async fn set_tags(
    store: &dyn Store,
    list: &ContactList,
    tags: Vec<Tag>,
    audit: &Audit,
) -> ServiceResult<()> {
    match store.set_list_tags(list.name.as_str(), &tags).await {
        Err(StoreError::NotFound) => return Err(not_found(list.name.as_str())),
        other => other?,
    }
    let def = ListDefinition {
        description: list.description.clone(),
        topics: list.topics.clone(),
        tags,
        branding: list.branding.clone(),
    };
    record_update(store, list, &def, audit).await
}

/// UntagResource: removes the tags with these keys (unknown keys are ignored).
pub async fn untag(
    store: &dyn Store,
    name: &str,
    keys: &[&str],
    audit: &Audit,
) -> ServiceResult<()> {
    let list = get(store, name).await?;
    let tags: Vec<_> = list
        .tags
        .iter()
        .filter(|t| !keys.contains(&t.key.as_str()))
        .cloned()
        .collect();
    set_tags(store, &list, tags, audit).await
}
