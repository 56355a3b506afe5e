//! Builds the running application from settings: opens the store, resolves keys, wires
//! routes and middleware. Used by `optbox serve` and by the integration tests.

use super::config::{ConfigError, Mode, Settings, TokenKey, parse_token_keys};
use super::http::{
    admin_export, admin_import, admin_keys, branding, guard, health, limits, one_click, recipient,
    ses,
};
use super::state::{AppState, AppStateInner};
use super::store::{self, DynStore, OpenError};
use crate::app::{App, shell};
use crate::domain::Limits;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{any, get, post};
use leptos::config::LeptosOptions;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};

/// A start-up failure, reported as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error("cannot listen on {addr}: {cause}")]
    Listen { addr: SocketAddr, cause: String },
    #[error("{0}")]
    Other(String),
}

/// The request body limit for every route not given its own.
pub const BODY_LIMIT: usize = 1 << 20;

/// The checks of the settings that need the parts they configure (config itself depends
/// on nothing above it): the relay URL is parsed here, so a bad one is refused before
/// anything starts rather than when the relay worker does.
pub fn check_settings(settings: &Settings) -> Result<(), ConfigError> {
    if let Some(u) = &settings.relay_url {
        super::mail::upstream::Upstream::from_url(u.expose(), &settings.relay)
            .map_err(ConfigError)?;
    }
    Ok(())
}

/// Opens the configured store, applying migrations.
pub async fn open_store(settings: &Settings) -> Result<DynStore, StartupError> {
    Ok(store::open(settings.database_url.expose(), true).await?)
}

fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// The configured token keys, or in dev mode a generated key persisted in the database
/// so links keep working across restarts.
pub async fn token_keys(
    settings: &Settings,
    store: &DynStore,
) -> Result<Vec<TokenKey>, StartupError> {
    if let Some(k) = &settings.token_keys {
        return Ok(parse_token_keys(k.expose())?);
    }
    if settings.mode == Mode::Production {
        return Err(StartupError::Other(
            "production mode needs token_keys".into(),
        ));
    }
    let secret = store
        .secret("token_key:dev", &random_bytes(32))
        .await
        .map_err(|e| StartupError::Other(format!("cannot load the dev token key: {e}")))?;
    Ok(vec![TokenKey {
        id: "dev".into(),
        secret,
    }])
}

/// The master key SES-API secrets are derived from: configured, or in dev mode generated
/// once and persisted in the database.
pub async fn api_key_master(
    settings: &Settings,
    store: &DynStore,
) -> Result<Vec<u8>, StartupError> {
    if let Some(k) = &settings.api_key_master {
        return Ok(k.expose().as_bytes().to_vec());
    }
    if settings.mode == Mode::Production {
        return Err(StartupError::Other(
            "production mode needs api_key_master".into(),
        ));
    }
    store
        .secret("api_key_master", &random_bytes(32))
        .await
        .map_err(|e| StartupError::Other(format!("cannot load the API key master: {e}")))
}

async fn session_key(settings: &Settings, store: &DynStore) -> Result<Key, StartupError> {
    let bytes = match &settings.session_key {
        Some(k) => k.expose().as_bytes().to_vec(),
        None => store
            .secret("session_key", &random_bytes(64))
            .await
            .map_err(|e| StartupError::Other(format!("cannot load the session key: {e}")))?,
    };
    Key::try_from(bytes.as_slice()).map_err(|e| StartupError::Other(format!("session key: {e}")))
}

/// Leptos settings: from cargo-leptos' environment when it runs us, otherwise the
/// project's defaults (site files in `target/site`, or `LEPTOS_SITE_ROOT`).
fn leptos_options(settings: &Settings) -> LeptosOptions {
    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    LeptosOptions::builder()
        .output_name("optbox")
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(settings.listen)
        .build()
}

/// A built application, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    pub state: AppState,
    webhooks: Option<crate::server::events::Worker>,
    smtp_listener: TcpListener,
    /// The inbound listener (MX), when `inbound_listen` is set.
    inbound_listener: Option<TcpListener>,
    relay: Option<crate::server::mail::relay::Worker>,
    session_sweeper: tokio::task::JoinHandle<()>,
    retention: Option<tokio::task::JoinHandle<()>>,
    /// Seals the event log into its hash chain (`service::audit_trail`).
    sealer: tokio::task::JoinHandle<()>,
    /// Ends pauses and forgets expired recipient requests.
    housekeeping: tokio::task::JoinHandle<()>,
    /// The `/metrics` listener and the recorder it renders, when `metrics_listen` is set.
    metrics: Option<(TcpListener, metrics_exporter_prometheus::PrometheusHandle)>,
}

