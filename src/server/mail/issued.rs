//! The addresses optbox issues under `inbound_domain`: one per send record and purpose.
//!
//! - `unsub-…@DOMAIN`, the `mailto:` of `List-Unsubscribe`: mail to it unsubscribes the
//!   recipient of that send record.
//! - `bounce-…@DOMAIN`, the envelope sender (VERP): delivery status notifications and
//!   feedback reports come back to it, naming the send record.
//!
//! The part after the prefix is base32 (RFC 4648, lower case, no padding) of the send
//! record's id (8 bytes) and the first 8 bytes of HMAC-SHA256 over the prefix and the id
//! under the first token key: 26 characters, 32 or 33 with the prefix, well inside RFC
//! 5321's 64 and unchanged by a mail server that lower-cases local parts. Every
//! configured token key verifies, so rotating keys keeps issued addresses working. An
//! unsubscribe address cannot be turned into a bounce address or the other way round.

use crate::server::config::TokenKey;
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What an issued address is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `List-Unsubscribe`'s mailto.
    Unsubscribe,
    /// The envelope sender: bounces and complaints.
    Bounce,
}

impl Purpose {
    fn prefix(self) -> &'static str {
        match self {
            Purpose::Unsubscribe => "unsub-",
            Purpose::Bounce => "bounce-",
        }
    }
}

const ID_LEN: usize = 8;
const TAG_LEN: usize = 8;

fn tag(key: &TokenKey, purpose: Purpose, id: i64) -> [u8; TAG_LEN] {
    let mut m = Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC takes any key length");
    m.update(b"optbox issued address\0");
    m.update(purpose.prefix().as_bytes());
    m.update(&id.to_be_bytes());
    let full = m.finalize().into_bytes();
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&full[..TAG_LEN]);
    t
}

/// A new send-record id: random and positive, so that it can be put in an address
/// before the record is written (and reveals nothing about how much mail was sent).
pub fn new_send_id() -> i64 {
    use rand::RngCore;
    (rand::rngs::OsRng.next_u64() >> 1).max(1) as i64
}

/// The issued address of `purpose` for send record `id`, under `domain`.
pub fn address(keys: &[TokenKey], domain: &str, purpose: Purpose, id: i64) -> String {
    let key = keys.first().expect("at least one token key is configured");
    let mut bytes = [0u8; ID_LEN + TAG_LEN];
    bytes[..ID_LEN].copy_from_slice(&id.to_be_bytes());
    bytes[ID_LEN..].copy_from_slice(&tag(key, purpose, id));
    let code = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
    format!("{}{code}@{domain}", purpose.prefix())
}

/// Why an address is not one optbox issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Another domain, another prefix, or not base32 of the right length.
    #[error("not an address optbox issues")]
    Foreign,
    /// The right shape, but no configured key made it (forged or mangled).
    #[error("an address optbox did not issue (forged or mangled)")]
    Forged,
}

/// Reads an address optbox may have issued under `domain`: its purpose and send-record
/// id, verified. Case does not matter.
pub fn parse(
    keys: &[TokenKey],
    domain: &str,
    address: &str,
) -> Result<(Purpose, i64), AddressError> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, dom) = address.rsplit_once('@').ok_or(AddressError::Foreign)?;
    if !dom.eq_ignore_ascii_case(domain) {
        return Err(AddressError::Foreign);
    }
    let local = local.to_ascii_lowercase();
    let (purpose, code) = [Purpose::Unsubscribe, Purpose::Bounce]
        .into_iter()
        .find_map(|p| local.strip_prefix(p.prefix()).map(|c| (p, c)))
        .ok_or(AddressError::Foreign)?;
    let bytes = BASE32_NOPAD
        .decode(code.to_ascii_uppercase().as_bytes())
        .map_err(|_| AddressError::Foreign)?;
    if bytes.len() != ID_LEN + TAG_LEN {
        return Err(AddressError::Foreign);
    }
    let id = i64::from_be_bytes(bytes[..ID_LEN].try_into().expect("8 bytes"));
    let given = &bytes[ID_LEN..];
    let ok = keys.iter().any(|k| {
        use subtle::ConstantTimeEq;
        bool::from(tag(k, purpose, id).ct_eq(given))
    });
    if ok && id > 0 {
        Ok((purpose, id))
    } else {
        Err(AddressError::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<TokenKey> {
        vec![
            TokenKey {
                id: "k2".into(),
                secret: b"a-new-secret-a-new-secret-a-new-secret".to_vec(),
            },
            TokenKey {
                id: "k1".into(),
                secret: b"an-old-secret-an-old-secret-an-old-secret".to_vec(),
            },
        ]
    }

    #[test]
    fn addresses_round_trip_in_any_case_and_stay_short() {
        let k = keys();
        for id in [1, 42, new_send_id(), i64::MAX] {
            for p in [Purpose::Unsubscribe, Purpose::Bounce] {
                let a = address(&k, "in.example.com", p, id);
                let local = a.split('@').next().unwrap();
                assert!(local.len() <= 33, "{a}");
                assert!(
                    local
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{a}"
                );
                assert_eq!(parse(&k, "in.example.com", &a), Ok((p, id)));
                assert_eq!(
                    parse(&k, "IN.example.COM", &a.to_ascii_uppercase()),
                    Ok((p, id))
                );
                assert_eq!(parse(&k, "in.example.com", &format!("<{a}>")), Ok((p, id)));
            }
        }
    }

    #[test]
    fn an_old_key_still_verifies() {
        let old = vec![keys().remove(1)];
        let a = address(&old, "in.example.com", Purpose::Unsubscribe, 7);
        assert_eq!(
            parse(&keys(), "in.example.com", &a),
            Ok((Purpose::Unsubscribe, 7))
        );
    }

    #[test]
    fn forged_mangled_and_foreign_addresses_are_refused() {
        let k = keys();
        let a = address(&k, "in.example.com", Purpose::Unsubscribe, 1234);
        // The other purpose with the same code.
        let swapped = a.replace("unsub-", "bounce-");
        assert_eq!(
            parse(&k, "in.example.com", &swapped),
            Err(AddressError::Forged)
        );
        // One character changed.
        let mut m = a.clone().into_bytes();
        m[10] = if m[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            parse(&k, "in.example.com", std::str::from_utf8(&m).unwrap()),
            Err(AddressError::Forged)
        );
        // Truncated, another domain, another prefix, not base32.
        assert_eq!(
            parse(&k, "in.example.com", &a.replacen("@", "x@", 1)),
            Err(AddressError::Foreign)
        );
        assert_eq!(
            parse(&k, "in.example.com", &a[..20]),
            Err(AddressError::Foreign)
        );
        assert_eq!(parse(&k, "other.example", &a), Err(AddressError::Foreign));
        assert_eq!(
            parse(&k, "in.example.com", "postmaster@in.example.com"),
            Err(AddressError::Foreign)
        );
        assert_eq!(
            parse(&k, "in.example.com", "unsub-!!!@in.example.com"),
            Err(AddressError::Foreign)
        );
        // Signed by a key that is not configured.
        let other = vec![TokenKey {
            id: "x".into(),
            secret: b"somebody-else-somebody-else-somebody".to_vec(),
        }];
        let b = address(&other, "in.example.com", Purpose::Bounce, 1234);
        assert_eq!(parse(&k, "in.example.com", &b), Err(AddressError::Forged));
    }
}
