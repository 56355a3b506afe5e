//! The application state shared by axum handlers and Leptos server functions.

use super::config::{Settings, TokenKey};
use super::store::DynStore;
use crate::domain::Limits;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// One value, provided to both handlers and server functions. Cloned for every request
/// (each middleware and handler takes its own), so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    pub leptos_options: LeptosOptions,
    pub store: DynStore,
    pub settings: Arc<Settings>,
    pub limits: Limits,
    /// Unsubscribe-token keys; the first signs.
    pub token_keys: Arc<Vec<TokenKey>>,
    /// The master key SES-API secrets are derived from.
    pub api_master: Arc<Vec<u8>>,
    /// Key for hashing client IPs in the event log (IPs are never stored).
    pub ip_key: Arc<Vec<u8>>,
    /// Per-IP limits and the trusted proxies that say who the client is.
    pub limiter: crate::server::http::limits::Limiter,
    /// DKIM signers by From domain (the sending pipeline).
    pub signers: crate::server::service::sending::SignerCache,
    /// The dashboard overview's aggregates (opt-outs per day, list sizes).
    pub overview: crate::server::service::overview::OverviewCache,
    /// List logos read on the public path (the logo route, the preference page).
    pub logos: crate::server::service::branding::LogoCache,
    /// Bounce and complaint handling and the relay's breaker (the relay worker shares it).
    pub bounces: Arc<crate::server::service::bounces::Bounces>,
}

impl AppStateInner {
    /// What the inbound listener needs, when `inbound_domain` is set.
    pub fn inbound<'a>(&'a self, domain: &'a str) -> crate::server::service::inbound::Inbound<'a> {
        crate::server::service::inbound::Inbound {
            store: &self.store,
            bounces: &self.bounces,
            keys: &self.token_keys,
            domain,
            report_address: self.settings.inbound.inbound_report_address.as_deref(),
        }
    }

    /// A keyed hash of a client IP: stable per instance group, not reversible.
    pub fn ip_hash(&self, ip: std::net::IpAddr) -> String {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&self.ip_key).expect("any key length");
        m.update(ip.to_string().as_bytes());
        crate::server::hex::encode(&m.finalize().into_bytes()[..8])
    }

    /// The audit record of a change a client made by a request: its keyed address hash
    /// (behind trusted proxies, the client they name), its `User-Agent` and its request id.
    pub fn audit(
        &self,
        source: crate::domain::Source,
        peer: Option<std::net::IpAddr>,
        headers: &axum::http::HeaderMap,
    ) -> crate::domain::Audit {
        let mut audit = crate::domain::Audit::from_client(
            source,
            peer.map(|p| self.ip_hash(self.client_ip(p, headers))),
            headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        );
        audit.request_id = headers
            .get(crate::server::http::trace::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        audit
    }

    /// The client's address: the peer, or what a trusted proxy says it forwarded.
    pub fn client_ip(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        self.limiter.client(peer, headers)
    }

    /// Whether the client of a request may ask a public page for one more mail now.
    pub fn allow_form(&self, peer: std::net::IpAddr, headers: &axum::http::HeaderMap) -> bool {
        self.limiter.allow_form(self.client_ip(peer, headers))
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self) -> String {
        self.settings.public_base()
    }

    /// Runs the sending pipeline on a submission (SES SendEmail, the SMTP listener).
    pub async fn process_mail(
        &self,
        s: crate::server::service::sending::Submission,
    ) -> Result<
        crate::server::service::sending::Processed,
        crate::server::service::sending::SendError,
    > {
        let base = self.public_base();
        let inbound = self.settings.inbound.domain();
        let ctx = crate::server::service::sending::Ctx {
            store: self.store.as_ref(),
            settings: &self.settings.pipeline,
            token_keys: &self.token_keys,
            public_base: &base,
            signers: &self.signers,
            inbound_domain: inbound.as_deref(),
            require_identity: self.settings.requires_verified_identity(),
        };
        crate::server::service::sending::process(&ctx, s).await
    }

    /// Stores what the pipeline accepted in the relay queue (or the outbox without an
    /// upstream) and returns the message ids.
    pub async fn enqueue_mail(
        &self,
        msgs: &[crate::server::mail::relay::Outgoing],
    ) -> Result<Vec<String>, crate::server::store::StoreError> {
        crate::server::mail::relay::enqueue(&self.store, self.settings.relay_url.is_some(), msgs)
            .await
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}
