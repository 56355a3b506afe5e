//! Abuse limits on the public surface: per-IP rate limits on the recipient routes (with
//! trusted proxies), the request timeout, and body limits.

mod common;

use common::{TestApp, spawn_with};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn some_link_path() -> &'static str {
    // Any path under /u/ is a recipient route; the limit applies before the token is read.
    "/u/AAAA"
}

async fn get(app: &TestApp, path: &str, forwarded: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn one_address_is_limited_on_recipient_routes_and_nothing_else_is() {
    let app = spawn_with("sqlite", |s| {
        s.limits.recipient_rate_per_ip = 1;
        s.limits.recipient_burst = 5;
    })
    .await;
    for i in 0..5 {
        let r = get(&app, some_link_path(), None).await;
        assert_ne!(r.status(), 429, "request {i} is within the burst");
    }
    let r = get(&app, some_link_path(), None).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // The one-click POST shares the budget.
    let r = app
        .client
        .post(app.url(some_link_path()))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Other routes are not limited, and X-Forwarded-For from an untrusted peer is ignored.
    assert_eq!(get(&app, "/healthz", None).await.status(), 200);
    let r = get(&app, some_link_path(), Some("198.51.100.7")).await;
    assert_eq!(r.status(), 429, "a client cannot pick its own address");
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = spawn_with("sqlite", |s| {
        s.limits.recipient_rate_per_ip = 1;
        s.limits.recipient_burst = 2;
        s.limits.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    for _ in 0..2 {
        assert_ne!(
            get(&app, some_link_path(), Some("198.51.100.7"))
                .await
                .status(),
            429
        );
    }
    assert_eq!(
        get(&app, some_link_path(), Some("198.51.100.7"))
            .await
            .status(),
        429
    );
    // Another client behind the same proxy is not affected; prepending a fake address
    // does not help the first one.
    assert_ne!(
        get(&app, some_link_path(), Some("198.51.100.8"))
            .await
            .status(),
        429
    );
    assert_eq!(
        get(&app, some_link_path(), Some("203.0.113.1, 198.51.100.7"))
            .await
            .status(),
        429
    );
    app.stop().await;
}

#[tokio::test]
async fn the_limit_can_be_turned_off() {
    let app = spawn_with("sqlite", |s| {
        s.limits.recipient_rate_per_ip = 0;
        s.limits.recipient_burst = 1;
    })
    .await;
    for _ in 0..20 {
        assert_ne!(get(&app, some_link_path(), None).await.status(), 429);
    }
    app.stop().await;
}

/// Sends `head` and `body_part` on a raw connection and returns the status line and
/// how long the answer took.
async fn stalled_request(app: &TestApp, head: &str, body_part: &[u8]) -> (String, Duration) {
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body_part).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the server answers a stalled request")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    (
        text.lines().next().unwrap_or_default().to_owned(),
        start.elapsed(),
    )
}

#[tokio::test]
async fn a_request_whose_body_stalls_gets_408_after_the_timeout() {
    let app = spawn_with("sqlite", |s| s.limits.request_timeout_secs = 1).await;
    for (path, label) in [
        (some_link_path(), "one-click"),
        ("/v2/email/contact-lists", "SES API"),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
            app.addr
        );
        let (status, took) = stalled_request(&app, &head, b"List-Unsub").await;
        assert!(status.contains(" 408 "), "{label}: {status}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{label}: {took:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_on_every_surface() {
    let app = spawn_with("sqlite", |_| {}).await;
    let big = vec![b'a'; 2 << 20];
    for path in ["/api/login", "/api/save_preferences", "/u/AAAA"] {
        let r = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
    }
    // The SES API answers in its own error shape.
    let r = app
        .client
        .post(app.url("/v2/email/contact-lists"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("larger than the limit"),
        "{body}"
    );
    app.stop().await;
}
