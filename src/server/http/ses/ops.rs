//! The SES v2 contact-list and contact operations, plus the tag operations for lists
//! (SendEmail, import jobs and the suppression list are routed here and live in
//! `send_email.rs`, `import_jobs.rs` and `suppression.rs`).
//! Each parses its input in SES's order (protocol checks, then names, then existence),
//! calls the service layer, and writes the model-exact JSON answer.

use super::paging::{decode_token, encode_token, invalid_token, page_size, query_page_size, ts};
use super::wire::{self, Violations};
use super::{ApiError, ApiRequest};
use crate::domain::{Contact, ContactList, ListDefinition, SubscriptionStatus, TopicName};
use crate::server::service::{contacts, lists};
use crate::server::store::{ContactChange, ContactFilter, NewContact, PrefMode, TopicFilter};
use serde_json::{Value, json};

type OpResult = Result<String, ApiError>;

/// Dispatches on method and path; `None` when no operation matches.
pub async fn route(api: &ApiRequest<'_>) -> Option<OpResult> {
    let segs: Vec<&str> = api.segments.iter().map(String::as_str).collect();
    if let Err(e) = allowed(api, &segs) {
        return Some(Err(e));
    }
    Some(match (api.method.as_str(), segs.as_slice()) {
        ("POST", ["contact-lists"]) => create_list(api).await,
        ("GET", ["contact-lists"]) => list_lists(api).await,
        ("GET", ["contact-lists", name]) => get_list(api, name).await,
        ("PUT", ["contact-lists", name]) => update_list(api, name).await,
        ("DELETE", ["contact-lists", name]) => delete_list(api, name).await,
        ("POST", ["contact-lists", name, "contacts"]) => create_contact(api, name).await,
        // The pre-2024-05 route: PageSize/NextToken in the query, Filter in a GET body.
        ("GET", ["contact-lists", name, "contacts"]) => list_contacts(api, name, true).await,
        ("POST", ["contact-lists", name, "contacts", "list"]) => {
            list_contacts(api, name, false).await
        }
        ("GET", ["contact-lists", name, "contacts", email]) => get_contact(api, name, email).await,
        ("PUT", ["contact-lists", name, "contacts", email]) => {
            update_contact(api, name, email).await
        }
        ("DELETE", ["contact-lists", name, "contacts", email]) => {
            delete_contact(api, name, email).await
        }
        ("POST", ["outbound-emails"]) => super::send_email::send(api).await,
        ("POST", ["import-jobs"]) => super::import_jobs::create(api).await,
        ("POST", ["import-jobs", "list"]) => super::import_jobs::list(api, false).await,
        ("GET", ["import-jobs"]) => super::import_jobs::list(api, true).await,
        ("GET", ["import-jobs", id]) => super::import_jobs::get(api, id).await,
        ("PUT", ["suppression", "addresses"]) => super::suppression::put(api).await,
        ("GET", ["suppression", "addresses"]) => super::suppression::list(api).await,
        ("GET", ["suppression", "addresses", email]) => super::suppression::get(api, email).await,
        ("DELETE", ["suppression", "addresses", email]) => {
            super::suppression::delete(api, email).await
        }
        ("POST", ["identities"]) => super::identities::create(api).await,
        ("GET", ["identities"]) => super::identities::list(api).await,
        ("GET", ["identities", id]) => super::identities::get(api, id).await,
        ("DELETE", ["identities", id]) => super::identities::delete(api, id).await,
        ("POST", ["templates"]) => super::templates::create(api).await,
        ("GET", ["templates"]) => super::templates::list(api).await,
        ("GET", ["templates", name]) => super::templates::get(api, name).await,
        ("PUT", ["templates", name]) => super::templates::update(api, name).await,
        ("DELETE", ["templates", name]) => super::templates::delete(api, name).await,
        ("POST", ["templates", name, "render"]) => super::templates::test_render(api, name).await,
        ("POST", ["configuration-sets"]) => super::configuration_sets::create(api).await,
        ("GET", ["configuration-sets"]) => super::configuration_sets::list(api).await,
        ("GET", ["configuration-sets", name]) => super::configuration_sets::get(api, name).await,
        ("DELETE", ["configuration-sets", name]) => {
            super::configuration_sets::delete(api, name).await
        }
        ("PUT", ["configuration-sets", name, "suppression-options"]) => {
            super::configuration_sets::put_suppression(api, name).await
        }
        ("PUT", ["configuration-sets", name, "sending"]) => {
            super::configuration_sets::put_sending(api, name).await
        }
        ("POST", ["configuration-sets", name, "event-destinations"]) => {
            super::configuration_sets::create_destination(api, name).await
        }
        ("GET", ["configuration-sets", name, "event-destinations"]) => {
            super::configuration_sets::list_destinations(api, name).await
        }
        ("PUT", ["configuration-sets", name, "event-destinations", dest]) => {
            super::configuration_sets::update_destination(api, name, dest).await
        }
        ("DELETE", ["configuration-sets", name, "event-destinations", dest]) => {
            super::configuration_sets::delete_destination(api, name, dest).await
        }
        ("GET", ["tags"]) => list_tags(api).await,
        ("POST", ["tags"]) => tag_resource(api).await,
        ("DELETE", ["tags"]) => untag_resource(api).await,
        _ => return None,
    })
}

