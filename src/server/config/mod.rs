//! Typed settings: defaults, then `optbox.toml` (or the file `--config` names), then
//! `OPTBOX_*` environment variables, which win. Secrets never appear in `Debug` output.

mod sections;

pub use sections::{InboundSettings, LimitSettings, RelaySettings, SmtpSettings, WebhookSettings};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

/// A secret string whose `Debug` and `Display` are redacted.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `dev` generates and persists missing keys; `production` refuses to start without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Dev,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything optbox reads from its configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub mode: Mode,
    /// `sqlite://PATH` (default `sqlite://data/optbox.db`) or `postgres://…`.
    pub database_url: Secret,
    pub listen: SocketAddr,
    /// The public base URL of this service, used in unsubscribe links.
    pub public_url: Option<String>,
    pub smtp_listen: SocketAddr,
    pub relay_url: Option<Secret>,
    /// Unsubscribe-token keys: `id:secret[,id:secret…]`. The first signs; all verify.
    pub token_keys: Option<Secret>,
    /// At least 64 characters; signs the admin session cookie.
    pub session_key: Option<Secret>,
    /// At least 32 characters; SES-API secret keys are derived from it (and never stored).
    /// Changing it invalidates every API key.
    pub api_key_master: Option<Secret>,
    /// Reproduce SES limits (one list, 20 topics per list).
    pub aws_strict: bool,
    pub log_format: LogFormat,
    /// Where SES `CreateImportJob` reads its data from (`file://` URLs inside it, and
    /// `s3://BUCKET/KEY` as `import_dir/BUCKET/KEY`) and writes failed-record reports.
    pub import_dir: std::path::PathBuf,
    /// Webhook delivery (`webhook_*` keys; see README "Webhooks").
    #[serde(flatten)]
    pub webhooks: WebhookSettings,
    /// Rate limits, timeouts and trusted proxies (see README "Hardening").
    #[serde(flatten)]
    pub limits: LimitSettings,
    /// The SMTP submission listener (`smtp_*` keys; see README "SMTP").
    #[serde(flatten)]
    pub smtp: SmtpSettings,
    /// The relay queue worker (`relay_*` keys; see README "SMTP").
    #[serde(flatten)]
    pub relay: RelaySettings,
    /// The inbound listener and the relay's breaker (see README "Inbound mail").
    #[serde(flatten)]
    pub inbound: InboundSettings,
    /// The list-management pipeline (see README "Sending").
    #[serde(flatten)]
    pub pipeline: PipelineSettings,
    /// Prometheus metrics on their own listener (see README "Health and metrics").
    #[serde(flatten)]
    pub metrics: MetricsSettings,
    /// How long delivered message bodies and events are kept (see README "Privacy").
    #[serde(flatten)]
    pub retention: RetentionSettings,
    /// Signs the event log's checkpoints (`optbox events checkpoint`): an Ed25519 private
    /// key as base64 of its 32-byte seed (`optbox events keygen` makes one). Kept out of
    /// the database, so whoever controls the database cannot sign a rewritten history.
    pub audit_signing_key: Option<Secret>,
    /// The From address of the mail recipients ask for on the public pages (a manage
    /// link, a subscription to confirm). Default: `noreply@` the public URL's host.
    pub recipient_mail_from: Option<String>,
}

/// Retention: message bodies no longer queued, and events, older than this many days
/// are pruned hourly. Off (kept forever) unless set. Tombstones and suppressions stay.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct RetentionSettings {
    pub retention_messages_days: Option<u32>,
    pub retention_events_days: Option<u32>,
}

/// The Prometheus `/metrics` listener: off unless `metrics_listen` is set, never on the
/// public port.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MetricsSettings {
    /// Where `/metrics` is served (e.g. `127.0.0.1:9464`); off when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// When set, a scrape must send `Authorization: Bearer TOKEN`.
    pub metrics_token: Option<Secret>,
}

/// What to do with a `List-Unsubscribe` the sender already set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExistingHeaders {
    /// Replace the sender's `List-Unsubscribe`/`-Post` with ours (SES).
    #[default]
    Override,
    /// Keep the sender's `List-Unsubscribe` and add no `-Post` (Postbox).
    Preserve,
}

