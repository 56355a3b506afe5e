//! Test support: fresh databases (a SQLite file in a temp dir, or a new PostgreSQL
//! database on the local server) and `spawn_app()` on port 0.
#![allow(dead_code)]

pub mod dashboard;
pub mod images;
pub mod ses;

use optbox::server::config::Settings;
use optbox::server::startup::Application;
use optbox::server::store::{self, DynStore};
use sqlx::Connection;
use std::net::SocketAddr;

/// Who makes the changes a test sets up through the services (the operator at the
/// command line), for the events they write.
pub fn setup() -> optbox::domain::Audit {
    optbox::domain::Audit::new(optbox::domain::Source::Cli)
}

/// The PostgreSQL server the suite uses; override with OPTBOX_TEST_PG_URL. If it cannot
/// be reached the test fails: the PostgreSQL suite never skips silently.
pub fn pg_admin_url() -> String {
    std::env::var("OPTBOX_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database; dropped (PostgreSQL) or deleted (SQLite) by `cleanup`.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("optbox.db").display());
        Self {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let admin = pg_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {admin} is required for this test and could not be reached: {e}"
                )
            });
        let name = format!("optbox_test_{}", uuid_like());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Self {
            url: format!("{base}/{name}"),
            pg_name: Some(name),
            _dir: None,
        }
    }

    pub async fn new(backend: &str) -> Self {
        match backend {
            "sqlite" => Self::sqlite().await,
            "postgres" => Self::postgres().await,
            other => panic!("unknown backend {other}"),
        }
    }

    pub async fn store(&self) -> DynStore {
        store::open(&self.url, true).await.expect("open store")
    }

    pub async fn cleanup(self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// A list definition with one topic, `news` (default OPT_IN).
pub fn news_list() -> optbox::domain::ListDefinition {
    use optbox::domain::*;
    ListDefinition {
        topics: vec![Topic {
            name: TopicName::parse("news").unwrap(),
            display_name: "News".into(),
            description: String::new(),
            default_status: SubscriptionStatus::OptIn,
            hidden: false,
        }],
        ..Default::default()
    }
}

pub fn uuid_like() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("{:016x}{}", n, std::process::id())
}

/// A running app on an ephemeral port with its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The SMTP submission listener.
    pub smtp_addr: SocketAddr,
    /// The inbound listener, when `inbound_listen` is set.
    pub inbound_addr: Option<SocketAddr>,
    /// The `/metrics` listener, when `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub state: optbox::server::state::AppState,
    pub base: String,
    pub store: DynStore,
    pub keys: Vec<optbox::server::config::TokenKey>,
    /// The master key API secrets are derived from.
    pub api_master: Vec<u8>,
    pub db: TestDb,
    pub client: reqwest::Client,
    /// The server's `import_dir` (a fresh temporary directory unless the test set one).
    pub import_dir: std::path::PathBuf,
    _import_tmp: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs a URL and returns the body; panics on transport errors.
    pub async fn get_text(&self, url: &str) -> String {
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.db.cleanup().await;
    }
}

/// Starts optbox on 127.0.0.1:0 against a fresh database of `backend`.
pub async fn spawn_app_on(backend: &str) -> TestApp {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on("sqlite").await
}

pub async fn spawn_with(backend: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let mut settings = Settings {
        database_url: optbox::server::config::Secret::new(db.url.clone()),
        listen: addr,
        smtp_listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let import_tmp = tempfile::tempdir().expect("temporary import_dir");
    settings.import_dir = import_tmp.path().to_path_buf();
    tweak(&mut settings);
    let import_dir = settings.import_dir.clone();
    let app = Application::build(settings, Some(listener))
        .await
        .expect("build app");
    let store = app.state.store.clone();
    let state = app.state.clone();
    let smtp_addr = app.smtp_addr();
    let inbound_addr = app.inbound_addr();
    let metrics_addr = app.metrics_addr();
    let keys = app.state.token_keys.as_ref().clone();
    let api_master = app.state.api_master.as_ref().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    TestApp {
        addr,
        smtp_addr,
        inbound_addr,
        metrics_addr,
        state,
        base: format!("http://{addr}"),
        store,
        keys,
        api_master,
        db,
        client,
        import_dir,
        _import_tmp: import_tmp,
        shutdown: Some(tx),
    }
}
