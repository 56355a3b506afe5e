//! Contact use-cases: creation honours tombstones; every preference change is logged.

use super::{ServiceError, ServiceResult};
use crate::domain::{
    Contact, ContactList, EmailAddress, SubscriptionStatus, TopicName, validate_attributes,
};
use crate::server::store::{Audit, ContactChange, NewContact, Store, StoreError};

/// Parses an address, with the SES message on failure.
pub fn parse_email(s: &str) -> ServiceResult<EmailAddress> {
    EmailAddress::parse(s).map_err(|e| ServiceError::BadRequest(e.to_string()))
}

/// Checks that every preference names a topic of the list.
pub fn check_topics(
    list: &ContactList,
    prefs: &[(TopicName, SubscriptionStatus)],
) -> ServiceResult<()> {
    for (t, _) in prefs {
        if list.topic(t.as_str()).is_none() {
            return Err(ServiceError::BadRequest(format!(
                "List: {} doesn't contain Topic: {t}",
                list.name
            )));
        }
    }
    Ok(())
}

fn contact_not_found(email: &EmailAddress) -> ServiceError {
    ServiceError::NotFound(format!("{email} doesn't exist in List."))
}

pub async fn create(
    store: &dyn Store,
    list: &ContactList,
    new: NewContact,
    audit: &Audit,
) -> ServiceResult<Contact> {
    check_topics(list, &new.preferences)?;
    validate_attributes(&new.attributes).map_err(ServiceError::BadRequest)?;
    match store.create_contact(list, &new, audit).await {
        Err(StoreError::Conflict) => Err(ServiceError::AlreadyExists(format!(
            "{} already exists in List.",
            new.email
        ))),
        other => Ok(other?),
    }
}

pub async fn get(
    store: &dyn Store,
    list: &ContactList,
    email: &EmailAddress,
) -> ServiceResult<Contact> {
    match store.get_contact(list, email).await {
        Err(StoreError::NotFound) => Err(contact_not_found(email)),
        other => Ok(other?),
    }
}

pub async fn update(
    store: &dyn Store,
    list: &ContactList,
    email: &EmailAddress,
    change: &ContactChange,
    audit: &Audit,
) -> ServiceResult<(Contact, Contact)> {
    if let Some((_, prefs)) = &change.preferences {
        check_topics(list, prefs)?;
    }
    if let Some(a) = &change.attributes {
        validate_attributes(a).map_err(ServiceError::BadRequest)?;
    }
    match store.update_contact(list, email, change, audit).await {
        Err(StoreError::NotFound) => Err(contact_not_found(email)),
        other => Ok(other?),
    }
}

pub async fn delete(
    store: &dyn Store,
    list: &ContactList,
    email: &EmailAddress,
    audit: &Audit,
) -> ServiceResult<()> {
    match store.delete_contact(list, email, audit).await {
        Err(StoreError::NotFound) => Err(contact_not_found(email)),
        other => Ok(other?),
    }
}

/// Returns the contact, adding it with no explicit preferences when it is new (the SES
/// behaviour for sends and for `optbox link`).
pub async fn ensure(
    store: &dyn Store,
    list: &ContactList,
    email: &EmailAddress,
    audit: &Audit,
) -> ServiceResult<Contact> {
    match store.get_contact(list, email).await {
        Ok(c) => return Ok(c),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let new = NewContact {
        email: email.clone(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    match store.create_contact(list, &new, audit).await {
        // Someone else added it between our read and write.
        Err(StoreError::Conflict) => Ok(store.get_contact(list, email).await?),
        other => Ok(other?),
    }
}
