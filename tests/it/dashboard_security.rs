//! Dashboard sign-in and sessions under attack, through a running server: password
//! checks at once are bounded (503 with a page when full), each client (IPv4 address,
//! IPv6 /64) has a sign-in rate (429 with a page), attempts count before the hash, a
//! stranger's failures do not lock the owner out, sessions die with their user and with a
//! role change, slide with use, and expired ones are deleted; a new API key's secret is
//! shown in the response that created it and stored nowhere; every dashboard response
//! forbids framing; uploads are deleted when their import ends — on SQLite and
//! PostgreSQL where the database takes part.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestApp, TestDb, spawn_app_on, spawn_with};
use optbox::server::service::ServiceError;
use optbox::server::service::auth::{self, Role};
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A sign-in as the login form sends it without JavaScript.
async fn login(
    c: &reqwest::Client,
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut r = c
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/admin/login"))
        .form(&[("email", email), ("password", password)]);
    if let Some(ip) = forwarded_for {
        r = r.header("x-forwarded-for", ip);
    }
    r.send().await.unwrap()
}

/// A fresh client signed in as `email` (who must exist).
async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let c = client();
    let r = login(&c, app, email, PASSWORD, None).await;
    assert_eq!(r.headers()["location"], "/admin", "{email} signs in");
    c
}

