//! Signed unsubscribe tokens. A token names a list, an optional topic and a contact (by the
//! hash of its address — never the address itself), signed with HMAC-SHA256 under a key id.
//! Verification needs no database read, so forged or mangled tokens cost almost nothing.
//!
//! Layout (then base64url without padding):
//! `version(1) | key-id length(1) | key id | list length(1) | list | topic length(1) | topic
//! | email hash(16) | tag(16)`, where tag = the first 16 bytes of HMAC-SHA256 over
//! everything before it (with the plain email hash). A topic length of 0 means "no topic".
//!
//! - **Version 2** (signed now): the email hash is masked, `hash XOR HMAC(key, "mask" |
//!   tag)[..16]`, so a link tells nobody without the key which address it is for: the
//!   plain hash is unkeyed (`store::email_hash`), and anyone holding it could confirm a
//!   guessed address offline. The tag is computed over the plain hash, which makes it a
//!   synthetic IV: tokens stay deterministic, and unmasking with the wrong key fails the
//!   tag check.
//! - **Version 3**: as version 2 with the id of the send record (one recipient's copy of
//!   one message, 8 bytes) after the email hash, masked with it, so an unsubscribe names
//!   the message it came from. Send ids are random, and masked they are noise: the link
//!   tells nobody anything new. The link grows by 11 characters.
//! - **Version 1** (the hash in clear) still verifies, so links in mail already delivered
//!   keep working. Every configured key verifies; only the first signs.

use super::config::TokenKey;
use crate::domain::{ListName, TopicName};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The version [`sign`] writes for a link that names no message.
const VERSION: u8 = 2;
/// The version [`sign`] writes for a link in one recipient's copy of a message.
const VERSION_SENT: u8 = 3;
const SEND_LEN: usize = 8;
/// The first version, with the email hash in clear: still verified.
const VERSION_CLEAR: u8 = 1;
const HASH_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// No valid token is longer than this many characters (v1 with maximal names).
pub const MAX_TOKEN_CHARS: usize = 300;

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub list: ListName,
    pub topic: Option<TopicName>,
    /// `store::email_hash` of the contact's address.
    pub email_hash: Vec<u8>,
    /// The send record of the copy the link is in, when it is in one.
    pub send_id: Option<i64>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all: wrong encoding, length or layout.
    #[error("malformed token")]
    Malformed,
    /// Well-formed, but no configured key signed it.
    #[error("invalid token")]
    Invalid,
}

fn mac(key: &TokenKey, data: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC takes any key length");
    m.update(data);
    m
}

/// XORs `body` from `at` (the email hash, and the send id after it) with the mask for
/// `tag` (versions 2 and 3).
fn mask(key: &TokenKey, tag: &[u8], body: &mut [u8], at: usize) {
    let mut m = mac(key, b"optbox token mask\0");
    m.update(tag);
    let pad = m.finalize().into_bytes();
    for (b, p) in body[at..].iter_mut().zip(pad.iter()) {
        *b ^= p;
    }
}

/// The names a token carries in clear, each after its length: the key id, the list and
/// the topic (empty for the whole list).
fn push_names(buf: &mut Vec<u8>, key: &TokenKey, u: &Unsubscribe) {
    for part in [
        key.id.as_str(),
        u.list.as_str(),
        u.topic.as_ref().map(|t| t.as_str()).unwrap_or(""),
    ] {
        buf.push(part.len() as u8);
        buf.extend_from_slice(part.as_bytes());
    }
}

