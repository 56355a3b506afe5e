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

/// Brings a fresh test database to the schema of an older optbox: every migration up to
/// and including `version` (as `sqlx` applies them, so the store's own migrations carry
/// on from there when it opens).
pub async fn migrate_up_to(url: &str, version: i64) {
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&all).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().into_string().unwrap();
        let v: i64 = name.split('_').next().unwrap().parse().unwrap();
        if v <= version {
            std::fs::copy(f.path(), dir.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    if backend == "sqlite" {
        use std::str::FromStr;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .unwrap()
            .create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        migrator.run(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        migrator.run(&mut c).await.unwrap();
    }
}

/// Runs a statement on the test database past the store.
pub async fn raw_execute(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}

/// A tombstone row as the database holds it: list name, the hash it is kept under,
/// unsubscribe_all, topics (JSON) and updated_at.
pub type RawTombstone = (String, Vec<u8>, bool, String, i64);

/// Every row of `table` (`tombstones`, or `tombstones_unkeyed` where an older version's
/// tombstones wait to be keyed: none once it is gone), read past the store.
pub async fn raw_tombstones(url: &str, table: &str) -> Vec<RawTombstone> {
    if !raw_table_exists(url, table).await {
        return Vec::new();
    }
    let sql = format!(
        "SELECT list_name, email_hash, unsubscribe_all, topics, updated_at FROM {table} \
         ORDER BY list_name, email_hash"
    );
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(&sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(&sql).fetch_all(&mut c).await.unwrap()
    }
}

/// Whether the test database has a table of this name.
pub async fn raw_table_exists(url: &str, table: &str) -> bool {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = $1)")
            .bind(table)
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

/// How a tombstone's key is computed from an address hash in the test database, as
/// docs/privacy.md describes it: HMAC-SHA-256 of the hash under the server secret
/// `event_contact_key`, prefixed `tombstone:`, its first 16 bytes.
pub async fn tombstone_keyer(url: &str) -> impl Fn(&[u8]) -> Vec<u8> + use<> {
    use hmac::{Hmac, Mac};
    let sql = "SELECT value FROM server_secrets WHERE name = 'event_contact_key'";
    let secret: Vec<u8> = if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    };
    move |email_hash: &[u8]| {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
        m.update(b"tombstone:");
        m.update(email_hash);
        m.finalize().into_bytes()[..16].to_vec()
    }
}

/// Inserts tombstones as an older optbox wrote them (under the address hash itself) into
/// `table`, in one statement: (list name, address hash, unsubscribe_all, topics JSON,
/// updated_at).
pub async fn insert_raw_tombstones(
    url: &str,
    table: &str,
    rows: &[(&str, &[u8], bool, &str, i64)],
) {
    let sqlite = url.starts_with("sqlite:");
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let values: Vec<String> = rows
        .iter()
        .map(|(list, hash, unsub, topics, at)| {
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            let blob = if sqlite {
                format!("X'{hex}'")
            } else {
                format!("decode('{hex}', 'hex')")
            };
            format!(
                "({}, {blob}, {}, {}, {at})",
                quote(list),
                if *unsub { "TRUE" } else { "FALSE" },
                quote(topics)
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} (list_name, email_hash, unsubscribe_all, topics, updated_at) \
         VALUES {}",
        values.join(", ")
    );
    raw_execute(url, &sql).await;
}

/// The table an older version's tombstones wait in, as the migration `keyed_tombstones`
/// leaves it (made again if the store has moved them all and dropped it).
pub async fn recreate_unkeyed_tombstones(url: &str) {
    let blob = if url.starts_with("sqlite:") {
        "BLOB"
    } else {
        "BYTEA"
    };
    raw_execute(
        url,
        &format!(
            "CREATE TABLE IF NOT EXISTS tombstones_unkeyed (list_name TEXT NOT NULL, \
             email_hash {blob} NOT NULL, unsubscribe_all BOOLEAN NOT NULL DEFAULT FALSE, \
             topics TEXT NOT NULL DEFAULT '[]', updated_at BIGINT NOT NULL, \
             PRIMARY KEY (list_name, email_hash))"
        ),
    )
    .await;
}

/// Runs each named test body once on SQLite and once on PostgreSQL, as `sqlite::NAME` and
/// `postgres::NAME`. The body takes what the form before the list says:
/// `on_each_backend!(f, g)`: the backend's name (`"sqlite"` or `"postgres"`), on the
/// current-thread runtime; `on_each_backend!(multi_thread: f)`: the same on two worker
/// threads; `on_each_backend!(db: f)`: a fresh `&TestDb`; `on_each_backend!(store: f)`:
/// a store opened on a fresh database (dropped afterwards).
macro_rules! on_each_backend {
    (@each $backend:literal, $flavor:tt, $($name:ident),*) => {
        $(
            #[tokio::test $flavor]
            async fn $name() {
                super::$name($backend).await;
            }
        )*
    };
    (multi_thread: $($name:ident),* $(,)?) => {
        mod sqlite { $crate::common::on_each_backend!(@each "sqlite", (flavor = "multi_thread", worker_threads = 2), $($name),*); }
        mod postgres { $crate::common::on_each_backend!(@each "postgres", (flavor = "multi_thread", worker_threads = 2), $($name),*); }
    };
    (db: $($name:ident),* $(,)?) => {
        mod sqlite { $crate::common::on_each_backend!(@with_db "sqlite", $($name),*); }
        mod postgres { $crate::common::on_each_backend!(@with_db "postgres", $($name),*); }
    };
    (store: $($name:ident),* $(,)?) => {
        mod sqlite { $crate::common::on_each_backend!(@with_store "sqlite", $($name),*); }
        mod postgres { $crate::common::on_each_backend!(@with_store "postgres", $($name),*); }
    };
    (@with_db $backend:literal, $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let db = $crate::common::TestDb::new($backend).await;
                super::$name(&db).await;
                db.cleanup().await;
            }
        )*
    };
    (@with_store $backend:literal, $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let db = $crate::common::TestDb::new($backend).await;
                super::$name(db.store().await).await;
                db.cleanup().await;
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite { $crate::common::on_each_backend!(@each "sqlite", (), $($name),*); }
        mod postgres { $crate::common::on_each_backend!(@each "postgres", (), $($name),*); }
    };
}
pub(crate) use on_each_backend;

/// Runs statements on a test database directly, as someone with access to it would.
pub async fn raw_sql(url: &str, statements: &[&str]) {
    if url.starts_with("sqlite") {
        let p = sqlx::SqlitePool::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(s).execute(&p).await.unwrap();
        }
        p.close().await;
    } else {
        let p = sqlx::PgPool::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(s).execute(&p).await.unwrap();
        }
        p.close().await;
    }
}
