//! The keyed hashes that name a contact where its address must not be: the event log,
//! erased addresses and opt-out tombstones.

use super::{StoreError, StoreResult};
use crate::domain::EmailAddress;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, OnceLock};

/// The keyed hashes of this database: HMAC-SHA-256 under a key of the database's own
/// (the server secret [`ContactKeyer::SECRET`], made once and never rotated), cut to 16
/// bytes. Without the key a guessed address cannot be checked against any of them.
/// Each use has its own form, so a value of one cannot be matched against another:
/// - [`hash`](Self::hash): the address (as SES matches it), naming a contact in the event log;
/// - [`erased`](Self::erased): the address hash ([`email_hash`](super::email_hash)) of an
///   erased address, prefixed `erased:`;
/// - [`tombstone`](Self::tombstone): the address hash of an opt-out tombstone, prefixed
///   `tombstone:`.
///
/// The last two are computable from the address hash alone, so an opt-out made from a
/// link (which carries the hash, never the address) can be checked against them.
#[derive(Clone, Default)]
pub(crate) struct ContactKeyer(Arc<OnceLock<Vec<u8>>>);

/// The width of every keyed hash, in bytes (as wide as an address hash).
const WIDTH: usize = 16;

impl ContactKeyer {
    /// The server secret the key is kept in.
    pub const SECRET: &'static str = "event_contact_key";

    pub fn set(&self, key: Vec<u8>) {
        let _ = self.0.set(key);
    }

    /// The HMAC under the key, before any input.
    fn mac(&self) -> StoreResult<Hmac<Sha256>> {
        let key = self.0.get().ok_or_else(|| StoreError::Corrupt {
            what: "event contact key (the store was not opened with `store::open`)".into(),
            source: None,
        })?;
        Ok(Hmac::<Sha256>::new_from_slice(key).expect("any key length"))
    }

    fn finish(m: Hmac<Sha256>) -> Vec<u8> {
        m.finalize().into_bytes()[..WIDTH].to_vec()
    }

    /// The keyed form of an address hash (`store::email_hash`) that an erasure keeps.
    pub fn erased(&self, email_hash: &[u8]) -> StoreResult<Vec<u8>> {
        let mut m = self.mac()?;
        m.update(b"erased:");
        m.update(email_hash);
        Ok(Self::finish(m))
    }

    /// The key an opt-out tombstone names its address by: the keyed form of its address
    /// hash (`store::email_hash`). Tombstones outlive contacts and erasures, so they hold
    /// this and never the address hash itself.
    pub fn tombstone(&self, email_hash: &[u8]) -> StoreResult<Vec<u8>> {
        Ok(self
            .tombstones([email_hash])?
            .pop()
            .expect("one in, one out"))
    }

    /// [`tombstone`](Self::tombstone) of many address hashes, in their order (the key
    /// prepared once).
    pub fn tombstones<'a>(
        &self,
        email_hashes: impl IntoIterator<Item = &'a [u8]>,
    ) -> StoreResult<Vec<Vec<u8>>> {
        let mut base = self.mac()?;
        base.update(b"tombstone:");
        Ok(email_hashes
            .into_iter()
            .map(|h| {
                let mut m = base.clone();
                m.update(h);
                Self::finish(m)
            })
            .collect())
    }

    pub fn hash(&self, email: &str) -> StoreResult<Vec<u8>> {
        let normal = EmailAddress::parse(email)
            .map(|e| e.key())
            .unwrap_or_else(|_| email.to_owned());
        let mut m = self.mac()?;
        m.update(normal.as_bytes());
        Ok(Self::finish(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_is_keyed_and_apart_from_the_others() {
        let k = ContactKeyer::default();
        assert!(k.tombstone(b"h").is_err(), "no key, no hash");
        k.set(b"0123456789abcdef".to_vec());
        let h = [7u8; 16];
        let t = k.tombstone(&h).unwrap();
        assert_eq!(t.len(), 16);
        assert_ne!(t, h.to_vec());
        assert_ne!(t, k.erased(&h).unwrap());
        // HMAC-SHA-256(key, "tombstone:" ‖ hash), its first 16 bytes.
        let mut m = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        m.update(b"tombstone:");
        m.update(&h);
        assert_eq!(t, m.finalize().into_bytes()[..16].to_vec());
        let other = ContactKeyer::default();
        other.set(b"another key".to_vec());
        assert_ne!(t, other.tombstone(&h).unwrap());
        let many = k.tombstones([&h[..], &[1u8; 16][..]]).unwrap();
        assert_eq!(many[0], t);
        assert_eq!(many[1], k.tombstone(&[1u8; 16]).unwrap());
    }
}