/// What the signing key's scope allows: the operation's kind, and the contact list a
/// path names. Templates, identities, configuration sets and tags configure the account:
/// a key with any limit may not change them.
fn allowed(api: &ApiRequest<'_>, segs: &[&str]) -> Result<(), ApiError> {
    use crate::domain::Permission as P;
    use crate::server::service::api_keys::{require, require_list};
    let scope = &api.scope;
    if scope.is_full() {
        return Ok(());
    }
    let read = api.method.as_str() == "GET";
    match segs.first().copied() {
        Some("contact-lists") => {
            // ListContacts by POST only reads.
            let reads = read || matches!(segs, [_, _, "contacts", "list"]);
            require(scope, if reads { P::ReadLists } else { P::WriteLists })?;
            if let Some(name) = segs.get(1) {
                require_list(scope, name)?;
            }
        }
        Some("outbound-emails") => require(scope, P::Send)?,
        Some("import-jobs") => require(scope, P::Import)?,
        Some("suppression") => require(scope, P::Suppression)?,
        Some("templates") if read => require(scope, P::Send)?,
        _ => {
            return Err(crate::server::service::ServiceError::Forbidden(
                "This access key is limited; templates, identities, configuration sets and tags need a key without limits.".into(),
            )
            .into());
        }
    }
    Ok(())
}

const EMPTY: &str = "{}";

fn store<'a>(api: &ApiRequest<'a>) -> &'a dyn crate::server::store::Store {
    api.state.store.as_ref()
}

async fn load_list(api: &ApiRequest<'_>, name: &str) -> Result<ContactList, ApiError> {
    Ok(lists::get(store(api), name).await?)
}

// ---- contact lists -------------------------------------------------------------------

async fn create_list(api: &ApiRequest<'_>) -> OpResult {
    let input: wire::CreateContactListIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let name = v
        .required("contactListName", &input.contact_list_name)
        .cloned();
    let topics = wire::topics(&mut v, input.topics.as_deref().unwrap_or_default());
    let tags = wire::tags(&mut v, input.tags.as_deref().unwrap_or_default());
    v.finish()?;
    let name = name.unwrap_or_default();
    lists::parse_name(&name)?;
    let def = ListDefinition {
        description: input.description.unwrap_or_default(),
        topics: wire::domain_topics(topics)?,
        tags,
        branding: Default::default(),
    };
    lists::create(store(api), &api.state.limits, &name, &def, &api.audit).await?;
    Ok(EMPTY.into())
}

fn list_json(l: &ContactList) -> Value {
    json!({
        "ContactListName": l.name.as_str(),
        "Topics": l.topics.iter().map(|t| {
            let mut o = json!({
                "TopicName": t.name.as_str(),
                "DisplayName": t.display_name,
                "DefaultSubscriptionStatus": t.default_status.as_api(),
            });
            if !t.description.is_empty() {
                o["Description"] = json!(t.description);
            }
            o
        }).collect::<Vec<_>>(),
        "Description": l.description,
        "CreatedTimestamp": ts(l.created_at),
        "LastUpdatedTimestamp": ts(l.updated_at),
        "Tags": l.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>(),
    })
}