/// Signs a token with the first key.
pub fn sign(keys: &[TokenKey], u: &Unsubscribe) -> String {
    let key = keys.first().expect("at least one token key is configured");
    assert_eq!(u.email_hash.len(), HASH_LEN, "email hash length");
    let mut buf = Vec::with_capacity(80);
    buf.push(if u.send_id.is_some() {
        VERSION_SENT
    } else {
        VERSION
    });
    push_names(&mut buf, key, u);
    let at = buf.len();
    buf.extend_from_slice(&u.email_hash);
    if let Some(id) = u.send_id {
        buf.extend_from_slice(&id.to_be_bytes());
    }
    let tag = mac(key, &buf).finalize().into_bytes();
    mask(key, &tag[..TAG_LEN], &mut buf, at);
    buf.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Verifies a token against every configured key id; constant-time tag comparison.
pub fn verify(keys: &[TokenKey], token: &str) -> Result<Unsubscribe, TokenError> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    if raw.len() < 1 + 3 + HASH_LEN + TAG_LEN
        || !matches!(raw[0], VERSION | VERSION_SENT | VERSION_CLEAR)
    {
        return Err(TokenError::Malformed);
    }
    let mut raw = raw;
    let tag = raw.split_off(raw.len() - TAG_LEN);
    let body = &mut raw[..];
    let mut pos = 1;
    let mut field = || -> Result<&str, TokenError> {
        let len = *body.get(pos).ok_or(TokenError::Malformed)? as usize;
        let s = body
            .get(pos + 1..pos + 1 + len)
            .ok_or(TokenError::Malformed)?;
        pos += 1 + len;
        std::str::from_utf8(s).map_err(|_| TokenError::Malformed)
    };
    let kid = field()?;
    let list = field()?;
    let topic = field()?;
    let send_len = if body[0] == VERSION_SENT { SEND_LEN } else { 0 };
    if body.len() != pos + HASH_LEN + send_len {
        return Err(TokenError::Malformed);
    }
    let (list, topic) = (list.to_owned(), topic.to_owned());
    let key = keys
        .iter()
        .find(|k| k.id == kid)
        .ok_or(TokenError::Invalid)?;
    if body[0] != VERSION_CLEAR {
        mask(key, &tag, body, pos);
    }
    mac(key, body)
        .verify_truncated_left(&tag)
        .map_err(|_| TokenError::Invalid)?;
    let (list, topic) = (list.as_str(), topic.as_str());
    Ok(Unsubscribe {
        list: ListName::parse(list).map_err(|_| TokenError::Malformed)?,
        topic: if topic.is_empty() {
            None
        } else {
            Some(TopicName::parse(topic).map_err(|_| TokenError::Malformed)?)
        },
        email_hash: body[pos..pos + HASH_LEN].to_vec(),
        send_id: (send_len > 0).then(|| {
            let mut b = [0u8; SEND_LEN];
            b.copy_from_slice(&body[pos + HASH_LEN..]);
            i64::from_be_bytes(b)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(id: &str, secret: &str) -> TokenKey {
        TokenKey {
            id: id.into(),
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn sample(topic: Option<&str>) -> Unsubscribe {
        Unsubscribe {
            list: ListName::parse("weekly").unwrap(),
            topic: topic.map(|t| TopicName::parse(t).unwrap()),
            email_hash: (0..16).collect(),
            send_id: None,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_holds_no_address() {
        let keys = vec![key("k1", "0123456789abcdef0123456789abcdef")];
        for t in [None, Some("news")] {
            let u = sample(t);
            let tok = sign(&keys, &u);
            assert_eq!(verify(&keys, &tok), Ok(u));
            assert!(!tok.contains('@'));
            assert!(tok.len() < 100, "{}", tok.len());
        }
    }

    #[test]
    fn old_keys_still_verify_after_rotation_but_unknown_keys_do_not() {
        let old = vec![key("k1", "0123456789abcdef0123456789abcdef")];
        let tok = sign(&old, &sample(Some("news")));
        let rotated = vec![
            key("k2", "ffffffffffffffffffffffffffffffff"),
            old[0].clone(),
        ];
        assert!(verify(&rotated, &tok).is_ok());
        assert!(sign(&rotated, &sample(None)).len() > 10);
        let dropped = vec![key("k2", "ffffffffffffffffffffffffffffffff")];
        assert_eq!(verify(&dropped, &tok), Err(TokenError::Invalid));
        let same_id_other_secret = vec![key("k1", "ffffffffffffffffffffffffffffffff")];
        assert_eq!(
            verify(&same_id_other_secret, &tok),
            Err(TokenError::Invalid)
        );
    }

    /// A token as version 1 wrote it: the email hash in clear.
    fn sign_v1(key: &TokenKey, u: &Unsubscribe) -> String {
        let mut buf = vec![VERSION_CLEAR];
        push_names(&mut buf, key, u);
        buf.extend_from_slice(&u.email_hash);
        let tag = mac(key, &buf).finalize().into_bytes();
        buf.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(buf)
    }

    #[test]
    fn a_token_does_not_carry_the_address_hash_in_clear() {
        let keys = vec![key("k1", "0123456789abcdef0123456789abcdef")];
        let u = sample(Some("news"));
        let raw = URL_SAFE_NO_PAD.decode(sign(&keys, &u)).unwrap();
        assert_eq!(raw[0], 2);
        assert!(
            !raw.windows(HASH_LEN).any(|w| w == u.email_hash.as_slice()),
            "the unkeyed hash would let anyone confirm a guessed address"
        );
        // Deterministic: the same recipient gets the same link.
        assert_eq!(sign(&keys, &u), sign(&keys, &u));
        // The same address on another key masks differently.
        let other = vec![key("k2", "ffffffffffffffffffffffffffffffff")];
        let a = URL_SAFE_NO_PAD.decode(sign(&keys, &u)).unwrap();
        let b = URL_SAFE_NO_PAD.decode(sign(&other, &u)).unwrap();
        assert_ne!(a[a.len() - 32..a.len() - 16], b[b.len() - 32..b.len() - 16]);
    }

    #[test]
    fn links_already_delivered_keep_working_under_every_configured_key() {
        let old = key("k1", "0123456789abcdef0123456789abcdef");
        let u = sample(None);
        let v1 = sign_v1(&old, &u);
        let rotated = vec![key("k2", "ffffffffffffffffffffffffffffffff"), old.clone()];
        assert_eq!(verify(&rotated, &v1), Ok(u.clone()));
        let v2_old = sign(std::slice::from_ref(&old), &u);
        assert_eq!(verify(&rotated, &v2_old), Ok(u.clone()));
        // A v2 token relabelled as v1 (hash still masked) is refused.
        let mut raw = URL_SAFE_NO_PAD.decode(&v2_old).unwrap();
        raw[0] = 1;
        assert_eq!(
            verify(&rotated, &URL_SAFE_NO_PAD.encode(raw)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_link_in_a_copy_names_its_send_record_masked() {
        let keys = keys();
        let u = Unsubscribe {
            send_id: Some(0x0102_0304_0506_0708),
            ..sample(Some("news"))
        };
        let tok = sign(&keys, &u);
        assert_eq!(verify(&keys, &tok), Ok(u.clone()));
        let plain = sign(&keys, &sample(Some("news")));
        assert_eq!(tok.len(), plain.len() + 11, "{tok} vs {plain}");
        let raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
        assert_eq!(raw[0], 3);
        assert!(
            !raw.windows(8)
                .any(|w| w == 0x0102_0304_0506_0708i64.to_be_bytes())
        );
        // Another send id is another link; relabelled as version 2 it is refused.
        let other = sign(
            &keys,
            &Unsubscribe {
                send_id: Some(9),
                ..u.clone()
            },
        );
        assert_ne!(other, tok);
        let mut relabelled = raw.clone();
        relabelled[0] = 2;
        assert!(verify(&keys, &URL_SAFE_NO_PAD.encode(relabelled)).is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        let keys = vec![key("k1", "0123456789abcdef0123456789abcdef")];
        for g in ["", "abc", "!!!!", &"A".repeat(400), "AQ"] {
            assert_eq!(verify(&keys, g), Err(TokenError::Malformed), "{g}");
        }
    }

    fn keys() -> Vec<TokenKey> {
        vec![key("k1", "0123456789abcdef0123456789abcdef")]
    }

    proptest! {
        #[test]
        fn any_changed_byte_is_rejected(pos in 0usize..200, flip in 1u8..=255, topic in proptest::option::of("[a-z]{1,10}")) {
            let tok = sign(&keys(), &sample(topic.as_deref()));
            let mut raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
            let i = pos % raw.len();
            raw[i] ^= flip;
            let forged = URL_SAFE_NO_PAD.encode(&raw);
            prop_assert!(verify(&keys(), &forged).is_err());
        }

        #[test]
        fn any_truncation_is_rejected(cut in 1usize..80) {
            let tok = sign(&keys(), &sample(Some("news")));
            let cut = cut.min(tok.len());
            prop_assert!(verify(&keys(), &tok[..tok.len() - cut]).is_err());
        }

        #[test]
        fn swapping_list_or_topic_is_rejected(list in "[a-z]{1,10}", topic in "[a-z]{1,10}") {
            let u = sample(Some("news"));
            let tok = sign(&keys(), &u);
            let mut raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
            // Re-assemble the body with another list or topic but the original tag.
            let tag = raw.split_off(raw.len() - 16);
            let forged_for = |l: &str, t: &str| {
                let mut b = vec![1u8, 2];
                b.extend_from_slice(b"k1");
                b.push(l.len() as u8);
                b.extend_from_slice(l.as_bytes());
                b.push(t.len() as u8);
                b.extend_from_slice(t.as_bytes());
                b.extend_from_slice(&u.email_hash);
                b.extend_from_slice(&tag);
                URL_SAFE_NO_PAD.encode(b)
            };
            if list != "weekly" {
                prop_assert_eq!(verify(&keys(), &forged_for(&list, "news")), Err(TokenError::Invalid));
            }
            if topic != "news" {
                prop_assert_eq!(verify(&keys(), &forged_for("weekly", &topic)), Err(TokenError::Invalid));
            }
            prop_assert_eq!(verify(&keys(), &forged_for("weekly", "")), Err(TokenError::Invalid));
        }

        #[test]
        fn verify_never_panics(s in "\\PC{0,300}") {
            let _ = verify(&keys(), &s);
        }
    }
}