/// Settings of the sending pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct PipelineSettings {
    pub existing_headers: ExistingHeaders,
    /// Split a list-managed message to several recipients into one copy each (each with
    /// its own link); by default such a message gets no list headers (SES).
    pub fan_out: bool,
    /// SendEmail and the SMTP relay refuse a From outside the registered sending
    /// identities (SES `CreateEmailIdentity`); unset: on in production mode, off in dev.
    pub require_verified_identity: Option<bool>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Dev,
            database_url: Secret::new("sqlite://data/optbox.db"),
            listen: "127.0.0.1:3000".parse().expect("literal"),
            public_url: None,
            smtp_listen: "127.0.0.1:2525".parse().expect("literal"),
            relay_url: None,
            token_keys: None,
            session_key: None,
            api_key_master: None,
            aws_strict: false,
            log_format: LogFormat::Text,
            import_dir: "data/imports".into(),
            webhooks: Default::default(),
            limits: Default::default(),
            smtp: Default::default(),
            relay: Default::default(),
            inbound: Default::default(),
            pipeline: Default::default(),
            metrics: Default::default(),
            retention: Default::default(),
            audit_signing_key: None,
            recipient_mail_from: None,
        }
    }
}

/// Why the old `unsubscribe_mailto` setting is refused.
pub const UNSUBSCRIBE_MAILTO_GONE: &str = "unsubscribe_mailto is no longer a setting: optbox receives unsubscribe mail itself at addresses under inbound_domain (see README \"Inbound mail\"); remove it";

/// A configuration problem, as one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads settings from `file` (when it exists; a named file that is missing is an
    /// error) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(p) if !p.exists() => {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    p.display()
                )));
            }
            Some(p) => fig = fig.merge(Toml::file_exact(p)),
            None => fig = fig.merge(Toml::file("optbox.toml")),
        }
        let fig = fig.merge(Env::prefixed("OPTBOX_").ignore(&["config"]));
        if fig.find_value("unsubscribe_mailto").is_ok() {
            return Err(ConfigError(UNSUBSCRIBE_MAILTO_GONE.into()));
        }
        let s: Settings = fig
            .extract()
            .map_err(|e| ConfigError(e.to_string().replace('\n', " ")))?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError(format!(
                "public_url must start with http:// or https://, got {u:?}"
            )));
        }
        if let Some(k) = &self.token_keys {
            parse_token_keys(k.expose())?;
        }
        self.limits.proxies().map_err(ConfigError)?;
        if self.limits.header_read_timeout_secs == 0
            || self.limits.max_connections == 0
            || self.limits.max_connections_per_ip == 0
        {
            return Err(ConfigError(
                "header_read_timeout_secs, max_connections and max_connections_per_ip must be at least 1".into(),
            ));
        }
        if self.limits.request_timeout_secs == 0 {
            return Err(ConfigError(
                "request_timeout_secs must be at least 1".into(),
            ));
        }
        if self.retention.retention_messages_days == Some(0)
            || self.retention.retention_events_days == Some(0)
        {
            return Err(ConfigError(
                "retention_messages_days and retention_events_days must be at least 1 (leave them unset to keep everything)".into(),
            ));
        }
        if let Some(k) = &self.audit_signing_key {
            parse_signing_key(k.expose())?;
        }
        if let Some(k) = &self.session_key
            && k.expose().len() < 64
        {
            return Err(ConfigError(
                "session_key must be at least 64 characters".into(),
            ));
        }
        if let Some(k) = &self.api_key_master
            && k.expose().len() < 32
        {
            return Err(ConfigError(
                "api_key_master must be at least 32 characters".into(),
            ));
        }
        self.inbound.check().map_err(ConfigError)?;
        if self.mode == Mode::Dev {
            let inbound = self.inbound.inbound_listen.map(|a| ("inbound_listen", a));
            for (key, addr) in [("listen", self.listen), ("smtp_listen", self.smtp_listen)]
                .into_iter()
                .chain(inbound)
            {
                if !addr.ip().is_loopback() {
                    return Err(ConfigError(format!(
                        "dev mode keeps its keys in the database and listens on loopback only, not {key} = {addr}: set mode = \"production\" (OPTBOX_MODE) to listen on other addresses"
                    )));
                }
            }
        }
        if self.mode == Mode::Production {
            if self.token_keys.is_none() {
                return Err(ConfigError(
                    "production mode needs token_keys (OPTBOX_TOKEN_KEYS=id:secret): unsubscribe links must not depend on a generated key".into(),
                ));
            }
            if self.session_key.is_none() {
                return Err(ConfigError(
                    "production mode needs session_key (OPTBOX_SESSION_KEY, 64+ characters)".into(),
                ));
            }
            if self.public_url.is_none() {
                return Err(ConfigError(
                    "production mode needs public_url (OPTBOX_PUBLIC_URL=https://…)".into(),
                ));
            }
            if self.api_key_master.is_none() {
                return Err(ConfigError(
                    "production mode needs api_key_master (OPTBOX_API_KEY_MASTER, 32+ characters): API secrets are derived from it".into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether a From must be a registered sending identity.
    pub fn requires_verified_identity(&self) -> bool {
        self.pipeline
            .require_verified_identity
            .unwrap_or(self.mode == Mode::Production)
    }

    /// The From address of recipient-requested mail (`recipient_mail_from`).
    pub fn recipient_from(&self) -> String {
        if let Some(f) = &self.recipient_mail_from {
            return f.clone();
        }
        let base = self.public_base();
        let host = base
            .split("://")
            .nth(1)
            .unwrap_or("localhost")
            .split(['/', ':'])
            .next()
            .unwrap_or("localhost");
        format!("noreply@{host}")
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

/// One configured token key.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey {
    pub id: String,
    pub secret: Vec<u8>,
}
impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey({}, [redacted])", self.id)
    }
}

/// Parses `id:secret[,id:secret…]`: ids are 1–16 letters or digits, secrets at least 32
/// characters.
/// The 32-byte Ed25519 seed of `audit_signing_key` (base64).
pub fn parse_signing_key(s: &str) -> Result<[u8; 32], ConfigError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            ConfigError(
                "audit_signing_key must be base64 of 32 bytes (make one with `optbox events keygen`)"
                    .into(),
            )
        })
}

