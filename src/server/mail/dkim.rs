//! DKIM keys and signing (`mail-auth`, pure-Rust crypto): generating RSA-2048 and Ed25519
//! keys, the DNS TXT record to publish, and signing with both list headers in `h=`
//! (RFC 8058 §4).

use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};

/// The header fields we sign when present. Both list headers are always in `h=` (an
/// absent field is signed as empty, so a later addition breaks the signature).
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
];

/// A DKIM signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" | "rsa2048" => Some(Self::Rsa),
            "ed25519" | "ed25519-sha256" => Some(Self::Ed25519),
            _ => None,
        }
    }
    /// As stored and shown (`rsa`, `ed25519`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }
    /// The `k=` tag of the DNS record.
    fn k_tag(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }
}

/// A freshly generated key: the private key (PKCS#1 DER for RSA, PKCS#8 DER for
/// Ed25519) and the public key as published in `p=` (SubjectPublicKeyInfo DER for RSA,
/// the raw 32 bytes for Ed25519, RFC 8463).
pub struct Generated {
    pub private_der: Vec<u8>,
    pub public: Vec<u8>,
}

/// Generates a key (RSA-2048 or Ed25519).
pub fn generate(alg: Algorithm) -> Result<Generated, String> {
    match alg {
        Algorithm::Rsa => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::EncodePublicKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| e.to_string())?;
            let private_der = key
                .to_pkcs1_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec();
            let public = rsa::RsaPublicKey::from(&key)
                .to_public_key_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec();
            Ok(Generated {
                private_der,
                public,
            })
        }
        Algorithm::Ed25519 => {
            let private_der = Ed25519Key::generate_pkcs8().map_err(|e| e.to_string())?;
            let public = Ed25519Key::from_pkcs8_der(&private_der)
                .map_err(|e| e.to_string())?
                .public_key();
            Ok(Generated {
                private_der,
                public,
            })
        }
    }
}

/// The TXT record value to publish at `{selector}._domainkey.{domain}`.
pub fn txt_record(alg: Algorithm, public: &[u8]) -> String {
    format!(
        "v=DKIM1; k={}; p={}",
        alg.k_tag(),
        base64::engine::general_purpose::STANDARD.encode(public)
    )
}

enum Kind {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// A ready signer for one domain and selector.
pub struct Signer {
    kind: Kind,
    /// The `d=` domain, lower-cased.
    domain: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    pub fn new(
        alg: Algorithm,
        domain: &str,
        selector: &str,
        private_der: &[u8],
    ) -> Result<Self, String> {
        let kind = match alg {
            Algorithm::Rsa => {
                let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(
                    PrivatePkcs1KeyDer::from(private_der.to_vec()),
                ))
                .map_err(|e| e.to_string())?;
                Kind::Rsa(
                    DkimSigner::from_key(key)
                        .domain(domain)
                        .selector(selector)
                        .headers(SIGNED_HEADERS.iter().copied()),
                )
            }
            Algorithm::Ed25519 => {
                let key = Ed25519Key::from_pkcs8_der(private_der).map_err(|e| e.to_string())?;
                Kind::Ed25519(
                    DkimSigner::from_key(key)
                        .domain(domain)
                        .selector(selector)
                        .headers(SIGNED_HEADERS.iter().copied()),
                )
            }
        };
        Ok(Self {
            kind,
            domain: domain.to_ascii_lowercase(),
        })
    }

    /// The domain it signs for (`d=`), lower-cased.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Returns the message with a `DKIM-Signature` field prepended.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let header = match &self.kind {
            Kind::Rsa(s) => s.sign(message).map_err(|e| e.to_string())?.to_header(),
            Kind::Ed25519(s) => s.sign(message).map_err(|e| e.to_string())?.to_header(),
        };
        let mut out = Vec::with_capacity(header.len() + message.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }
}

/// The TXT record published at `name` (its strings joined), from the system's resolver:
/// `Ok(None)` when the name has none, `Err` when DNS did not answer.
pub async fn published_txt(name: &str) -> Result<Option<String>, String> {
    let resolver = mail_auth::MessageAuthenticator::new_system_conf().map_err(|e| e.to_string())?;
    let lookup = resolver.txt_raw_lookup(name.to_owned());
    match tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await {
        Ok(Ok(bytes)) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Ok(Err(mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(_)))) => Ok(None),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 3 s".into()),
    }
}
