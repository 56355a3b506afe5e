//! Fuzz entry points for the parsers that face untrusted input before any
//! authentication: the unsubscribe token (`token::verify`), the SigV4 `Authorization`
//! machinery (`http::sigv4::verify`), and — re-exported from `mail::fuzzing` — the
//! `X-SES-LIST-MANAGEMENT-OPTIONS` parser and the MIME rewriter.
//!
//! The same functions are driven by the coverage-guided cargo-fuzz targets in
//! `fuzz/fuzz_targets/` (run for a bounded time by `fuzz/run.sh` in CI) and by the
//! bounded property tests in `tests/fuzz_props.rs` and `tests/mail_fuzz.rs`. Each one
//! must never panic, and checks the invariants stated on it.

pub use super::mail::fuzzing::{options_target, rewrite_target};

use super::config::TokenKey;
use super::hex::encode as hex;
use super::http::sigv4::{self, SignedRequest};
use super::token::{self, Unsubscribe};
use crate::domain::{ListName, TopicName};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn token_keys() -> [TokenKey; 2] {
    [
        TokenKey {
            id: "k2".into(),
            secret: b"fuzzing-secret-two".to_vec(),
        },
        TokenKey {
            id: "k1".into(),
            secret: b"fuzzing-secret-one".to_vec(),
        },
    ]
}

/// A name of 1–20 characters from `[a-z0-9_-]` chosen by the input bytes.
fn name_from(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut s: String = bytes
        .iter()
        .take(20)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    if s.is_empty() {
        s.push('a');
    }
    s
}

/// Unsubscribe tokens. With an even first byte the rest is taken as a token string:
/// verification never panics and a token it accepts re-signs to itself (the encoding is
/// canonical). With an odd first byte the input chooses a list, topic and address
/// hash; the signed token verifies to exactly those, and every single-character
/// change, every truncation, and verification without the signing key are refused.
fn version(token: &str) -> Option<u8> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    raw.first().copied()
}

