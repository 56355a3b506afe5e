//! Dashboard authorisation: every registered server function has an access rule and the
//! server enforces it (anonymous → 401, under-privileged → 403) before the function runs;
//! every `/admin` page sends anonymous visitors to the login page; the dashboard
//! use-cases refuse under-privileged actors themselves; sign-ins are rate limited per
//! account and per client — on SQLite and PostgreSQL.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestApp, spawn_app_on};
use optbox::server::http::guard::{ACCESS, Access, access};
use optbox::server::service::ServiceError;
use optbox::server::service::auth::{self, Actor, Role};
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A client signed in as a new user with `role`.
async fn signed_in(app: &TestApp, role: Role) -> reqwest::Client {
    let email = format!("{}@example.com", role.as_str());
    auth::create_user(&*app.store, &email, role, PASSWORD, &common::setup())
        .await
        .unwrap();
    let c = client();
    let r = c
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/admin/login"))
        .form(&[("email", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/admin", "{role:?} signs in");
    c
}

async fn post(c: &reqwest::Client, app: &TestApp, path: &str) -> StatusCode {
    c.post(app.url(path))
        .header("origin", &app.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap()
        .status()
}

/// The registered server functions, from leptos' inventory.
fn server_fns() -> Vec<String> {
    let mut v: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p.to_owned())
        .collect();
    v.sort();
    v.dedup();
    v
}

async fn every_server_function_enforces_its_rule(backend: &str) {
    let app = spawn_app_on(backend).await;
    let anon = client();
    let viewer = signed_in(&app, Role::Viewer).await;
    let admin = signed_in(&app, Role::Admin).await;
    let owner = signed_in(&app, Role::Owner).await;
    let fns = server_fns();
    assert!(fns.len() >= ACCESS.len(), "{fns:?}");
    for path in &fns {
        let rule = access(path).unwrap_or_else(|| {
            panic!("server function {path} has no entry in server::http::guard::ACCESS")
        });
        let Access::Role(min) = rule else { continue };
        assert_eq!(
            post(&anon, &app, path).await,
            StatusCode::UNAUTHORIZED,
            "anonymous {path}"
        );
        for (who, role) in [
            (&viewer, Role::Viewer),
            (&admin, Role::Admin),
            (&owner, Role::Owner),
        ] {
            let status = post(who, &app, path).await;
            if role < min {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} calling {path}");
            } else {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{role:?} may call {path}: {status}"
                );
            }
        }
    }
    // Deny by default: a path without a rule is refused even to an owner.
    assert_eq!(
        post(&owner, &app, "/api/not_a_function").await,
        StatusCode::FORBIDDEN
    );
    // Every rule names a registered function (no stale entries).
    for (path, _) in ACCESS {
        assert!(fns.iter().any(|f| f == path), "stale ACCESS entry {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_server_function_enforces_its_rule_on_sqlite() {
    every_server_function_enforces_its_rule("sqlite").await;
}

#[tokio::test]
async fn every_server_function_enforces_its_rule_on_postgres() {
    every_server_function_enforces_its_rule("postgres").await;
}

#[tokio::test]
async fn every_admin_page_sends_anonymous_visitors_to_the_login_page() {
    let app = spawn_app_on("sqlite").await;
    let routes = leptos_axum::generate_route_list(optbox::app::App);
    let mut pages = 0;
    for r in &routes {
        let path = r.path();
        if !path.starts_with("/admin") || path == "/admin/login" {
            continue;
        }
        // `{param}` segments get a placeholder value.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let res = client().get(app.url(&concrete)).send().await.unwrap();
        assert!(
            res.status().is_redirection(),
            "{concrete}: {}",
            res.status()
        );
        assert_eq!(res.headers()["location"], "/admin/login", "{concrete}");
        pages += 1;
    }
    assert!(pages >= 1);
    app.stop().await;
}

fn actor(id: i64, role: Role) -> Actor {
    Actor {
        user_id: id,
        email: format!("{}@example.com", role.as_str()),
        role,
    }
}

async fn user_management_is_for_owners(backend: &str) {
    let db = common::TestDb::new(backend).await;
    let store = db.store().await;
    let owner = auth::create_user(
        &*store,
        "o@example.com",
        Role::Owner,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let o = actor(owner.id, Role::Owner);
    for role in [Role::Viewer, Role::Admin] {
        let a = actor(999, role);
        let e = auth::add_user(
            &*store,
            &a,
            "x@example.com",
            Role::Owner,
            PASSWORD,
            &common::setup(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{role:?}: {e:?}");
        let e = auth::set_role(&*store, &a, owner.id, Role::Viewer, &common::setup())
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        let e = auth::remove_user(&*store, &a, owner.id, &common::setup())
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
    }
    let e = auth::list_users(&*store, &actor(5, Role::Viewer))
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Forbidden(_)));
    // Nothing changed.
    let users = auth::list_users(&*store, &o).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].role, Role::Owner);
    // The last owner stays.
    let e = auth::set_role(&*store, &o, owner.id, Role::Admin, &common::setup())
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::BadRequest(_)), "{e:?}");
    let e = auth::remove_user(&*store, &o, owner.id, &common::setup())
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::BadRequest(_)), "{e:?}");
    // An owner manages users.
    let v = auth::add_user(
        &*store,
        &o,
        "v@example.com",
        Role::Viewer,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let v2 = auth::set_role(&*store, &o, v.id, Role::Admin, &common::setup())
        .await
        .unwrap();
    assert_eq!(v2.role, "admin");
    auth::remove_user(&*store, &o, v.id, &common::setup())
        .await
        .unwrap();
    assert_eq!(auth::list_users(&*store, &o).await.unwrap().len(), 1);
    db.cleanup().await;
}

