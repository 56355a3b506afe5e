//! The running server: health, readiness, the dashboard guard, sign-in with sessions in
//! the database, CSRF refusal, and 404s — on both backends where storage matters.
#![cfg(feature = "ssr")]

mod common;

use common::{TestApp, spawn_app, spawn_app_on};
use optbox::server::service::auth::{self, Role};
use reqwest::StatusCode;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok");
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn anonymous_dashboard_requests_go_to_the_login_page() {
    let app = spawn_app().await;
    for path in ["/admin", "/admin/lists", "/admin/anything/else"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(r.headers()["location"], "/admin/login");
    }
    let r = app
        .client
        .get(app.url("/admin/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("Sign in"));
    assert!(body.contains(r#"name="password""#));
    let r = app
        .client
        .post(app.url("/api/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn add_operator(app: &TestApp) {
    auth::create_user(
        &*app.store,
        "op@example.com",
        Role::Owner,
        "correct horse battery",
    )
    .await
    .unwrap();
}

async fn sign_in(app: &TestApp, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/admin/login"))
        .form(&[("email", "op@example.com"), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn sign_in_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    add_operator(&app).await;

    let bad = sign_in(&app, "wrong password!!").await;
    assert!(bad.status().is_redirection());
    let r = app.client.get(app.url("/admin")).send().await.unwrap();
    assert!(
        r.status().is_redirection(),
        "a failed sign-in grants nothing"
    );

    let ok = sign_in(&app, "correct horse battery").await;
    assert!(ok.status().is_redirection(), "{}", ok.status());
    assert_eq!(ok.headers()["location"], "/admin");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");

    let page = app.client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Overview"), "{html}");
    assert!(html.contains("op@example.com"));

    let r = app
        .client
        .post(app.url("/api/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["role"], "owner");

    let out = app
        .client
        .post(app.url("/api/logout"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(out.status().is_redirection());
    let r = app.client.get(app.url("/admin")).send().await.unwrap();
    assert!(r.status().is_redirection(), "signed out");
    app.stop().await;
}

#[tokio::test]
async fn an_operator_signs_in_and_out_on_sqlite() {
    sign_in_flow("sqlite").await;
}

#[tokio::test]
async fn an_operator_signs_in_and_out_on_postgres() {
    sign_in_flow("postgres").await;
}

#[tokio::test]
async fn cross_site_posts_to_server_functions_are_refused() {
    let app = spawn_app().await;
    add_operator(&app).await;
    let r = app
        .client
        .post(app.url("/api/login"))
        .header("origin", "http://evil.example")
        .form(&[
            ("email", "op@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_are_404_and_oversized_bodies_are_refused() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let big = vec![b'a'; 2 << 20];
    let r = app
        .client
        .post(app.url("/api/login"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

#[tokio::test]
async fn the_dev_token_key_survives_a_restart() {
    let db = common::TestDb::sqlite().await;
    let store = db.store().await;
    let settings = optbox::server::config::Settings::default();
    let a = optbox::server::startup::token_keys(&settings, &store)
        .await
        .unwrap();
    let store2 = db.store().await;
    let b = optbox::server::startup::token_keys(&settings, &store2)
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].secret.len(), 32);
}
