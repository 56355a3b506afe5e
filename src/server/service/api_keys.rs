//! SES-API credentials: access key id + secret access key pairs.
//!
//! SigV4 needs the secret itself on the verifying side (it is an HMAC key), so it cannot
//! be stored as a one-way hash. Instead it is never stored at all: each key row holds a
//! random salt, and the secret is `base64url(HMAC-SHA256(master, id || salt))[..40]`,
//! recomputed on every request from the server's `api_key_master`. A copy of the
//! database alone reveals no secret; revoking a key is one row update, seen at once by
//! every instance because verification reads the row on every request.

use super::{ServiceError, ServiceResult};
use crate::domain::{Audit, KeyScope, Permission};
use crate::server::store::{ApiKeyRecord, Store, StoreError, now_ms};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;

/// Access key ids look like AWS's (`AKIA` + 16): `OBX` + 17 upper-case letters/digits.
pub const KEY_PREFIX: &str = "OBX";
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A freshly created key: the only time the secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewKey {
    #[serde(rename = "AccessKeyId")]
    pub access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    pub secret_access_key: String,
}

/// Derives the secret of a key from the master key.
pub fn derive_secret(master: &[u8], access_key_id: &str, salt: &[u8]) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(master).expect("any key length");
    m.update(b"optbox-api-key-v1\0");
    m.update(access_key_id.as_bytes());
    m.update(b"\0");
    m.update(salt);
    let out = m.finalize().into_bytes();
    let mut s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out);
    s.truncate(40);
    s
}

fn new_id() -> String {
    let mut bytes = [0u8; 17];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut id = String::from(KEY_PREFIX);
    id.extend(
        bytes
            .iter()
            .map(|b| ID_ALPHABET[(*b as usize) % ID_ALPHABET.len()] as char),
    );
    id
}

/// Creates a key that may do everything and returns it with its secret.
pub async fn create(
    store: &dyn Store,
    master: &[u8],
    description: &str,
    audit: &Audit,
) -> ServiceResult<NewKey> {
    create_scoped(store, master, description, &KeyScope::default(), audit).await
}

/// A key as its events describe it: the access key id, description and scope (never
/// the secret, which is not stored).
fn describe(k: &ApiKeyRecord) -> serde_json::Value {
    let scope = scope_of(k).map(|s| s.describe()).unwrap_or_default();
    serde_json::json!({
        "access_key_id": k.access_key_id,
        "description": k.description,
        "scope": scope,
    })
}

/// Creates a key limited to `scope` and returns it with its secret. An
/// `api_key.created` event says who created it.
pub async fn create_scoped(
    store: &dyn Store,
    master: &[u8],
    description: &str,
    scope: &KeyScope,
    audit: &Audit,
) -> ServiceResult<NewKey> {
    if description.chars().count() > 200 {
        return Err(ServiceError::BadRequest(
            "The description can contain up to 200 characters.".into(),
        ));
    }
    let mut salt = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let rec = ApiKeyRecord {
        access_key_id: new_id(),
        salt,
        description: description.to_owned(),
        created_at: now_ms(),
        revoked_at: None,
        scope: (!scope.is_full())
            .then(|| serde_json::to_string(scope).expect("a scope serialises")),
    };
    store.create_api_key(&rec).await?;
    store
        .record_change(audit, "api_key.created", None, None, describe(&rec))
        .await?;
    Ok(NewKey {
        secret_access_key: derive_secret(master, &rec.access_key_id, &rec.salt),
        access_key_id: rec.access_key_id,
    })
}

/// Every key, newest first (secrets are not recoverable from the list).
pub async fn list(store: &dyn Store) -> ServiceResult<Vec<ApiKeyRecord>> {
    Ok(store.list_api_keys().await?)
}

/// Revokes a key; effective for the next request on every instance. An
/// `api_key.revoked` event says who revoked it.
pub async fn revoke(store: &dyn Store, access_key_id: &str, audit: &Audit) -> ServiceResult<()> {
    match store.revoke_api_key(access_key_id).await {
        Err(StoreError::NotFound) => {
            return Err(ServiceError::NotFound(format!(
                "no active API key {access_key_id}"
            )));
        }
        other => other?,
    }
    let detail = describe(&store.get_api_key(access_key_id).await?);
    Ok(store
        .record_change(audit, "api_key.revoked", None, None, detail)
        .await?)
}

/// The scope a key record holds (a key without one may do everything).
pub fn scope_of(k: &ApiKeyRecord) -> ServiceResult<KeyScope> {
    match &k.scope {
        None => Ok(KeyScope::default()),
        Some(j) => serde_json::from_str(j).map_err(|e| {
            ServiceError::internal(format!(
                "the scope of key {} is unreadable: {e}",
                k.access_key_id
            ))
        }),
    }
}

/// The secret and scope of an active key, or `None` for an unknown or revoked one.
pub async fn key_for(
    store: &dyn Store,
    master: &[u8],
    access_key_id: &str,
) -> ServiceResult<Option<(String, KeyScope)>> {
    if !access_key_id.starts_with(KEY_PREFIX) || access_key_id.len() > 64 {
        return Ok(None);
    }
    match store.get_api_key(access_key_id).await {
        Ok(k) if k.revoked_at.is_none() => Ok(Some((
            derive_secret(master, &k.access_key_id, &k.salt),
            scope_of(&k)?,
        ))),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The secret of an active key, or `None` for an unknown or revoked one.
pub async fn secret_for(
    store: &dyn Store,
    master: &[u8],
    access_key_id: &str,
) -> ServiceResult<Option<String>> {
    Ok(key_for(store, master, access_key_id).await?.map(|(s, _)| s))
}

/// Refuses what `scope` does not allow, as SES's `AccessDeniedException`.
pub fn require(scope: &KeyScope, p: Permission) -> ServiceResult<()> {
    if scope.allows(p) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "This access key may not perform this operation (it lacks {}).",
            p.as_str()
        )))
    }
}

/// Refuses a contact list outside `scope`.
pub fn require_list(scope: &KeyScope, list: &str) -> ServiceResult<()> {
    if scope.allows_list(list) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "This access key may not use contact list {list}."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_aws_ids() {
        let id = new_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with(KEY_PREFIX));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_ne!(new_id(), id);
    }

    #[test]
    fn secrets_depend_on_master_id_and_salt() {
        let s = derive_secret(b"m1", "OBXA", b"salt");
        assert_eq!(s.len(), 40);
        assert_eq!(s, derive_secret(b"m1", "OBXA", b"salt"));
        assert_ne!(s, derive_secret(b"m2", "OBXA", b"salt"));
        assert_ne!(s, derive_secret(b"m1", "OBXB", b"salt"));
        assert_ne!(s, derive_secret(b"m1", "OBXA", b"salt2"));
    }
}