#[tokio::test]
async fn user_management_is_for_owners_on_sqlite() {
    user_management_is_for_owners("sqlite").await;
}

#[tokio::test]
async fn user_management_is_for_owners_on_postgres() {
    user_management_is_for_owners("postgres").await;
}

async fn sign_ins_are_rate_limited(backend: &str) {
    let db = common::TestDb::new(backend).await;
    let store = db.store().await;
    auth::create_user(
        &*store,
        "ann@example.com",
        Role::Admin,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    auth::create_user(
        &*store,
        "bob@example.com",
        Role::Admin,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    // A success clears nothing it should not: four failures, a success, then five more
    // failures are needed before the account is locked.
    for _ in 0..4 {
        let e = auth::authenticate(&*store, "ann@example.com", "wrong password!", "ip-a")
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Unauthorized(_)), "{e:?}");
    }
    auth::authenticate(&*store, "ann@example.com", PASSWORD, "ip-a")
        .await
        .expect("the fifth attempt is still checked");
    for _ in 0..5 {
        auth::authenticate(&*store, "ann@EXAMPLE.com", "wrong password!", "ip-b")
            .await
            .unwrap_err();
    }
    // Per account and client: the right password from that client is refused now …
    let e = auth::authenticate(&*store, "ann@example.com", PASSWORD, "ip-b")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::LimitExceeded(m) if m.contains("too many failed sign-ins")),
        "{e:?}"
    );
    // … but not from another client: a stranger cannot lock the owner out.
    auth::authenticate(&*store, "ann@example.com", PASSWORD, "ip-c")
        .await
        .expect("another client signs in");
    // Other accounts are unaffected by ann's lock, even from the locked client.
    auth::authenticate(&*store, "bob@example.com", PASSWORD, "ip-b")
        .await
        .unwrap();
    // Per client: 20 failures from one client over many (unknown) accounts lock it out.
    for i in 0..20 {
        let e = auth::authenticate(&*store, &format!("u{i}@example.com"), "guess!", "ip-d")
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Unauthorized(_)), "{i}: {e:?}");
    }
    let e = auth::authenticate(&*store, "bob@example.com", PASSWORD, "ip-d")
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::LimitExceeded(_)), "{e:?}");
    auth::authenticate(&*store, "bob@example.com", PASSWORD, "ip-e")
        .await
        .expect("another client is not affected");
    db.cleanup().await;
}

#[tokio::test]
async fn sign_ins_are_rate_limited_on_sqlite() {
    sign_ins_are_rate_limited("sqlite").await;
}

#[tokio::test]
async fn sign_ins_are_rate_limited_on_postgres() {
    sign_ins_are_rate_limited("postgres").await;
}

#[tokio::test]
async fn a_locked_account_gets_no_session_over_http() {
    let app = spawn_app_on("sqlite").await;
    auth::create_user(
        &*app.store,
        "ann@example.com",
        Role::Owner,
        PASSWORD,
        &common::setup(),
    )
    .await
    .unwrap();
    let c = client();
    let attempt = |password: &'static str| {
        c.post(app.url("/api/login"))
            .header("accept", "text/html")
            .header("referer", app.url("/admin/login"))
            .form(&[("email", "ann@example.com"), ("password", password)])
            .send()
    };
    for _ in 0..5 {
        let r = attempt("wrong password!").await.unwrap();
        assert!(r.status().is_redirection());
    }
    let r = attempt(PASSWORD).await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert_ne!(loc, "/admin", "a locked account is not signed in");
    assert!(loc.contains("__err="), "{loc}");
    let page = c.get(app.url("/admin")).send().await.unwrap();
    assert!(page.status().is_redirection());
    app.stop().await;
}

#[test]
fn sessions_end_after_their_absolute_lifetime() {
    let t = 1_000_000_000_000;
    assert!(auth::session_alive(t, t + 1000));
    assert!(auth::session_alive(t, t + auth::ABSOLUTE_TIMEOUT_MS - 1));
    assert!(!auth::session_alive(t, t + auth::ABSOLUTE_TIMEOUT_MS));
    assert!(
        !auth::session_alive(t, t - 1),
        "a sign-in time in the future is refused"
    );
}

