//! Abuse limits on the public surface: per-IP rate limits on the recipient routes (with
//! trusted proxies), the request timeout, and body limits.

use crate::common;

use common::ses::SesClient;
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
async fn ipv6_clients_share_a_budget_per_64() {
    let app = spawn_with("sqlite", |s| {
        s.limits.recipient_rate_per_ip = 1;
        s.limits.recipient_burst = 2;
        s.limits.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    // Two addresses of one /64: a host cannot get a fresh budget per address.
    for a in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        assert_ne!(
            get(&app, some_link_path(), Some(a)).await.status(),
            429,
            "{a}"
        );
    }
    assert_eq!(
        get(&app, some_link_path(), Some("2001:db8:1:2:ffff::9"))
            .await
            .status(),
        429
    );
    // Another /64 is another client.
    assert_ne!(
        get(&app, some_link_path(), Some("2001:db8:1:3::1"))
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
    // The SES API reads a body only for a caller with a key (anyone else is refused on
    // the head alone).
    let (id, secret) = api_key(&app).await;
    let (auth, date) = SesClient::new(&app.base, &id, &secret).presign(
        "POST",
        "/v2/email/contact-lists",
        Some(b"{}"),
    );
    let signed = format!("Authorization: {auth}\r\nX-Amz-Date: {date}\r\n");
    for (path, label, extra) in [
        (some_link_path(), "one-click", ""),
        ("/v2/email/contact-lists", "SES API", signed.as_str()),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n{extra}\r\n",
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
    // The SES API answers in its own error shape (to a caller with a key: anyone else
    // is refused before the size matters).
    let (id, secret) = api_key(&app).await;
    let (auth, date) = SesClient::new(&app.base, &id, &secret).presign(
        "POST",
        "/v2/email/contact-lists",
        Some(b"{}"),
    );
    let r = app
        .client
        .post(app.url("/v2/email/contact-lists"))
        .header("content-type", "application/json")
        .header("authorization", auth)
        .header("x-amz-date", date)
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

/// Reads until the peer closes the connection (or `within` passes): whether it closed,
/// and what it sent before.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> (bool, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (true, String::from_utf8_lossy(&got).into()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (false, String::from_utf8_lossy(&got).into()),
        }
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_closed_while_others_are_served() {
    let app = spawn_with("sqlite", |s| s.limits.header_read_timeout_secs = 1).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    // One byte of header every 200 ms: the request timeout never starts, the header-read
    // timeout does.
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ", app.addr);
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut closed = false;
    for _ in 0..25 {
        if slow.write_all(b"a").await.is_err() {
            closed = true;
            break;
        }
        let (gone, _) = closed_within(&mut slow, Duration::from_millis(200)).await;
        if gone {
            closed = true;
            break;
        }
        // Meanwhile a well-behaved client is served.
        assert_eq!(
            app.client
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert!(
        closed,
        "a slowloris connection was held for {:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    // A connection opened and left silent is closed too.
    let (gone, _) = closed_within(&mut idle, Duration::from_secs(3)).await;
    assert!(gone, "an idle connection stays open");
    app.stop().await;
}

#[tokio::test]
async fn one_client_cannot_hold_more_than_its_share_of_connections() {
    let app = spawn_with("sqlite", |s| {
        s.limits.max_connections_per_ip = 4;
        s.limits.header_read_timeout_secs = 2;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    // Give the server a moment to count them.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    let (gone, _) = closed_within(&mut extra, Duration::from_secs(1)).await;
    assert!(
        gone,
        "the fifth connection from one address is closed at once"
    );
    assert!(start.elapsed() < Duration::from_millis(900));
    // Another client is not affected: 127.0.0.2 is another address (all of 127/8 is
    // loopback on Linux).
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let r = other.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Once the held connections are gone, the address gets its share back.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

async fn smtp_line(s: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Ok(Ok(1)) => got.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).trim_end().to_owned()
}

#[tokio::test]
async fn idle_smtp_sessions_are_capped_per_client_and_must_authenticate_in_time() {
    let app = spawn_with("sqlite", |s| {
        s.smtp.smtp_max_connections_per_ip = 3;
        s.smtp.smtp_auth_timeout_secs = 1;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(app.smtp_addr).await.unwrap();
        assert!(smtp_line(&mut s).await.starts_with("220 "));
        held.push(s);
    }
    let mut extra = tokio::net::TcpStream::connect(app.smtp_addr).await.unwrap();
    let line = smtp_line(&mut extra).await;
    assert!(line.starts_with("421 4.7.0"), "{line}");
    // A session that keeps the line busy without authenticating is closed at the deadline.
    let start = Instant::now();
    let s = &mut held[0];
    s.write_all(b"EHLO client\r\n").await.unwrap();
    let mut last = String::new();
    for _ in 0..40 {
        last = smtp_line(s).await;
        if last.starts_with("421") || last.is_empty() {
            break;
        }
        if last.starts_with("250 ") {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = s.write_all(b"NOOP\r\n").await;
        }
    }
    assert!(
        last.starts_with("421 4.7.0 Authentication timeout"),
        "{last}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    app.stop().await;
}

async fn api_key(app: &TestApp) -> (String, String) {
    let k = optbox::server::service::api_keys::create(
        &*app.store,
        &app.api_master,
        "hardening",
        &common::setup(),
    )
    .await
    .unwrap();
    (k.access_key_id, k.secret_access_key)
}

/// Sends a request head declaring `length` bytes of body, sends none of it, and returns
/// the status line the server answers with within `within` (empty if none).
async fn head_only(app: &TestApp, path: &str, headers: &[(&str, String)], length: usize) -> String {
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n",
        app.addr
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).to_string(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn the_ses_api_refuses_a_stranger_before_reading_the_body() {
    let app = spawn_with("sqlite", |_| {}).await;
    let (id, secret) = api_key(&app).await;
    let path = "/v2/email/outbound-emails";
    let len = 10 << 20;
    let signed = |key: &str, offset: i64| {
        let mut c = SesClient::new(&app.base, key, &secret);
        c.clock_offset = offset;
        let (auth, date) = c.presign("POST", path, Some(b"{}"));
        vec![("Authorization", auth), ("X-Amz-Date", date)]
    };
    let stranger = format!("OBX{}", "A".repeat(17));
    for (label, headers, expect) in [
        ("no Authorization", vec![], "MissingAuthenticationToken"),
        ("unknown key", signed(&stranger, 0), "InvalidClientTokenId"),
        ("skewed clock", signed(&id, 3600), "SignatureDoesNotMatch"),
    ] {
        let reply = head_only(&app, path, &headers, len).await;
        assert!(
            reply.starts_with("HTTP/1.1 403"),
            "{label}: the server waited for 10 MiB of body it should not read: {reply:?}"
        );
        assert!(reply.contains(expect), "{label}: {reply}");
    }
    app.stop().await;
}

#[tokio::test]
async fn request_bodies_in_flight_are_bounded_across_the_process() {
    let app = spawn_with("sqlite", |s| s.limits.request_timeout_secs = 20).await;
    let (id, secret) = api_key(&app).await;
    let path = "/v2/email/outbound-emails";
    let (auth, date) = SesClient::new(&app.base, &id, &secret).presign("POST", path, Some(b"{}"));
    let headers = [("Authorization", auth), ("X-Amz-Date", date)];
    // Signed heads declaring 14 MiB each, whose bodies never come: the first ones hold
    // their share of the 64 MiB budget, the next is told to retry.
    let mut held = Vec::new();
    let mut refused = None;
    for i in 0..8 {
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            app.addr,
            14 << 20
        );
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 2048];
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                refused = Some((i, String::from_utf8_lossy(&buf[..n]).to_string()));
                break;
            }
            _ => held.push(s),
        }
    }
    let (i, reply) = refused.expect("some request is refused once the budget is used");
    assert_eq!(i, 4, "{reply}");
    assert!(reply.starts_with("HTTP/1.1 429"), "{reply}");
    assert!(reply.contains("TooManyRequestsException"), "{reply}");
    // Small requests still get through while the large ones wait.
    let ses = SesClient::new(&app.base, &id, &secret);
    ses.call("GET", "/v2/email/contact-lists", &[], None)
        .await
        .ok();
    drop(held);
    app.stop().await;
}

/// Exports and events.csv: streamed while written (no length known in advance), and at
/// most `download::MAX_CONCURRENT` prepared at once; more get 503 until one ends.
#[tokio::test]
async fn downloads_are_streamed_and_only_a_few_are_prepared_at_once() {
    use optbox::server::http::download;
    use optbox::server::service::import::{self, ImportRequest};
    use optbox::server::store::{Audit, ImportAction, Source};
    let app = spawn_with("sqlite", |_| {}).await;
    let (id, secret) = api_key(&app).await;
    let ses = SesClient::new(&app.base, &id, &secret);
    ses.call(
        "POST",
        "/v2/email/contact-lists",
        &[],
        Some(br#"{"ContactListName":"big"}"#),
    )
    .await
    .ok();
    // 20,000 contacts: an export of about 600 KB, many chunks.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    let mut csv = String::from("emailAddress\n");
    for i in 0..20_000 {
        csv.push_str(&format!("reader{i:05}@example.com\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let req = ImportRequest {
        list: "big".into(),
        path: file,
        format: None,
        action: ImportAction::Put,
        override_opt_outs: false,
    };
    import::run(
        &*app.store,
        &req,
        &Audit::new(Source::Import),
        &mut |_| {},
        &mut |_| {},
    )
    .await
    .unwrap();
    common::dashboard::sign_in(&app, optbox::server::service::auth::Role::Viewer).await;

    let r = app
        .client
        .get(app.url("/admin/export/big/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("content-length").is_none(),
        "a streamed export has no length up front: {:?}",
        r.headers()
    );
    let body = r.text().await.unwrap();
    assert_eq!(body.lines().count(), 20_001, "every contact and the header");
    let r = app
        .client
        .get(app.url("/admin/events.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("id,created_at,kind"));

    // Every slot taken (as by downloads in progress): the next waits its turn.
    let held = download::SLOTS
        .try_acquire_many(download::MAX_CONCURRENT as u32)
        .unwrap();
    for path in ["/admin/export/big/csv", "/admin/events.csv"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 503, "{path}");
        assert!(r.text().await.unwrap().contains("try again"), "{path}");
    }
    drop(held);
    let r = app
        .client
        .get(app.url("/admin/export/big/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().lines().count(), 20_001);

    // A client that leaves in the middle gives its slot back: with every slot but one
    // held, an abandoned download must not keep the last one.
    let held = download::SLOTS
        .try_acquire_many(download::MAX_CONCURRENT as u32 - 1)
        .unwrap();
    let mut r = app
        .client
        .get(app.url("/admin/export/big/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _first = r.chunk().await.unwrap();
    drop(r);
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if download::SLOTS.available_permits() == 1 {
            ok = true;
            break;
        }
    }
    assert!(ok, "an abandoned download still holds its slot");
    drop(held);
    app.stop().await;
}
