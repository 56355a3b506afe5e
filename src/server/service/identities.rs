//! SES sending identities: the domains and addresses mail may be sent from. With
//! `require_verified_identity` (on in production mode) SendEmail and the SMTP relay
//! refuse a From outside them, so a leaked key cannot send as any domain. An identity
//! is verified when it is registered: optbox's operator is the authority here, and its
//! DKIM attributes are optbox's own keys for the domain (`optbox dkim generate`), with
//! the TXT records to publish.

use super::dkim::{self, KeyView};
use super::{ServiceError, ServiceResult};
use crate::domain::{Audit, EmailAddress};
use crate::server::store::{IdentityRecord, Store, StoreError};

/// `DOMAIN` or `EMAIL_ADDRESS`, and the identity lower-cased; a clear error otherwise.
pub fn parse(identity: &str) -> ServiceResult<(String, &'static str)> {
    let id = identity.trim().trim_end_matches('.').to_ascii_lowercase();
    if id.contains('@') {
        EmailAddress::parse(&id).map_err(|e| {
            ServiceError::BadRequest(format!(
                "EmailIdentity {identity:?} is not an email address: {e}"
            ))
        })?;
        return Ok((id, "EMAIL_ADDRESS"));
    }
    let ok = id.contains('.')
        && id.len() <= 253
        && id.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !ok {
        return Err(ServiceError::BadRequest(format!(
            "EmailIdentity {identity:?} is neither a domain nor an email address."
        )));
    }
    Ok((id, "DOMAIN"))
}

fn domain_of(identity: &str) -> &str {
    identity.rsplit_once('@').map_or(identity, |(_, d)| d)
}

/// An identity with the DKIM keys of its domain.
pub struct Identity {
    pub record: IdentityRecord,
    /// Newest first: the key that signs, and the TXT records to publish.
    pub dkim: Vec<KeyView>,
}

async fn with_keys(store: &dyn Store, record: IdentityRecord) -> ServiceResult<Identity> {
    let domain = domain_of(&record.identity).to_owned();
    let dkim = dkim::list(store)
        .await?
        .into_iter()
        .filter(|k| k.domain == domain)
        .collect();
    Ok(Identity { record, dkim })
}

/// Registers an identity, with the configuration set its mail uses when the sender names
/// none (it must exist) and its tags. An `identity.created` event says who did.
pub async fn create(
    store: &dyn Store,
    identity: &str,
    configuration_set: Option<&str>,
    tags: &[(String, String)],
    audit: &Audit,
) -> ServiceResult<Identity> {
    let (id, kind) = parse(identity)?;
    if let Some(set) = configuration_set {
        super::configuration_sets::get(store, set).await?;
    }
    let record = match store
        .create_identity(&id, kind, configuration_set, tags)
        .await
    {
        Err(StoreError::Conflict) => {
            return Err(ServiceError::AlreadyExists(format!(
                "Email identity {id} already exists."
            )));
        }
        other => other?,
    };
    let detail = serde_json::json!({
        "identity": record.identity,
        "type": record.kind,
        "configuration_set": record.configuration_set,
    });
    store
        .record_change(audit, "identity.created", None, None, detail)
        .await?;
    with_keys(store, record).await
}

pub async fn get(store: &dyn Store, identity: &str) -> ServiceResult<Identity> {
    let (id, _) = parse(identity)?;
    match store.get_identity(&id).await {
        Err(StoreError::NotFound) => Err(ServiceError::NotFound(format!(
            "Email identity {id} does not exist."
        ))),
        other => with_keys(store, other?).await,
    }
}

/// Removes an identity; an `identity.deleted` event says who did.
pub async fn delete(store: &dyn Store, identity: &str, audit: &Audit) -> ServiceResult<()> {
    let (id, _) = parse(identity)?;
    if store.delete_identity(&id).await? {
        let detail = serde_json::json!({ "identity": id });
        Ok(store
            .record_change(audit, "identity.deleted", None, None, detail)
            .await?)
    } else {
        Err(ServiceError::NotFound(format!(
            "Email identity {id} does not exist."
        )))
    }
}

pub async fn list(
    store: &dyn Store,
    after: Option<&str>,
    limit: u32,
) -> ServiceResult<Vec<IdentityRecord>> {
    Ok(store.list_identities(after, limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_domains_or_addresses() {
        assert_eq!(
            parse("Example.COM.").unwrap(),
            ("example.com".into(), "DOMAIN")
        );
        assert_eq!(
            parse("News@Example.com").unwrap(),
            ("news@example.com".into(), "EMAIL_ADDRESS")
        );
        for bad in [
            "",
            "localhost",
            "-a.example",
            "a b.example",
            "@example.com",
            "x@",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