pub fn parse_token_keys(s: &str) -> Result<Vec<TokenKey>, ConfigError> {
    let mut keys = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, secret) = part
            .split_once(':')
            .ok_or_else(|| ConfigError("token_keys entries must look like id:secret".into()))?;
        if id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError(format!(
                "token key id {id:?} must be 1-16 letters or digits"
            )));
        }
        if secret.len() < 32 {
            return Err(ConfigError(format!(
                "token key {id:?} needs a secret of at least 32 characters"
            )));
        }
        if keys.iter().any(|k: &TokenKey| k.id == id) {
            return Err(ConfigError(format!("token key id {id:?} is listed twice")));
        }
        keys.push(TokenKey {
            id: id.to_owned(),
            secret: secret.as_bytes().to_vec(),
        });
    }
    if keys.is_empty() {
        return Err(ConfigError("token_keys is set but empty".into()));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Settings {
            token_keys: Some(Secret::new("k1:supersecretsupersecretsupersecret")),
            ..Default::default()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("supersecret"));
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn token_keys_parse_and_bad_ones_are_named() {
        let k = parse_token_keys(
            "k2:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, k1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        )
        .unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].id, "k2");
        assert!(
            parse_token_keys("k1:short")
                .unwrap_err()
                .0
                .contains("at least 32")
        );
        assert!(parse_token_keys("nocolon").is_err());
        assert!(parse_token_keys("a-b:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
    }

    #[test]
    fn inbound_settings_are_checked() {
        let mut s = Settings::default();
        s.inbound.inbound_listen = Some("127.0.0.1:2526".parse().unwrap());
        assert!(s.validate().unwrap_err().0.contains("needs inbound_domain"));
        s.inbound.inbound_domain = Some("Bounces.Example.com.".into());
        s.validate().unwrap();
        assert_eq!(s.inbound.domain().as_deref(), Some("bounces.example.com"));
        s.inbound.inbound_domain = Some("not a domain".into());
        assert!(s.validate().unwrap_err().0.contains("not a domain name"));
        s.inbound.inbound_domain = Some("mx.example.com".into());
        s.inbound.inbound_report_address = Some("nope".into());
        assert!(
            s.validate()
                .unwrap_err()
                .0
                .contains("inbound_report_address")
        );
        s.inbound.inbound_report_address = None;
        s.inbound.relay_breaker_share = 1.5;
        assert!(s.validate().unwrap_err().0.contains("relay_breaker_share"));
        s.inbound.relay_breaker_share = 0.1;
        s.inbound.inbound_listen = Some("0.0.0.0:25".parse().unwrap());
        assert!(s.validate().unwrap_err().0.contains("inbound_listen"));
    }

    #[test]
    fn production_mode_requires_keys() {
        let s = Settings {
            mode: Mode::Production,
            ..Default::default()
        };
        assert!(s.validate().unwrap_err().0.contains("token_keys"));
    }
}
