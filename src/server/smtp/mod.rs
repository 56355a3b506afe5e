//! The SMTP listeners: submission (senders, with AUTH) and inbound (the MX of
//! `inbound_domain`, without AUTH, for the addresses optbox issued): settings, TLS, the
//! accept loop with its connection limit and graceful shutdown. The protocol itself is
//! in [`session`].

pub mod session;

use crate::server::config::SmtpSettings;
use crate::server::conn_limit::{PerClient, client_key};
use crate::server::state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tracing::Instrument;

/// Loads the STARTTLS certificate and key, when configured.
pub fn tls_acceptor(s: &SmtpSettings) -> Result<Option<TlsAcceptor>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (&s.smtp_tls_cert, &s.smtp_tls_key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err("smtp_tls_cert and smtp_tls_key must be set together".into());
        }
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("smtp_tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "smtp_tls_cert {}: no certificate in the file",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("smtp_tls_key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("smtp_tls_cert/smtp_tls_key: {e}"))?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// Which listener a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Mail from senders to be relayed (AUTH with an API key).
    Submission,
    /// Mail from the internet to the addresses optbox issued; never relayed.
    Inbound,
}

impl Role {
    /// The listener's name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Submission => "submission",
            Role::Inbound => "inbound",
        }
    }
}

/// What every session of one listener shares.
pub struct Context {
    pub role: Role,
    pub state: AppState,
    pub settings: SmtpSettings,
    pub tls: Option<TlsAcceptor>,
    /// The listener is bound to a loopback address: plain-text AUTH is allowed, and AUTH
    /// may be made optional.
    pub loopback: bool,
    pub shutdown: watch::Receiver<bool>,
}

impl Context {
    /// Checks the settings against the listener address.
    pub fn new(
        state: AppState,
        settings: SmtpSettings,
        local: SocketAddr,
        shutdown: watch::Receiver<bool>,
        role: Role,
    ) -> Result<Self, String> {
        let loopback = local.ip().is_loopback();
        if role == Role::Inbound && state.settings.inbound.domain().is_none() {
            return Err("the inbound listener needs inbound_domain".into());
        }
        if role == Role::Submission && !settings.smtp_require_auth && !loopback {
            return Err(format!(
                "smtp_require_auth = false is only allowed on a loopback listener, not {local}"
            ));
        }
        let tls = tls_acceptor(&settings)?;
        Ok(Self {
            role,
            state,
            settings,
            tls,
            loopback,
            shutdown,
        })
    }
}

/// A running listener.
pub struct Server {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops accepting, tells idle sessions to close (`421`), and waits up to 30 s for
    /// sessions that are receiving or storing a message.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// Starts accepting on `listener`.
pub fn start(
    state: AppState,
    settings: SmtpSettings,
    listener: TcpListener,
    role: Role,
) -> Result<Server, String> {
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, rx) = watch::channel(false);
    let max = settings.smtp_max_connections.max(1);
    let per_ip = settings.smtp_max_connections_per_ip.max(1);
    let ctx = Arc::new(Context::new(state, settings, local, rx.clone(), role)?);
    let handle = tokio::spawn(async move {
        let sem = Arc::new(Semaphore::new(max));
        let clients = Arc::new(PerClient::default());
        let mut stopping = rx;
        loop {
            let (mut sock, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "SMTP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = stopping.changed() => break,
            };
            let slot = sem
                .clone()
                .try_acquire_owned()
                .ok()
                .and_then(|p| Some((p, clients.take(Some(client_key(peer.ip())), per_ip)?)));
            let Some(permit) = slot else {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        sock.write_all(b"421 4.7.0 Too many connections, try again later\r\n"),
                    )
                    .await;
                });
                continue;
            };
            let _ = sock.set_nodelay(true);
            let ctx = ctx.clone();
            metrics::counter!("optbox_smtp_sessions_total", "listener" => ctx.role.name())
                .increment(1);
            let span = tracing::info_span!(
                "smtp",
                listener = ctx.role.name(),
                session_id = %format!("{:016x}", rand::random::<u64>()),
                peer = %peer.ip(),
            );
            tokio::spawn(
                async move {
                    if let Err(e) = session::serve(&ctx, sock, peer).await {
                        tracing::debug!(error = %e, "SMTP session ended with an error");
                    }
                    drop(permit);
                }
                .instrument(span),
            );
        }
        drop(listener);
        let _ = tokio::time::timeout(Duration::from_secs(30), sem.acquire_many(max as u32)).await;
    });
    Ok(Server { stop, handle })
}
