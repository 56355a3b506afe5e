//! DKIM key management (`optbox dkim generate|list`): keys are generated here, stored
//! in the database, and shown with the TXT record to publish. Private keys never leave
//! the store except into a signer.

use super::{ServiceError, ServiceResult};
use crate::domain::Audit;
use crate::server::mail::dkim::{self, Algorithm};
use crate::server::store::{DkimKeyRecord, Store, StoreError};

/// A key as shown to operators.
#[derive(Debug, Clone)]
pub struct KeyView {
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    pub created_at: i64,
    /// Where the record goes: `{selector}._domainkey.{domain}`.
    pub record_name: String,
    /// The TXT record value.
    pub txt: String,
}

fn view(k: &DkimKeyRecord) -> KeyView {
    let alg = Algorithm::parse(&k.algorithm).unwrap_or(Algorithm::Rsa);
    KeyView {
        domain: k.domain.clone(),
        selector: k.selector.clone(),
        algorithm: k.algorithm.clone(),
        created_at: k.created_at,
        record_name: format!("{}._domainkey.{}", k.selector, k.domain),
        txt: dkim::txt_record(alg, &k.public_key),
    }
}

fn check_label(what: &str, s: &str) -> ServiceResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "{what} {s:?} is not a valid DNS name"
        )))
    }
}

/// Generates and stores a key for `domain`/`selector`; the newest key of a domain signs.
/// A `dkim.generated` event says who generated it (never the private key).
pub async fn generate(
    store: &dyn Store,
    domain: &str,
    selector: &str,
    algorithm: &str,
    audit: &Audit,
) -> ServiceResult<KeyView> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    check_label("domain", &domain)?;
    check_label("selector", selector)?;
    let alg = Algorithm::parse(algorithm).ok_or_else(|| {
        ServiceError::BadRequest(format!(
            "algorithm {algorithm:?} is not supported: use rsa or ed25519"
        ))
    })?;
    let key = dkim::generate(alg).map_err(ServiceError::internal)?;
    match store
        .create_dkim_key(
            &domain,
            selector,
            alg.as_str(),
            &key.private_der,
            &key.public,
        )
        .await
    {
        Ok(k) => {
            let detail = serde_json::json!({
                "domain": k.domain,
                "selector": k.selector,
                "algorithm": k.algorithm,
            });
            store
                .record_change(audit, "dkim.generated", None, None, detail)
                .await?;
            Ok(view(&k))
        }
        Err(StoreError::Conflict) => Err(ServiceError::AlreadyExists(format!(
            "{domain} already has a key with selector {selector}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Every stored key, by domain, newest first.
pub async fn list(store: &dyn Store) -> ServiceResult<Vec<KeyView>> {
    Ok(store.list_dkim_keys().await?.iter().map(view).collect())
}