/// The dashboard use-cases check the actor themselves: a server function that forgot
/// its own check still could not change anything for a viewer.
async fn dashboard_use_cases_refuse_viewers(backend: &str) {
    use optbox::server::service::admin;
    let db = common::TestDb::new(backend).await;
    let store = db.store().await;
    optbox::server::service::demo::seed(&*store).await.unwrap();
    let limits = optbox::domain::Limits::new(false);
    let v = actor(1, Role::Viewer);
    let forbidden = |r: Result<(), ServiceError>, what: &str| {
        assert!(
            matches!(r, Err(ServiceError::Forbidden(_))),
            "{what}: {r:?}"
        );
    };
    forbidden(
        admin::create_list(&*store, &limits, &v, "x", "", &common::setup())
            .await
            .map(|_| ()),
        "create_list",
    );
    forbidden(
        admin::delete_list(&*store, &v, "demo", "demo", &common::setup()).await,
        "delete_list",
    );
    forbidden(
        admin::save_details(
            &*store,
            &limits,
            &v,
            "demo",
            &Default::default(),
            &common::setup(),
        )
        .await
        .map(|_| ()),
        "save_details",
    );
    let t = admin::TopicForm {
        name: "t".into(),
        display_name: "T".into(),
        description: String::new(),
        default_opt_in: true,
        hidden: false,
    };
    forbidden(
        admin::save_topic(&*store, &limits, &v, "demo", &t, &common::setup())
            .await
            .map(|_| ()),
        "save_topic",
    );
    let first = store.get_list("demo").await.unwrap().topics[0]
        .name
        .to_string();
    forbidden(
        admin::delete_topic(&*store, &limits, &v, "demo", &first, &common::setup())
            .await
            .map(|_| ()),
        "delete_topic",
    );
    let before = store.get_list("demo").await.unwrap();
    assert_eq!(before.topics.len(), 3, "nothing changed");
    // Reads are allowed.
    admin::get_list(&*store, &v, "demo").await.unwrap();
    db.cleanup().await;
}

#[tokio::test]
async fn dashboard_use_cases_refuse_viewers_on_sqlite() {
    dashboard_use_cases_refuse_viewers("sqlite").await;
}

#[tokio::test]
async fn dashboard_use_cases_refuse_viewers_on_postgres() {
    dashboard_use_cases_refuse_viewers("postgres").await;
}

/// The operations use-cases (webhooks, API keys, DKIM) check the actor themselves too.
async fn operations_use_cases_refuse_viewers(backend: &str) {
    use optbox::server::service::admin_ops;
    let db = common::TestDb::new(backend).await;
    let store = db.store().await;
    let v = actor(1, Role::Viewer);
    let forbidden = |r: Result<(), ServiceError>, what: &str| {
        assert!(
            matches!(r, Err(ServiceError::Forbidden(_))),
            "{what}: {r:?}"
        );
    };
    let hook = admin_ops::WebhookForm {
        url: "http://127.0.0.1:9/hook".into(),
        secret: "0123456789abcdef".into(),
        ..Default::default()
    };
    forbidden(
        admin_ops::save_webhook(
            &*store,
            optbox::server::events::UrlRules::new(&optbox::server::config::Settings::default()),
            &v,
            None,
            &hook,
            &common::setup(),
        )
        .await
        .map(|_| ()),
        "save_webhook",
    );
    forbidden(
        admin_ops::delete_webhook(&*store, &v, 1, &common::setup()).await,
        "delete_webhook",
    );
    forbidden(
        admin_ops::test_webhook(
            &*store,
            &Default::default(),
            optbox::server::events::UrlRules::new(&optbox::server::config::Settings::default()),
            &v,
            1,
        )
        .await
        .map(|_| ()),
        "test_webhook",
    );
    forbidden(
        admin_ops::replay(&*store, &v, 1, None).await.map(|_| ()),
        "replay",
    );
    forbidden(
        admin_ops::create_api_key(
            &*store,
            b"master-key-of-32-bytes-or-more!!",
            &v,
            "x",
            &Default::default(),
            &common::setup(),
        )
        .await
        .map(|_| ()),
        "create_api_key",
    );
    forbidden(
        admin_ops::revoke_api_key(&*store, &v, "OBXAAAAAAAAAAAAAAAAA", &common::setup()).await,
        "revoke_api_key",
    );
    forbidden(
        admin_ops::generate_dkim(
            &*store,
            &v,
            "example.com",
            "s1",
            "ed25519",
            &common::setup(),
        )
        .await
        .map(|_| ()),
        "generate_dkim",
    );
    assert!(store.list_webhooks().await.unwrap().is_empty());
    assert!(store.list_api_keys().await.unwrap().is_empty());
    assert!(store.list_dkim_keys().await.unwrap().is_empty());
    // Reads are allowed.
    admin_ops::webhooks(&*store, &v).await.unwrap();
    admin_ops::api_keys(&*store, &v).await.unwrap();
    admin_ops::dkim_keys(&*store, &v).await.unwrap();
    db.cleanup().await;
}

#[tokio::test]
async fn operations_use_cases_refuse_viewers_on_sqlite() {
    operations_use_cases_refuse_viewers("sqlite").await;
}

#[tokio::test]
async fn operations_use_cases_refuse_viewers_on_postgres() {
    operations_use_cases_refuse_viewers("postgres").await;
}