async fn get_list(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let list = load_list(api, name).await?;
    Ok(list_json(&list).to_string())
}

async fn update_list(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let input: wire::UpdateContactListIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let topics = input.topics.as_deref().map(|t| wire::topics(&mut v, t));
    v.finish()?;
    lists::parse_name(name)?;
    let topics = topics.map(wire::domain_topics).transpose()?;
    lists::api_update(
        store(api),
        &api.state.limits,
        name,
        topics,
        input.description,
        &api.audit,
    )
    .await?;
    Ok(EMPTY.into())
}

async fn delete_list(api: &ApiRequest<'_>, name: &str) -> OpResult {
    lists::delete(store(api), name, &api.audit).await?;
    Ok(EMPTY.into())
}

async fn list_lists(api: &ApiRequest<'_>) -> OpResult {
    let limit = page_size(query_page_size(api)?)?;
    let after = match api.query_one("NextToken") {
        Some(t) => Some(
            decode_token(t)?
                .strip_prefix("l1:")
                .ok_or_else(invalid_token)?
                .to_owned(),
        ),
        None => None,
    };
    let mut rows = lists::list(store(api), after.as_deref(), limit + 1).await?;
    // A key limited to some lists sees only those.
    rows.retain(|l| api.scope.allows_list(&l.name));
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|l| encode_token(&format!("l1:{}", l.name)))
    } else {
        None
    };
    let mut out = json!({
        "ContactLists": rows.iter().map(|l| json!({
            "ContactListName": l.name,
            "LastUpdatedTimestamp": ts(l.updated_at),
        })).collect::<Vec<_>>(),
    });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out.to_string())
}

// ---- contacts ------------------------------------------------------------------------

/// Checks the preference shapes and converts them, refusing a topic named twice.
fn preferences(
    v: &mut Violations,
    raw: Option<&[wire::TopicPreferenceIn]>,
) -> Option<Vec<(Option<String>, SubscriptionStatus)>> {
    raw.map(|p| wire::preferences(v, p))
}

fn domain_prefs(
    raw: Vec<(Option<String>, SubscriptionStatus)>,
) -> Result<Vec<(TopicName, SubscriptionStatus)>, ApiError> {
    let mut out: Vec<(TopicName, SubscriptionStatus)> = Vec::new();
    for (name, status) in raw {
        let name = TopicName::parse(name.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::bad_request(format!(
                "TopicPreferences names topic {name} more than once."
            )));
        }
        out.push((name, status));
    }
    Ok(out)
}

async fn create_contact(api: &ApiRequest<'_>, list_name: &str) -> OpResult {
    let input: wire::CreateContactIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let email = v.required("emailAddress", &input.email_address).cloned();
    let prefs = preferences(&mut v, input.topic_preferences.as_deref());
    v.finish()?;
    let prefs = domain_prefs(prefs.unwrap_or_default())?;
    let email = contacts::parse_email(&email.unwrap_or_default())?;
    let list = load_list(api, list_name).await?;
    let new = NewContact {
        email,
        unsubscribe_all: input.unsubscribe_all.unwrap_or(false),
        preferences: prefs,
        attributes: input.attributes_data.unwrap_or_default(),
    };
    contacts::create(store(api), &list, new, &api.audit).await?;
    Ok(EMPTY.into())
}

