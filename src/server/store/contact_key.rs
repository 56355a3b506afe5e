//! The keyed hash that names a contact in the event log.

use super::{StoreError, StoreResult};
use crate::domain::EmailAddress;
use std::sync::{Arc, OnceLock};

/// The keyed hash that names a contact in the event log: HMAC-SHA-256 of the address (as
/// SES matches it), under a key of this database's own, cut to 16 bytes. Without the key
/// a guessed address cannot be checked against the log.
#[derive(Clone, Default)]
pub(crate) struct ContactKeyer(Arc<OnceLock<Vec<u8>>>);

impl ContactKeyer {
    /// The server secret the key is kept in.
    pub const SECRET: &'static str = "event_contact_key";

    pub fn set(&self, key: Vec<u8>) {
        let _ = self.0.set(key);
    }

    /// The keyed form of an address hash (`store::email_hash`) that an erasure keeps:
    /// HMAC-SHA-256 under the same key, cut to 16 bytes. Computable from the hash alone,
    /// so an opt-out made from a link (which carries the hash) can be checked against it.
    pub fn erased(&self, email_hash: &[u8]) -> StoreResult<Vec<u8>> {
        use hmac::{Hmac, Mac};
        let key = self.0.get().ok_or_else(|| StoreError::Corrupt {
            what: "event contact key (the store was not opened with `store::open`)".into(),
            source: None,
        })?;
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        m.update(b"erased:");
        m.update(email_hash);
        Ok(m.finalize().into_bytes()[..16].to_vec())
    }

    pub fn hash(&self, email: &str) -> StoreResult<Vec<u8>> {
        use hmac::{Hmac, Mac};
        let key = self.0.get().ok_or_else(|| StoreError::Corrupt {
            what: "event contact key (the store was not opened with `store::open`)".into(),
            source: None,
        })?;
        let normal = EmailAddress::parse(email)
            .map(|e| e.key())
            .unwrap_or_else(|_| email.to_owned());
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        m.update(normal.as_bytes());
        Ok(m.finalize().into_bytes()[..16].to_vec())
    }
}