/// How often expired dashboard sessions are deleted from the database (also once at
/// start).
pub const SESSION_SWEEP_PERIOD: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Deletes expired sessions now and every `SESSION_SWEEP_PERIOD`; a failure is logged and
/// tried again at the next turn.
fn sweep_sessions(sessions: super::sessions::Sessions) -> tokio::task::JoinHandle<()> {
    use tower_sessions::session_store::ExpiredDeletion;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SESSION_SWEEP_PERIOD);
        loop {
            tick.tick().await;
            if let Err(e) = sessions.delete_expired().await {
                tracing::warn!(error = %crate::server::service::chain(&e), "could not delete expired sessions");
            }
        }
    })
}

impl Application {
    /// Builds the app. With `listener` given (tests bind port 0) it is used as is;
    /// otherwise `settings.listen` is bound.
    pub async fn build(
        settings: Settings,
        listener: Option<TcpListener>,
    ) -> Result<Self, StartupError> {
        let store = open_store(&settings).await?;
        Self::build_with_store(settings, store, listener).await
    }

    pub async fn build_with_store(
        settings: Settings,
        store: DynStore,
        listener: Option<TcpListener>,
    ) -> Result<Self, StartupError> {
        let token_keys = token_keys(&settings, &store).await?;
        let key = session_key(&settings, &store).await?;
        let api_master = api_key_master(&settings, &store).await?;
        let ip_key = store
            .secret("ip_hash_key", &random_bytes(32))
            .await
            .map_err(|e| StartupError::Other(format!("cannot load the IP hash key: {e}")))?;
        let sessions = super::sessions::Sessions::new(store.sessions());
        sessions
            .migrate()
            .await
            .map_err(|e| StartupError::Other(format!("cannot create the session table: {e}")))?;
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(settings.listen)
                .await
                .map_err(|e| StartupError::Listen {
                    addr: settings.listen,
                    cause: e.to_string(),
                })?,
        };
        let smtp_listener =
            TcpListener::bind(settings.smtp_listen)
                .await
                .map_err(|e| StartupError::Listen {
                    addr: settings.smtp_listen,
                    cause: e.to_string(),
                })?;
        // Checked here so a bad certificate or auth setting stops start-up.
        let smtp_local = smtp_listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?;
        if !settings.smtp.smtp_require_auth && !smtp_local.ip().is_loopback() {
            return Err(StartupError::Other(format!(
                "smtp_require_auth = false is only allowed on a loopback listener, not {smtp_local}"
            )));
        }
        crate::server::smtp::tls_acceptor(&settings.smtp).map_err(StartupError::Other)?;
        let inbound_listener = match settings.inbound.inbound_listen {
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|e| StartupError::Listen {
                            addr,
                            cause: e.to_string(),
                        })?,
                )
            }
            None => None,
        };
        let metrics = match settings.metrics.metrics_listen {
            Some(addr) => {
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartupError::Listen {
                        addr,
                        cause: e.to_string(),
                    })?;
                Some((l, crate::server::telemetry::install_metrics()))
            }
            None => None,
        };
        let bounces = Arc::new(crate::server::service::bounces::Bounces::new(
            store.clone(),
            &settings.inbound,
        ));
        let relay = match (&settings.relay_url, settings.relay.relay_worker) {
            (Some(url), true) => Some(
                crate::server::mail::relay::start_worker(
                    store.clone(),
                    url.expose(),
                    settings.relay.clone(),
                    bounces.clone(),
                )
                .map_err(StartupError::Other)?,
            ),
            _ => None,
        };
        let webhooks = settings.webhooks.webhook_worker.then(|| {
            crate::server::events::start_worker(
                store.clone(),
                settings.webhooks.clone(),
                crate::server::events::UrlRules::new(&settings),
            )
        });
        let secure = settings.public_base().starts_with("https://");
        let limiter =
            super::http::limits::Limiter::new(&settings.limits).map_err(StartupError::Other)?;
        let timeout = std::time::Duration::from_secs(settings.limits.request_timeout_secs);
        // SQLite: one-click opt-outs are durable in the one-click log before the 200 and
        // applied behind it; PostgreSQL (shared by many instances): group commit.
        store
            .start()
            .await
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let state = AppState::new(AppStateInner {
            limiter: limiter.clone(),
            leptos_options: leptos_options(&settings),
            store,
            limits: Limits::new(settings.aws_strict),
            settings: Arc::new(settings),
            token_keys: Arc::new(token_keys),
            ip_key: Arc::new(ip_key),
            api_master: Arc::new(api_master),
            signers: Default::default(),
            overview: Default::default(),
            logos: Default::default(),
            bounces,
        });
        {
            // Warm the overview's aggregates so the first view does not read the month.
            let (cache, store) = (state.overview.clone(), state.store.clone());
            tokio::spawn(async move {
                if let Err(e) = cache.refresh(&store).await {
                    tracing::warn!(error = %crate::server::service::chain(&e), "overview warm-up failed");
                }
            });
        }
        let session_sweeper = sweep_sessions(sessions.clone());
        let retention = crate::server::service::privacy::spawn_retention(
            state.store.clone(),
            state.settings.retention.clone(),
        );
        let sealer = crate::server::service::audit_trail::spawn_sealer(state.store.clone());
        let housekeeping =
            crate::server::service::requests::spawn_housekeeping(state.store.clone());
        let session_layer = SessionManagerLayer::new(sessions)
            .with_name("optbox_session")
            .with_http_only(true)
            .with_same_site(SameSite::Strict)
            .with_secure(secure)
            .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
                crate::server::service::auth::IDLE_TIMEOUT_SECS,
            )))
            .with_signed(key);
        let routes = route_list();
        let opts = state.leptos_options.clone();
        let router = Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route(
                "/u/{token}",
                get(recipient::preferences_page).post(one_click::one_click),
            )
            .route(
                "/manage",
                get(recipient::manage_get).post(recipient::manage_post),
            )
            .route(
                "/m/{token}",
                get(recipient::manage_page).post(recipient::manage_change),
            )
            .route(
                "/s/{list}",
                get(recipient::subscribe_get).post(recipient::subscribe_post),
            )
            .route(
                "/c/{token}",
                get(recipient::confirm_get).post(recipient::confirm_post),
            )
            .route("/l/{list}/logo", get(branding::logo))
            .route("/l/{list}/theme.css", get(branding::theme))
            .route("/admin/events.csv", get(admin_export::events_csv))
            .route("/admin/privacy.json", get(admin_export::subject_json))
            .route(
                "/admin/contacts/history.json",
                get(admin_export::history_json),
            )
            .route("/admin/export/{name}/{format}", get(admin_import::export))
            .route(
                "/admin/keys/new",
                get(admin_keys::back).post(admin_keys::create),
            )
            .leptos_routes(&state, routes, move || shell(opts.clone()))
            .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                guard::server_fn_access,
            ))
            .layer(middleware::from_fn(guard::require_login))
            .layer(middleware::from_fn(guard::csrf))
            .layer(middleware::from_fn(guard::recipient_headers))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                guard::session_check,
            ))
            .layer(session_layer.clone())
            .layer(middleware::from_fn_with_state(
                limiter.clone(),
                limits::sign_in,
            ))
            .layer(middleware::from_fn_with_state(limiter, limits::recipient))
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
            .with_state(state.clone())
            // The SES API has its own body limit, auth (SigV4) and error shape, and no
            // sessions or CSRF: it is merged after the site's layers.
            .merge(
                Router::new()
                    .route("/v2/{*rest}", any(ses::handle))
                    .route("/v1/links", post(crate::server::http::links::handle))
                    .with_state(state.clone()),
            )
            // The logo upload: a body limit of its own (a file over the limit is read and
            // refused with a message), sessions; the handler checks origin and role.
            .merge(
                Router::new()
                    .route("/admin/logo/{name}", post(branding::upload))
                    .layer(DefaultBodyLimit::max(branding::UPLOAD_BODY_LIMIT))
                    .layer(middleware::from_fn_with_state(
                        state.clone(),
                        guard::session_check,
                    ))
                    .layer(session_layer.clone())
                    .with_state(state.clone()),
            )
            // Every request, body included, finishes in time or gets a 408.
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            // Dashboard uploads: large bodies (no request timeout: a big file on a slow
            // link takes as long as it takes), sessions; the handler checks origin and role.
            .merge(
                Router::new()
                    .route("/admin/upload/{name}", post(admin_import::upload))
                    .layer(DefaultBodyLimit::max(admin_import::MAX_UPLOAD))
                    .layer(middleware::from_fn_with_state(
                        state.clone(),
                        guard::session_check,
                    ))
                    .layer(session_layer)
                    .with_state(state.clone()),
            )
            // Every dashboard response, whichever router answered it.
            .layer(middleware::from_fn(guard::admin_headers))
            // One span per request, whichever router answers it.
            .layer(middleware::from_fn(super::http::trace::span));
        // Requests by route, when metrics are on (nothing is measured otherwise).
        let router = if metrics.is_some() {
            router.route_layer(middleware::from_fn(super::http::metrics::track))
        } else {
            router
        };
        Ok(Self {
            listener,
            router,
            state,
            webhooks,
            smtp_listener,
            inbound_listener,
            relay,
            session_sweeper,
            retention,
            sealer,
            housekeeping,
            metrics,
        })
    }

    /// The bound address of the `/metrics` listener, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .map(|(l, _)| l.local_addr().expect("bound listener"))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// The bound address of the SMTP submission listener.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_listener.local_addr().expect("bound listener")
    }

    /// The bound address of the inbound listener, when there is one.
    pub fn inbound_addr(&self) -> Option<SocketAddr> {
        self.inbound_listener
            .as_ref()
            .map(|l| l.local_addr().expect("bound listener"))
    }

    /// Serves HTTP and SMTP until `shutdown` resolves, then finishes in-flight requests,
    /// SMTP sessions, and the relay and webhook transactions in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let smtp = crate::server::smtp::start(
            self.state.clone(),
            self.state.settings.smtp.clone(),
            self.smtp_listener,
            crate::server::smtp::Role::Submission,
        )
        .map_err(std::io::Error::other)?;
        let inbound = match self.inbound_listener {
            Some(l) => Some(
                crate::server::smtp::start(
                    self.state.clone(),
                    self.state.settings.smtp.clone(),
                    l,
                    crate::server::smtp::Role::Inbound,
                )
                .map_err(std::io::Error::other)?,
            ),
            None => None,
        };
        let metrics = self.metrics.map(|(listener, handle)| {
            let router = crate::server::http::metrics::router(self.state.clone(), handle);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            })
        });
        let limits = self.state.settings.limits.clone();
        crate::server::http::serve::serve(self.listener, self.router, &limits, shutdown).await?;
        // Opt-outs acknowledged from the one-click log are applied before we stop (what
        // is left after the wait is applied at the next start).
        if let Err(e) = self.state.store.stop().await {
            tracing::warn!(error = %crate::server::service::chain(&e), "one-click opt-outs left to apply at the next start");
        }
        smtp.shutdown().await;
        if let Some(s) = inbound {
            s.shutdown().await;
        }
        if let Some(w) = self.relay {
            w.shutdown().await;
        }
        if let Some(w) = self.webhooks {
            w.shutdown().await;
        }
        self.session_sweeper.abort();
        if let Some(r) = self.retention {
            r.abort();
        }
        self.sealer.abort();
        self.housekeeping.abort();
        if let Err(e) =
            crate::server::service::audit_trail::seal_all(self.state.store.as_ref()).await
        {
            tracing::warn!(error = %crate::server::service::chain(&e), "sealing the event log at shutdown failed");
        }
        if let Some(m) = metrics {
            m.abort();
        }
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: call it before starting background work, so a
/// signal that arrives during start-up is a graceful shutdown too, never a kill.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {},
                _ = wait(term) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// The Leptos route list, generated once per process.
///
/// `generate_route_list` renders the app with a process-wide flag set
/// (`leptos_server`'s `IS_SUPPRESSING_RESOURCE_LOAD`, a static) that turns
/// every resource created meanwhile, in any app instance of the process, into
/// a future that never completes. One server per process never notices: it
/// builds its router before it serves. But where several servers share a
/// process (the integration tests start one per test, concurrently), a page
/// rendered while another server generated its routes hung until the request
/// timeout (408). Generating the list once, behind a `OnceLock`, means no
/// server of the process can serve before the flag is cleared for good.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}