/// A form POST from the dashboard, as a browser without JavaScript sends it.
async fn post_form(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    c.post(app.url(path))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .header("referer", app.url("/admin/users"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// Whether a client's session still signs it in: `/admin` renders instead of sending it
/// to the login page.
async fn is_signed_in(c: &reqwest::Client, app: &TestApp) -> bool {
    let r = c.get(app.url("/admin")).send().await.unwrap();
    r.status() == StatusCode::OK
}

// ---- 1. Password checks at once, and each client's rate ----

#[tokio::test]
async fn password_checks_at_once_are_bounded_and_the_rest_told_to_retry() {
    let app = spawn_with("sqlite", |s| {
        s.limits.sign_in_per_minute = 0;
        s.limits.sign_in_concurrency = 1;
    })
    .await;
    let c = client();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let c = c.clone();
        let url = app.url("/api/login");
        let referer = app.url("/admin/login");
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(url)
                .header("accept", "text/html")
                .header("referer", referer)
                .form(&[
                    ("email", format!("nobody{i}@example.com")),
                    ("password", "a wrong guess".into()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status();
            let retry = r.headers().get("retry-after").is_some();
            let csp = r
                .headers()
                .get("content-security-policy")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, retry, csp, r.text().await.unwrap())
        }));
    }
    let mut busy = 0;
    for t in tasks {
        let (status, retry, csp, body) = t.await.unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            busy += 1;
            assert!(retry, "503 says when to retry");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(
                body.contains("<h1>Sign-in is busy</h1>")
                    && body.contains("try again in a few seconds"),
                "{body}"
            );
        } else {
            assert!(status.is_redirection(), "{status}");
        }
    }
    assert!(
        busy > 0,
        "24 sign-ins at once with one slot: some are turned away"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_slow_sender_holds_no_password_check_slot() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_with("sqlite", |s| {
        s.limits.sign_in_per_minute = 0;
        s.limits.sign_in_concurrency = 1;
    })
    .await;
    auth::create_user(
        &*app.store,
        "ann@example.com",
        Role::Owner,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    // Headers and half a form, then nothing.
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /api/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=ann%40exa",
            app.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let c = client();
    let r = login(&c, &app, "ann@example.com", PASSWORD, None).await;
    assert_eq!(r.headers()["location"], "/admin", "{}", r.status());
    drop(slow);
    app.stop().await;
}

#[tokio::test]
async fn each_client_address_and_ipv6_64_has_a_sign_in_rate() {
    let app = spawn_with("sqlite", |s| {
        s.limits.sign_in_per_minute = 3;
        s.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let c = client();
    let attempt = |ip: &'static str| login(&c, &app, "ann@example.com", "a wrong guess", Some(ip));
    // Three attempts from one /64, each from another address in it …
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
        let r = attempt(ip).await;
        assert!(r.status().is_redirection(), "{ip}: {}", r.status());
    }
    // … and the fourth from anywhere in that /64 is refused with a page.
    let r = attempt("2001:db8:1:2:abcd::9").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Too many sign-in attempts from your network"),
        "{body}"
    );
    // The next /64 and an IPv4 client have budgets of their own; IPv4 addresses are
    // counted one by one.
    let r = attempt("2001:db8:1:3::1").await;
    assert!(r.status().is_redirection(), "{}", r.status());
    for _ in 0..3 {
        assert!(attempt("198.51.100.7").await.status().is_redirection());
    }
    assert_eq!(
        attempt("198.51.100.7").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(attempt("198.51.100.8").await.status().is_redirection());
    // The page's own request (JavaScript) gets the message as the form's error.
    let r = c
        .post(app.url("/api/login"))
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("email", "ann@example.com"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("ServerError|Too many sign-in attempts")
    );
    app.stop().await;
}

/// Attempts count before the password is checked: twelve concurrent guesses for one
/// account from one client check at most five passwords.
async fn attempts_count_before_the_hash(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    auth::create_user(
        &*store,
        "ann@example.com",
        Role::Owner,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            auth::authenticate(&*store, "ann@example.com", "a wrong guess", "ip-x").await
        }));
    }
    let (mut checked, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Err(ServiceError::Unauthorized(_)) => checked += 1,
            Err(ServiceError::LimitExceeded(_)) => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((checked, refused), (5, 7), "only five guesses are checked");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attempts_count_before_the_hash_on_sqlite() {
    attempts_count_before_the_hash("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attempts_count_before_the_hash_on_postgres() {
    attempts_count_before_the_hash("postgres").await;
}

// ---- 2. Lock-out per account and client; unlocking ----

async fn a_strangers_failures_do_not_lock_the_owner_out(backend: &str) {
    let app = spawn_with(backend, |s| {
        s.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    auth::create_user(
        &*app.store,
        "owner@example.com",
        Role::Owner,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let stranger = client();
    for _ in 0..5 {
        let r = login(
            &stranger,
            &app,
            "owner@example.com",
            "a wrong guess",
            Some("203.0.113.66"),
        )
        .await;
        assert!(r.status().is_redirection());
    }
    // The stranger is refused even with the right password …
    let r = login(
        &stranger,
        &app,
        "owner@example.com",
        PASSWORD,
        Some("203.0.113.66"),
    )
    .await;
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.contains("__err="), "{loc}");
    assert!(!is_signed_in(&stranger, &app).await);
    // … the owner, elsewhere, is not.
    let owner = client();
    let r = login(
        &owner,
        &app,
        "owner@example.com",
        PASSWORD,
        Some("198.51.100.1"),
    )
    .await;
    assert_eq!(r.headers()["location"], "/admin");
    assert!(is_signed_in(&owner, &app).await);
    // Unlocking the account lets the locked client in again.
    assert_eq!(
        auth::unlock(&*app.store, "owner@Example.COM")
            .await
            .unwrap(),
        5
    );
    let r = login(
        &stranger,
        &app,
        "owner@example.com",
        PASSWORD,
        Some("203.0.113.66"),
    )
    .await;
    assert_eq!(r.headers()["location"], "/admin");
    assert!(matches!(
        auth::unlock(&*app.store, "nobody@example.com").await,
        Err(ServiceError::NotFound(m)) if m.contains("there is no user nobody@example.com")
    ));
    app.stop().await;
}

#[tokio::test]
async fn a_strangers_failures_do_not_lock_the_owner_out_on_sqlite() {
    a_strangers_failures_do_not_lock_the_owner_out("sqlite").await;
}

#[tokio::test]
async fn a_strangers_failures_do_not_lock_the_owner_out_on_postgres() {
    a_strangers_failures_do_not_lock_the_owner_out("postgres").await;
}

// ---- 7. Sessions die with their user and with a role change ----

async fn a_removed_users_session_never_becomes_another_users(backend: &str) {
    let app = spawn_app_on(backend).await;
    auth::create_user(
        &*app.store,
        "first@example.com",
        Role::Owner,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let owner = signed_in(&app, "first@example.com").await;
    // The owner adds a viewer, who signs in.
    let r = post_form(
        &owner,
        &app,
        "/api/add_user",
        &[
            ("email", "viewer@example.com"),
            ("role", "viewer"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert!(r.status().is_redirection());
    let viewer_id = app
        .store
        .get_user_by_email("viewer@example.com")
        .await
        .unwrap()
        .id;
    let viewer = signed_in(&app, "viewer@example.com").await;
    assert!(is_signed_in(&viewer, &app).await);
    // The owner removes the viewer and creates a new owner.
    let id = viewer_id.to_string();
    post_form(&owner, &app, "/api/delete_user", &[("id", id.as_str())]).await;
    assert!(app.store.get_user(viewer_id).await.is_err());
    post_form(
        &owner,
        &app,
        "/api/add_user",
        &[
            ("email", "second@example.com"),
            ("role", "owner"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let second = app
        .store
        .get_user_by_email("second@example.com")
        .await
        .unwrap();
    assert_ne!(second.id, viewer_id, "ids are never reused");
    // The viewer's old cookie signs in nobody: it cannot add an owner …
    let r = post_form(
        &viewer,
        &app,
        "/api/add_user",
        &[
            ("email", "mallory@example.com"),
            ("role", "owner"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        app.store
            .get_user_by_email("mallory@example.com")
            .await
            .is_err()
    );
    // … nor read a page.
    assert!(!is_signed_in(&viewer, &app).await);
    assert!(is_signed_in(&owner, &app).await, "the owner is unaffected");
    app.stop().await;
}

#[tokio::test]
async fn a_removed_users_session_never_becomes_another_users_on_sqlite() {
    a_removed_users_session_never_becomes_another_users("sqlite").await;
}

#[tokio::test]
async fn a_removed_users_session_never_becomes_another_users_on_postgres() {
    a_removed_users_session_never_becomes_another_users("postgres").await;
}

async fn a_new_role_ends_the_users_sessions(backend: &str) {
    let app = spawn_app_on(backend).await;
    auth::create_user(
        &*app.store,
        "owner@example.com",
        Role::Owner,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let ann = auth::create_user(
        &*app.store,
        "ann@example.com",
        Role::Admin,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let owner = signed_in(&app, "owner@example.com").await;
    let admin = signed_in(&app, "ann@example.com").await;
    assert!(is_signed_in(&admin, &app).await);
    // The same role again changes nothing.
    let id = ann.id.to_string();
    post_form(
        &owner,
        &app,
        "/api/set_user_role",
        &[("id", id.as_str()), ("role", "admin")],
    )
    .await;
    assert!(is_signed_in(&admin, &app).await);
    // A new role signs her out everywhere; she signs in again with it.
    post_form(
        &owner,
        &app,
        "/api/set_user_role",
        &[("id", id.as_str()), ("role", "viewer")],
    )
    .await;
    assert_eq!(app.store.get_user(ann.id).await.unwrap().role, "viewer");
    assert!(!is_signed_in(&admin, &app).await);
    let r = admin
        .post(app.url("/api/lists"))
        .header("origin", &app.base)
        .form(&[("x", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let again = signed_in(&app, "ann@example.com").await;
    assert!(is_signed_in(&again, &app).await);
    app.stop().await;
}

#[tokio::test]
async fn a_new_role_ends_the_users_sessions_on_sqlite() {
    a_new_role_ends_the_users_sessions("sqlite").await;
}

#[tokio::test]
async fn a_new_role_ends_the_users_sessions_on_postgres() {
    a_new_role_ends_the_users_sessions("postgres").await;
}

// ---- 15. Sessions slide; 11. expired sessions are deleted ----

/// The session rows' expiry times, as Unix seconds.
async fn session_expiries(db_url: &str) -> Vec<i64> {
    if db_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
        let rows: Vec<time::OffsetDateTime> =
            sqlx::query_scalar("SELECT expiry_date FROM tower_sessions")
                .fetch_all(&pool)
                .await
                .unwrap();
        rows.iter().map(|t| t.unix_timestamp()).collect()
    } else {
        let pool = sqlx::PgPool::connect(db_url).await.unwrap();
        let rows: Vec<time::OffsetDateTime> =
            sqlx::query_scalar("SELECT expiry_date FROM tower_sessions.session")
                .fetch_all(&pool)
                .await
                .unwrap();
        rows.iter().map(|t| t.unix_timestamp()).collect()
    }
}

/// Saves every session again as if its last save had been long ago: expiring at `at`.
async fn set_session_expiry(app: &TestApp, at: time::OffsetDateTime) {
    use tower_sessions::session_store::SessionStore;
    let ids: Vec<String> = if app.db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar("SELECT id FROM tower_sessions")
            .fetch_all(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar("SELECT id FROM tower_sessions.session")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    let sessions = app.store.sessions();
    for id in ids {
        let id: tower_sessions::session::Id = id.parse().unwrap();
        let mut r = sessions.load(&id).await.unwrap().unwrap();
        r.data.remove(optbox::server::sessions::STORED_EXPIRY);
        r.expiry_date = at;
        sessions.save(&r).await.unwrap();
    }
}

async fn sessions_slide_with_use(backend: &str) {
    let app = spawn_app_on(backend).await;
    auth::create_user(
        &*app.store,
        "ann@example.com",
        Role::Admin,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let c = signed_in(&app, "ann@example.com").await;
    let now = time::OffsetDateTime::now_utc();
    let idle = auth::IDLE_TIMEOUT_SECS;
    let first = session_expiries(&app.db.url).await;
    assert_eq!(first.len(), 1);
    assert!((first[0] - (now.unix_timestamp() + idle)).abs() < 30);
    // As if the last request were 7 h 58 min ago: two minutes of the session are left.
    set_session_expiry(&app, now + time::Duration::minutes(2)).await;
    assert!(session_expiries(&app.db.url).await[0] < now.unix_timestamp() + 200);
    // A request now keeps the user signed in for another full idle period.
    assert!(is_signed_in(&c, &app).await);
    let after = session_expiries(&app.db.url).await;
    assert!(
        after[0] > now.unix_timestamp() + idle - 60,
        "the expiry moved to {} (now {})",
        after[0],
        now.unix_timestamp()
    );
    app.stop().await;
}

#[tokio::test]
async fn sessions_slide_with_use_on_sqlite() {
    sessions_slide_with_use("sqlite").await;
}

#[tokio::test]
async fn sessions_slide_with_use_on_postgres() {
    sessions_slide_with_use("postgres").await;
}

async fn expired_sessions_are_deleted(backend: &str) {
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::SessionStore;
    let db = TestDb::new(backend).await;
    {
        let store = db.store().await;
        let sessions = store.sessions();
        sessions.migrate().await.unwrap();
        for (id, expiry) in [
            (
                1i128,
                time::OffsetDateTime::now_utc() - time::Duration::hours(1),
            ),
            (
                2i128,
                time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            ),
        ] {
            sessions
                .save(&Record {
                    id: Id(id),
                    data: Default::default(),
                    expiry_date: expiry,
                })
                .await
                .unwrap();
        }
        assert_eq!(session_expiries(&db.url).await.len(), 2);
    }
    let app = spawn_with(backend, |s| {
        s.database_url = optbox::server::config::Secret::new(db.url.clone());
    })
    .await;
    let mut left = 2;
    for _ in 0..50 {
        left = session_expiries(&db.url).await.len();
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 1, "the expired session is deleted, the live one kept");
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn expired_sessions_are_deleted_on_sqlite() {
    expired_sessions_are_deleted("sqlite").await;
}

#[tokio::test]
async fn expired_sessions_are_deleted_on_postgres() {
    expired_sessions_are_deleted("postgres").await;
}

// ---- 11. A new API key's secret ----

/// Every session row's data.
async fn session_data(db_url: &str) -> Vec<Vec<u8>> {
    if db_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
        sqlx::query_scalar("SELECT data FROM tower_sessions")
            .fetch_all(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(db_url).await.unwrap();
        sqlx::query_scalar("SELECT data FROM tower_sessions.session")
            .fetch_all(&pool)
            .await
            .unwrap()
    }
}

async fn a_new_keys_secret_is_in_its_response_and_nowhere_else(backend: &str) {
    let app = spawn_app_on(backend).await;
    auth::create_user(
        &*app.store,
        "ann@example.com",
        Role::Admin,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let c = signed_in(&app, "ann@example.com").await;
    let r = c
        .post(app.url("/admin/keys/new"))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .form(&[("description", "crm")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let keys = app.store.list_api_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    let secret = optbox::server::service::api_keys::derive_secret(
        &app.api_master,
        &keys[0].access_key_id,
        &keys[0].salt,
    );
    assert!(html.contains(&secret), "{html}");
    assert!(html.contains(&keys[0].access_key_id));
    // Not in any session, nor shown again.
    let rows = session_data(&app.db.url).await;
    assert!(!rows.is_empty());
    for data in rows {
        assert!(
            !data.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in a session row"
        );
    }
    let list = c
        .get(app.url("/admin/keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&secret));
    // A cross-site form cannot create one.
    let r = c
        .post(app.url("/admin/keys/new"))
        .header("origin", "http://evil.example")
        .form(&[("description", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store.list_api_keys().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_new_keys_secret_is_in_its_response_and_nowhere_else_on_sqlite() {
    a_new_keys_secret_is_in_its_response_and_nowhere_else("sqlite").await;
}

#[tokio::test]
async fn a_new_keys_secret_is_in_its_response_and_nowhere_else_on_postgres() {
    a_new_keys_secret_is_in_its_response_and_nowhere_else("postgres").await;
}

// ---- 15. No framing; uploads deleted ----

#[tokio::test]
async fn every_dashboard_response_forbids_framing() {
    let app = spawn_app_on("sqlite").await;
    auth::create_user(
        &*app.store,
        "ann@example.com",
        Role::Admin,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let anonymous = client();
    let c = signed_in(&app, "ann@example.com").await;
    let check = |r: reqwest::Response, what: &str| {
        let csp = r
            .headers()
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{what}: no CSP"))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert_eq!(r.headers()["x-frame-options"], "DENY", "{what}");
    };
    check(
        anonymous.get(app.url("/admin/login")).send().await.unwrap(),
        "login page",
    );
    check(
        anonymous.get(app.url("/admin")).send().await.unwrap(),
        "redirect to login",
    );
    check(
        login(&anonymous, &app, "ann@example.com", "wrong", None).await,
        "failed sign-in",
    );
    for path in ["/admin", "/admin/keys", "/admin/lists", "/admin/events.csv"] {
        check(c.get(app.url(path)).send().await.unwrap(), path);
    }
    check(
        c.post(app.url("/admin/upload/none"))
            .header("origin", &app.base)
            .multipart(reqwest::multipart::Form::new().text("wait", "1"))
            .send()
            .await
            .unwrap(),
        "upload",
    );
    app.stop().await;
}

/// The `dashboard-*` files left under `import_dir/uploads`.
fn uploads_left(app: &TestApp) -> Vec<String> {
    match std::fs::read_dir(app.import_dir.join("uploads")) {
        Ok(d) => d
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".errors.csv"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn upload(c: &reqwest::Client, app: &TestApp, body: &str, wait: &str) -> String {
    let form = reqwest::multipart::Form::new()
        .text("wait", wait.to_owned())
        .text("format", "auto")
        .text("action", "put")
        .part(
            "file",
            reqwest::multipart::Part::text(body.to_owned()).file_name("c.csv"),
        );
    let r = c
        .post(app.url("/admin/upload/demo"))
        .header("origin", &app.base)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn uploads_are_deleted_when_their_import_ends(backend: &str) {
    let app = spawn_app_on(backend).await;
    optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    auth::create_user(
        &*app.store,
        "ann@example.com",
        Role::Admin,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let c = signed_in(&app, "ann@example.com").await;
    // Finished (no JavaScript: the answer comes when the job has ended).
    let mut csv = String::from("emailAddress\n");
    for i in 0..500 {
        csv.push_str(&format!("c{i}@example.com\n"));
    }
    csv.push_str("not-an-address\n");
    let loc = upload(&c, &app, &csv, "1").await;
    assert!(loc.contains("job="), "{loc}");
    assert_eq!(uploads_left(&app), Vec::<String>::new());
    let page = c
        .get(app.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("COMPLETED"), "{page}");
    // Failed (an unknown column fails the job before anything is written).
    let loc = upload(&c, &app, "emailAddress,shoeSize\na@example.com,9\n", "1").await;
    let page = c
        .get(app.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("FAILED"), "{page}");
    assert_eq!(uploads_left(&app), Vec::<String>::new());
    // Refused before a job exists (an empty file).
    let loc = upload(&c, &app, "", "1").await;
    assert!(loc.contains("error="), "{loc}");
    assert_eq!(uploads_left(&app), Vec::<String>::new());
    // Ended early or not (the list is deleted under the job, with JavaScript's
    // immediate answer): the file goes when the job ends.
    let mut big = String::from("emailAddress\n");
    for i in 0..200_000 {
        big.push_str(&format!("big{i}@example.com\n"));
    }
    let loc = upload(&c, &app, &big, "0").await;
    let job = loc.split("job=").nth(1).unwrap().to_owned();
    optbox::server::service::lists::delete(&*app.store, "demo", &common::setup())
        .await
        .ok();
    let mut status = String::new();
    for _ in 0..600 {
        let r = c
            .post(app.url("/api/import_job"))
            .header("origin", &app.base)
            .form(&[("job", job.as_str())])
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        status = v["status"].as_str().unwrap_or("").to_owned();
        if status == "COMPLETED" || status == "FAILED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(status == "COMPLETED" || status == "FAILED", "{status}");
    // The file goes as the job's task ends, just after the job is marked.
    let mut left = uploads_left(&app);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = uploads_left(&app);
    }
    assert_eq!(left, Vec::<String>::new());
    app.stop().await;
}

#[tokio::test]
async fn uploads_are_deleted_when_their_import_ends_on_sqlite() {
    uploads_are_deleted_when_their_import_ends("sqlite").await;
}

#[tokio::test]
async fn uploads_are_deleted_when_their_import_ends_on_postgres() {
    uploads_are_deleted_when_their_import_ends("postgres").await;
}
