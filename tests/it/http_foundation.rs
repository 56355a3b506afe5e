//! The running server: health, readiness, the dashboard guard, sign-in with sessions in
//! the database, CSRF refusal, and 404s — on both backends where storage matters.
#![cfg(feature = "ssr")]

use crate::common;

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
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ready", "{v}");
    assert_eq!(v["checks"]["database"]["ok"], true, "{v}");
    assert_eq!(v["checks"]["one_click_backlog"]["detail"], 0, "{v}");
    assert_eq!(v["checks"]["relay_queue"]["ok"], true, "{v}");
    assert!(
        v["checks"].get("relay").is_none(),
        "no relay_url, no relay check: {v}"
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_names_an_unreachable_relay_and_stays_up() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = common::spawn_with("sqlite", |s| {
        s.relay_url = Some(optbox::server::config::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        s.relay.relay_worker = false;
    })
    .await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["checks"]["relay"]["ok"], false, "{v}");
    assert!(
        !v.to_string().contains("127.0.0.1"),
        "a public answer names no address: {v}"
    );
    assert_eq!(v["checks"]["relay_breaker"]["ok"], true, "{v}");
    assert_eq!(v["checks"]["database"]["ok"], true, "{v}");
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
        &common::setup(),
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

/// Parses a scrape with Python's `prometheus_client` (the compatibility venv): one JSON
/// object per sample.
fn parse_scrape(body: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("OPTBOX_COMPAT_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target/compat-venv"))
        .join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (or `make compat`)",
        python.display()
    );
    let mut child = std::process::Command::new(python)
        .arg(root.join("tests/compat/prom_parse.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the scrape: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_listener_behind_a_token() {
    use optbox::domain::{EmailAddress, ListDefinition, TopicName};
    use optbox::server::config::Secret;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = common::spawn_with("sqlite", |s| {
        s.metrics.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        s.metrics.metrics_token = Some(Secret::new("scrape-0123456789"));
    })
    .await;
    // Never on the public port.
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Some traffic: a one-click opt-out, a forged link, an unsigned SES call, an SMTP session.
    let list = app
        .store
        .create_list("news", &ListDefinition::default(), None)
        .await
        .unwrap();
    let email = EmailAddress::parse("ann@example.com").unwrap();
    let url = optbox::server::service::recipient::url_for(
        &app.keys,
        &app.base,
        &list.name,
        None::<TopicName>,
        &email,
    );
    let r = app
        .client
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .post(app.url("/u/AAAA"))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let r = app
        .client
        .get(app.url("/v2/email/contact-lists/news"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut smtp = tokio::net::TcpStream::connect(app.smtp_addr).await.unwrap();
    smtp.write_all(b"QUIT\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = smtp.read_to_end(&mut sink).await;

    let scrape_url = format!("http://{}/metrics", app.metrics_addr.unwrap());
    let plain = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer wrong-token-0123456"),
        Some("scrape-0123456789"),
    ] {
        let mut req = plain.get(&scrape_url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    let r = plain
        .get(&scrape_url)
        .bearer_auth("scrape-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let samples = parse_scrape(&r.text().await.unwrap());
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        samples
            .iter()
            .filter(|s| s["name"] == name)
            .find(|s| labels.iter().all(|(k, v)| s["labels"][k] == *v))
            .and_then(|s| s["value"].as_f64())
    };
    let family = |name: &str| -> Option<String> {
        samples
            .iter()
            .find(|s| s["family"] == name)
            .map(|s| s["type"].as_str().unwrap().to_owned())
    };
    assert!(value("optbox_one_click_total", &[("outcome", "ok")]).unwrap() >= 1.0);
    assert!(value("optbox_one_click_total", &[("outcome", "bad_request")]).is_some());
    assert_eq!(
        family("optbox_one_click_duration_seconds").as_deref(),
        Some("histogram")
    );
    assert!(
        value(
            "optbox_http_requests_total",
            &[
                ("route", "/u/{token}"),
                ("method", "POST"),
                ("status", "200")
            ]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        value(
            "optbox_http_request_duration_seconds_count",
            &[("route", "/u/{token}")]
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        value(
            "optbox_ses_requests_total",
            &[
                ("operation", "GET /contact-lists/{}"),
                ("code", "MissingAuthenticationTokenException")
            ]
        )
        .or_else(|| value(
            "optbox_ses_requests_total",
            &[("operation", "GET /contact-lists/{}")]
        ))
        .unwrap()
            >= 1.0
    );
    assert!(value("optbox_smtp_sessions_total", &[("listener", "submission")]).unwrap() >= 1.0);
    assert_eq!(value("optbox_relay_queue_depth", &[]), Some(0.0));
    assert_eq!(value("optbox_suppression_list_size", &[]), Some(0.0));
    assert_eq!(
        value("optbox_webhook_outbox_depth", &[("status", "pending")]),
        Some(0.0)
    );
    assert!(value("optbox_one_click_backlog", &[]).is_some());
    assert_eq!(
        family("optbox_import_jobs_active").as_deref(),
        Some("gauge")
    );
    // Labels name routes, never the token, the address or the list.
    let text = samples
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let token = url.rsplit('/').next().unwrap();
    assert!(!text.contains(token) && !text.contains("ann@example.com") && !text.contains("news"));
    app.stop().await;
}

#[tokio::test]
async fn every_answer_carries_its_request_id_and_keeps_a_clients_short_one() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_ne!(
        r.headers()["x-request-id"],
        id.as_str(),
        "a new id per request"
    );
    // A proxy's id is kept, so one request can be followed through both logs.
    let r = app
        .client
        .get(app.url("/u/forged"))
        .header("x-request-id", "edge-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "edge-4711");
    // One that is too long or not printable is replaced.
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(65))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 36, "a new UUID");
    app.stop().await;
}