fn prefs_json(c: &Contact, list: &ContactList) -> (Vec<Value>, Vec<Value>) {
    // A paused contact reads as opted out of every topic, so a pipeline that reads the
    // API before sending does not mail it (the sweeper clears the pause once it ends).
    if c.paused_until.is_some() {
        let all = list
            .topics
            .iter()
            .map(|t| json!({"TopicName": t.name.as_str(), "SubscriptionStatus": "OPT_OUT"}))
            .collect();
        return (all, Vec::new());
    }
    let explicit = c
        .preferences
        .iter()
        .map(|p| json!({"TopicName": p.topic.as_str(), "SubscriptionStatus": p.status.as_api()}))
        .collect();
    let defaults = list
        .topics
        .iter()
        .filter(|t| c.explicit(t.name.as_str()).is_none())
        .map(|t| json!({"TopicName": t.name.as_str(), "SubscriptionStatus": t.default_status.as_api()}))
        .collect();
    (explicit, defaults)
}

async fn get_contact(api: &ApiRequest<'_>, list_name: &str, email: &str) -> OpResult {
    lists::parse_name(list_name)?;
    let email = contacts::parse_email(email)?;
    let list = load_list(api, list_name).await?;
    let c = contacts::get(store(api), &list, &email).await?;
    let (explicit, defaults) = prefs_json(&c, &list);
    let mut out = json!({
        "ContactListName": list.name.as_str(),
        "EmailAddress": c.email.as_str(),
        "TopicPreferences": explicit,
        "TopicDefaultPreferences": defaults,
        "UnsubscribeAll": c.unsubscribe_all,
        "CreatedTimestamp": ts(c.created_at),
        "LastUpdatedTimestamp": ts(c.updated_at),
    });
    if !c.attributes.is_empty() {
        out["AttributesData"] = json!(c.attributes);
    }
    Ok(out.to_string())
}

async fn update_contact(api: &ApiRequest<'_>, list_name: &str, email: &str) -> OpResult {
    let input: wire::UpdateContactIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let prefs = preferences(&mut v, input.topic_preferences.as_deref());
    v.finish()?;
    let prefs = prefs.map(domain_prefs).transpose()?;
    lists::parse_name(list_name)?;
    let email = contacts::parse_email(email)?;
    let list = load_list(api, list_name).await?;
    // A read-modify-write of a paused contact sends back the OPT_OUT of every topic that
    // GetContact showed: that is the pause, not a change, so the stored preferences stay
    // and the pause ends as it would have.
    let prefs = match prefs {
        Some(p)
            if p.len() == list.topics.len()
                && p.iter()
                    .all(|(_, s)| *s == crate::domain::SubscriptionStatus::OptOut) =>
        {
            match contacts::get(store(api), &list, &email).await {
                Ok(c) if c.paused_until.is_some() => None,
                _ => Some(p),
            }
        }
        other => other,
    };
    // optbox's UpdateContact: named topics are merged, absent members are kept (see the
    // README, "SES v2 API", its Decisions).
    let change = ContactChange {
        unsubscribe_all: input.unsubscribe_all,
        preferences: prefs.map(|p| (PrefMode::Merge, p)),
        attributes: input.attributes_data,
    };
    contacts::update(store(api), &list, &email, &change, &api.audit).await?;
    Ok(EMPTY.into())
}

async fn delete_contact(api: &ApiRequest<'_>, list_name: &str, email: &str) -> OpResult {
    lists::parse_name(list_name)?;
    let email = contacts::parse_email(email)?;
    let list = load_list(api, list_name).await?;
    contacts::delete(store(api), &list, &email, &api.audit).await?;
    Ok(EMPTY.into())
}