pub fn token_target(data: &[u8]) {
    let keys = token_keys();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let s = String::from_utf8_lossy(rest);
        if let Ok(u) = token::verify(&keys, &s) {
            // Only the current version re-signs to itself; a version-1 token (the
            // address hash in clear) verifies but is never signed any more.
            let resigned = [token::sign(&keys[..1], &u), token::sign(&keys[1..], &u)];
            assert!(
                resigned.iter().any(|t| *t == s) || version(&s) == Some(1),
                "accepted token is canonical"
            );
        }
        return;
    }
    let (hash, names) = rest.split_at(rest.len().min(16));
    let mut email_hash = hash.to_vec();
    email_hash.resize(16, 0);
    let (list_bytes, topic_bytes) = names.split_at(names.len() / 2);
    let Ok(list) = ListName::parse(&name_from(list_bytes)) else {
        return;
    };
    let topic = if topic_bytes.is_empty() {
        None
    } else {
        TopicName::parse(&name_from(topic_bytes)).ok()
    };
    let u = Unsubscribe {
        list,
        topic,
        email_hash,
        send_id: None,
    };
    let tok = token::sign(&keys, &u);
    assert_eq!(token::verify(&keys, &tok).as_ref(), Ok(&u));
    assert!(
        token::verify(&keys[1..], &tok).is_err(),
        "only the signing key verifies"
    );
    for cut in 0..tok.len() {
        assert!(
            token::verify(&keys, &tok[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = (mode as usize / 2) % tok.len();
    let mut bytes = tok.clone().into_bytes();
    let old = bytes[pos];
    let new = b64[(b64.iter().position(|c| *c == old).unwrap_or(0) + 1 + mode as usize % 63) % 64];
    bytes[pos] = new;
    let tampered = String::from_utf8(bytes).expect("base64url is ASCII");
    assert!(
        token::verify(&keys, &tampered).is_err(),
        "one changed character at {pos} is refused"
    );
}

const FUZZ_NOW: i64 = 1_764_000_000; // 2025-11-24T16:00:00Z
const FUZZ_SECRET: &str = "fuzz/secret+KEY";

/// Splits fuzz input into a request: method, path, query (empty line = none), headers
/// as `name: value` lines up to an empty line, then the body.
fn request_parts(data: &[u8]) -> (String, String, Option<String>, HeaderMap, Vec<u8>) {
    let mut lines = data.split(|b| *b == b'\n');
    let mut next = || String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let method = next();
    let path = next();
    let query = Some(next()).filter(|q| !q.is_empty());
    let mut headers = HeaderMap::new();
    // Lossy decoding may have changed lengths; the header part starts after the third
    // newline of the raw input.
    let mut rest = data;
    for _ in 0..3 {
        rest = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => &rest[i + 1..],
            None => &[],
        };
    }
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        let line = &rest[..end];
        rest = &rest[end + 1..];
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name),
                HeaderValue::from_bytes(value.trim_ascii()),
            ) {
                headers.append(n, v);
            }
        }
    }
    (method, path, query, headers, rest.to_vec())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Signs a simple request (path `/v2/email/[a-z0-9_-]+`, no query, headers content-type, host,
/// x-amz-date) the way botocore does, independently of the verifier.
fn sign_simple(path: &str, body: &[u8], date_time: &str) -> HeaderMap {
    let date = &date_time[..8];
    let canonical = format!(
        "POST\n{path}\n\ncontent-type:application/json\nhost:api.example\nx-amz-date:{date_time}\n\ncontent-type;host;x-amz-date\n{}",
        hex(&Sha256::digest(body))
    );
    let scope = format!("{date}/eu-west-1/ses/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut k = hmac(format!("AWS4{FUZZ_SECRET}").as_bytes(), date.as_bytes());
    for part in [&b"eu-west-1"[..], b"ses", b"aws4_request"] {
        k = hmac(&k, part);
    }
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKFUZZ/{scope}, SignedHeaders=content-type;host;x-amz-date, Signature={}",
        hex(&hmac(&k, sts.as_bytes()))
    );
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("host", HeaderValue::from_static("api.example"));
    h.insert(
        "x-amz-date",
        HeaderValue::from_str(date_time).expect("ASCII"),
    );
    h.insert(
        "authorization",
        HeaderValue::from_str(&auth).expect("ASCII"),
    );
    h
}

/// SigV4. With an even first byte the rest is a whole request (see `request_parts`):
/// verification never panics, and whatever it accepts names the access key that
/// `claimed_access_key` reports. With an odd first byte the input is the body and path
/// of a request signed by an independent signer: it verifies, and changing any one
/// body byte makes it a `Mismatch`.
pub fn sigv4_target(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret_for = |id: &str| (id == "AKFUZZ").then(|| FUZZ_SECRET.to_owned());
    if mode & 1 == 0 {
        let (method, path, query, headers, body) = request_parts(rest);
        let req = SignedRequest {
            method: &method,
            raw_path: &path,
            raw_query: query.as_deref(),
            headers: &headers,
            body: &body,
        };
        let claimed = sigv4::claimed_access_key(&headers);
        match sigv4::verify(&req, FUZZ_NOW, secret_for) {
            Ok(c) => assert_eq!(claimed.as_deref(), Some(c.access_key_id.as_str())),
            Err(e) => {
                assert!(!e.code().is_empty() && !e.message().is_empty());
            }
        }
        let _ = sigv4::percent_decode(rest);
        return;
    }
    let (path_bytes, body) = rest.split_at(rest.len().min(mode as usize / 8));
    let path = format!("/v2/email/{}", name_from(path_bytes));
    let headers = sign_simple(&path, body, "20251124T160000Z");
    let req = SignedRequest {
        method: "POST",
        raw_path: &path,
        raw_query: None,
        headers: &headers,
        body,
    };
    let cred = sigv4::verify(&req, FUZZ_NOW, secret_for).expect("a correctly signed request");
    assert_eq!(cred.access_key_id, "AKFUZZ");
    assert_eq!(cred.region, "eu-west-1");
    if !body.is_empty() {
        let mut changed = body.to_vec();
        let at = mode as usize % changed.len();
        changed[at] = changed[at].wrapping_add(1 + mode / 2);
        let req = SignedRequest {
            body: &changed,
            ..req
        };
        assert_eq!(
            sigv4::verify(&req, FUZZ_NOW, secret_for),
            Err(sigv4::SigV4Error::Mismatch)
        );
    }
    assert_eq!(
        sigv4::verify(&req, FUZZ_NOW + 3600, secret_for),
        Err(sigv4::SigV4Error::Skewed)
    );
}