async fn list_contacts(api: &ApiRequest<'_>, list_name: &str, legacy: bool) -> OpResult {
    let input: wire::ListContactsIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let status = input
        .filter
        .as_ref()
        .and_then(|f| v.optional_status("filter.filteredStatus", &f.filtered_status));
    v.finish()?;
    let (page, token) = if legacy {
        (
            query_page_size(api)?.or(input.page_size),
            api.query_one("NextToken")
                .map(str::to_owned)
                .or(input.next_token),
        )
    } else {
        (input.page_size, input.next_token)
    };
    let limit = page_size(page)?;
    lists::parse_name(list_name)?;
    let list = load_list(api, list_name).await?;
    let after_id = match token {
        Some(t) => {
            let s = decode_token(&t)?;
            let (lid, id) = s
                .strip_prefix("c1:")
                .and_then(|r| r.split_once(':'))
                .ok_or_else(invalid_token)?;
            if lid.parse::<i64>().ok() != Some(list.id) {
                return Err(invalid_token());
            }
            Some(id.parse::<i64>().map_err(|_| invalid_token())?)
        }
        None => None,
    };
    let topic = match input.filter.as_ref().and_then(|f| f.topic_filter.as_ref()) {
        Some(tf) => match &tf.topic_name {
            Some(name) => {
                let topic =
                    TopicName::parse(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
                if list.topic(topic.as_str()).is_none() {
                    return Err(ApiError::bad_request(format!(
                        "List: {} doesn't contain Topic: {topic}",
                        list.name
                    )));
                }
                Some(TopicFilter {
                    topic,
                    use_default: tf.use_default_if_preference_unavailable.unwrap_or(false),
                })
            }
            None => None,
        },
        None => None,
    };
    let filter = ContactFilter {
        status,
        topic,
        email_prefix: None,
        after_key: None,
    };
    let mut rows = store(api)
        .list_contacts(&list, &filter, after_id, limit + 1)
        .await
        .map_err(crate::server::service::ServiceError::from)?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last()
            .map(|c| encode_token(&format!("c1:{}:{}", list.id, c.id)))
    } else {
        None
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|c| {
            let (explicit, defaults) = prefs_json(c, &list);
            json!({
                "EmailAddress": c.email.as_str(),
                "TopicPreferences": explicit,
                "TopicDefaultPreferences": defaults,
                "UnsubscribeAll": c.unsubscribe_all,
                "LastUpdatedTimestamp": ts(c.updated_at),
            })
        })
        .collect();
    let mut out = json!({ "Contacts": items });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out.to_string())
}

// ---- tags ----------------------------------------------------------------------------

/// The list name in `arn:aws:ses:{region}:{account}:contact-list/{name}` (any partition,
/// region and account: optbox has one namespace of lists).
fn list_from_arn(arn: Option<&str>) -> Result<String, ApiError> {
    let arn = arn.ok_or_else(|| {
        ApiError::bad_request(
            "1 validation error detected: Value at 'resourceArn' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "ses", _region, _account, resource] if partition.starts_with("aws") => {
            resource
                .strip_prefix("contact-list/")
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Tagging is supported for contact lists only, not {}.",
                        resource.chars().take(100).collect::<String>()
                    ))
                })
        }
        _ => Err(ApiError::bad_request(format!(
            "Invalid ResourceArn: {}",
            arn.chars().take(200).collect::<String>()
        ))),
    }
}

async fn list_tags(api: &ApiRequest<'_>) -> OpResult {
    let name = list_from_arn(api.query_one("ResourceArn"))?;
    let list = load_list(api, &name).await?;
    Ok(json!({
        "Tags": list.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>()
    })
    .to_string())
}

async fn tag_resource(api: &ApiRequest<'_>) -> OpResult {
    let input: wire::TagResourceIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    v.required("resourceArn", &input.resource_arn);
    v.required("tags", &input.tags);
    let tags = wire::tags(&mut v, input.tags.as_deref().unwrap_or_default());
    v.finish()?;
    let name = list_from_arn(input.resource_arn.as_deref())?;
    lists::tag(store(api), &name, &tags, &api.audit).await?;
    Ok(EMPTY.into())
}

async fn untag_resource(api: &ApiRequest<'_>) -> OpResult {
    let name = list_from_arn(api.query_one("ResourceArn"))?;
    let keys = api.query_all("TagKeys");
    if keys.is_empty() {
        return Err(ApiError::bad_request(
            "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must not be null",
        ));
    }
    lists::untag(store(api), &name, &keys, &api.audit).await?;
    Ok(EMPTY.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_contact_lists_only() {
        assert_eq!(
            list_from_arn(Some("arn:aws:ses:us-east-1:123456789012:contact-list/news")).unwrap(),
            "news"
        );
        assert!(list_from_arn(Some("arn:aws:ses:us-east-1:1:identity/x.com")).is_err());
        assert!(list_from_arn(Some("news")).is_err());
        assert!(list_from_arn(None).is_err());
    }
}
