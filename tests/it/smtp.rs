//! SMTP on SQLite and PostgreSQL: the durable relay queue against a real SMTP server
//! (Python aiosmtpd, tests/compat/smtp_sink.py) — relaying, retries while the upstream is
//! down, permanent refusals, the dev outbox, two workers on one PostgreSQL — then
//! session transcripts of the listener, and end-to-end runs where lettre and Python's
//! smtplib submit to optbox (STARTTLS, AUTH) and the sink receives the result, and a
//! list-managed message optbox cannot send whole gets a 5xx naming the cause.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestDb, spawn_with};
use optbox::server::config::{RelaySettings, SmtpSettings};
use optbox::server::mail::relay;
use optbox::server::mail::relay::Outgoing;
use optbox::server::service::api_keys;
use optbox::server::smtp;
use optbox::server::store::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

crate::common::on_each_backend!(
    multi_thread:
    queued_messages_reach_a_real_smtp_server_byte_for_byte,
    an_upstream_that_is_down_gets_the_message_once_it_is_back,
    a_permanent_refusal_fails_the_message_and_logs_an_event,
    without_an_upstream_messages_stay_in_the_outbox,
    lettre_and_smtplib_submit_through_starttls_and_auth_to_the_upstream,
    a_killed_instance_loses_no_accepted_message,
    messages_optbox_cannot_send_whole_get_a_permanent_refusal,
    inbound_mail_unsubscribes_bounces_and_complains,
    the_inbound_listener_offers_starttls_with_the_smtp_certificate,
    the_breaker_pauses_the_relay_until_an_operator_resumes_it,
);

// ---------------------------------------------------------------- the sink

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/compat-venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `make compat` (the SMTP tests need aiosmtpd from tests/compat/requirements.txt)",
        p.display()
    );
    p
}

/// A real SMTP server (aiosmtpd) storing what it accepts in a temporary directory.
struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    fn start_on(port: u16) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/smtp_sink.py"))
            .arg(dir.path())
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("the sink did not start: {line:?}"))
            .parse()
            .unwrap();
        Self { child, port, dir }
    }

    fn start() -> Self {
        Self::start_on(0)
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// (envelope, bytes) of every message received, in order.
    fn messages(&self) -> Vec<(serde_json::Value, Vec<u8>)> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|j| {
                let env = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
                let data = std::fs::read(j.with_extension("eml")).unwrap();
                (env, data)
            })
            .collect()
    }

    async fn wait_for(&self, n: usize, secs: u64) -> Vec<(serde_json::Value, Vec<u8>)> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n || start.elapsed() > Duration::from_secs(secs) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fast() -> RelaySettings {
    RelaySettings {
        relay_timeout_ms: 2_000,
        relay_retry_base_ms: 100,
        relay_retry_max_ms: 400,
        relay_poll_ms: 20,
        ..Default::default()
    }
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender@example.com\r\nTo: r{n}@example.net\r\nSubject: test {n}\r\nX-Seq: {n}\r\n\r\nHello {n}.\r\n.leading dot kept\r\n"
    )
    .into_bytes()
}

fn outgoing(n: usize, rcpt: &str) -> Outgoing {
    Outgoing {
        send_id: optbox::server::mail::issued::new_send_id(),
        message_id: String::new(),
        mail_from: "sender@example.com".into(),
        rcpt: rcpt.into(),
        data: message(n),
        send: Default::default(),
        events: None,
    }
}

async fn wait_state(store: &DynStore, id: i64, state: MailState, secs: u64) -> MailRecord {
    let start = Instant::now();
    loop {
        let m = store.get_mail(id).await.unwrap();
        if m.state == state || start.elapsed() > Duration::from_secs(secs) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn all_mail(store: &DynStore) -> Vec<MailRecord> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_mail(None, before, 1000).await.unwrap();
        let Some(last) = page.last() else {
            return all;
        };
        before = Some(last.id);
        all.extend(page);
    }
}

async fn ids_of(store: &DynStore) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .list_mail(None, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids
}

// ---------------------------------------------------------------- the queue

async fn queued_messages_reach_a_real_smtp_server_byte_for_byte(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sink = Sink::start();
    let msgs: Vec<Outgoing> = (0..3)
        .map(|n| outgoing(n, &format!("r{n}@example.net")))
        .collect();
    let mids = relay::enqueue(&store, true, &msgs).await.unwrap();
    assert_eq!(mids.len(), 3);
    assert!(mids.iter().all(|m| m == &mids[0]), "one submission, one id");
    // Committed before the worker even exists.
    let ids = ids_of(&store).await;
    assert_eq!(ids.len(), 3);
    assert!(
        store.get_mail(ids[0]).await.unwrap().state == MailState::Queued,
        "stored as queued"
    );
    let worker = relay::start_worker(
        store.clone(),
        &sink.url(),
        fast(),
        std::sync::Arc::new(relay::NoObserver),
    )
    .unwrap();
    let got = sink.wait_for(3, 20).await;
    assert_eq!(got.len(), 3, "the sink got every message");
    for (env, data) in &got {
        let seq: usize = String::from_utf8_lossy(data)
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: ").map(|s| s.trim().parse().unwrap()))
            .unwrap();
        assert_eq!(env["mail_from"], "sender@example.com");
        assert_eq!(env["rcpt_tos"][0], format!("r{seq}@example.net"));
        assert_eq!(data, &message(seq), "the bytes arrive unchanged");
    }
    for id in &ids {
        let m = wait_state(&store, *id, MailState::Sent, 10).await;
        assert_eq!(m.state, MailState::Sent);
        assert_eq!(m.attempts, 1);
        assert!(m.sent_at.is_some());
    }
    worker.shutdown().await;
    db.cleanup().await;
}

async fn an_upstream_that_is_down_gets_the_message_once_it_is_back(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let port = free_port();
    relay::enqueue(&store, true, &[outgoing(1, "late@example.net")])
        .await
        .unwrap();
    let id = ids_of(&store).await[0];
    let worker = relay::start_worker(
        store.clone(),
        &format!("smtp://127.0.0.1:{port}"),
        fast(),
        std::sync::Arc::new(relay::NoObserver),
    )
    .unwrap();
    // Nobody listens: temporary failures, retried with backoff.
    let start = Instant::now();
    let m = loop {
        let m = store.get_mail(id).await.unwrap();
        if m.attempts >= 2 || start.elapsed() > Duration::from_secs(10) {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(m.state, MailState::Queued, "still queued: {m:?}");
    assert!(m.attempts >= 2, "retried: {m:?}");
    assert!(m.last_error.is_some(), "the error is recorded: {m:?}");
    let sink = Sink::start_on(port);
    let got = sink.wait_for(1, 20).await;
    assert_eq!(got.len(), 1, "delivered once the upstream is back");
    assert_eq!(got[0].1, message(1));
    let m = wait_state(&store, id, MailState::Sent, 10).await;
    assert_eq!(m.state, MailState::Sent);
    worker.shutdown().await;
    // Sent once, and only once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1);
    db.cleanup().await;
}

async fn a_permanent_refusal_fails_the_message_and_logs_an_event(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let sink = Sink::start();
    relay::enqueue(
        &store,
        true,
        &[
            outgoing(1, "reject-me@example.net"),
            outgoing(2, "fine@example.net"),
        ],
    )
    .await
    .unwrap();
    let ids = ids_of(&store).await;
    let worker = relay::start_worker(
        store.clone(),
        &sink.url(),
        fast(),
        std::sync::Arc::new(relay::NoObserver),
    )
    .unwrap();
    let failed = wait_state(&store, ids[0], MailState::Failed, 15).await;
    assert_eq!(failed.state, MailState::Failed);
    assert_eq!(failed.attempts, 1, "a 5xx is not retried");
    assert!(
        failed.last_error.as_deref().unwrap_or("").contains("550"),
        "{failed:?}"
    );
    let ok = wait_state(&store, ids[1], MailState::Sent, 15).await;
    assert_eq!(ok.state, MailState::Sent);
    let events = store
        .query_events(&EventQuery {
            kind: Some("delivery.failed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "one delivery.failed event");
    assert_eq!(
        events[0].contact_email.as_deref(),
        Some("reject-me@example.net")
    );
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(detail["queueId"], ids[0]);
    assert!(detail["error"].as_str().unwrap().contains("550"));
    assert_eq!(sink.messages().len(), 1);
    worker.shutdown().await;
    db.cleanup().await;
}

async fn without_an_upstream_messages_stay_in_the_outbox(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut msgs = vec![outgoing(1, "a@example.net"), outgoing(2, "b@example.net")];
    msgs[1].message_id = "given-id".into();
    let mids = relay::enqueue(&store, false, &msgs).await.unwrap();
    assert_eq!(mids[1], "given-id");
    assert!(mids[0].starts_with("0100"));
    msgs.push(outgoing(3, "c@example.net"));
    relay::enqueue(&store, false, &msgs[2..]).await.unwrap();
    // A worker (as another instance with an upstream would run) never takes them.
    let sink = Sink::start();
    let worker = relay::start_worker(
        store.clone(),
        &sink.url(),
        fast(),
        std::sync::Arc::new(relay::NoObserver),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.shutdown().await;
    assert!(sink.messages().is_empty());
    let page1 = relay::list(&store, Some(MailState::Outbox), None, 2)
        .await
        .unwrap();
    assert_eq!(page1.len(), 2);
    assert_eq!(page1[0].rcpt, "c@example.net", "newest first");
    assert!(page1[0].data.is_empty(), "listings leave the bytes out");
    assert_eq!(page1[0].size, message(3).len() as i64);
    let page2 = relay::list(&store, Some(MailState::Outbox), Some(page1[1].id), 2)
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].rcpt, "a@example.net");
    let full = relay::get(&store, page2[0].id).await.unwrap();
    assert_eq!(full.data, message(1));
    assert_eq!(full.state, MailState::Outbox);
    assert!(matches!(
        relay::get(&store, 999_999).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        relay::list(&store, Some(MailState::Queued), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgres_send_each_message_once() {
    let db = TestDb::postgres().await;
    let a = db.store().await;
    let b = db.store().await;
    let sink = Sink::start();
    let msgs: Vec<Outgoing> = (0..120)
        .map(|n| outgoing(n, &format!("r{n}@example.net")))
        .collect();
    for chunk in msgs.chunks(10) {
        relay::enqueue(&a, true, chunk).await.unwrap();
    }
    let s = RelaySettings {
        relay_concurrency: 8,
        ..fast()
    };
    let wa = relay::start_worker(
        a.clone(),
        &sink.url(),
        s.clone(),
        std::sync::Arc::new(relay::NoObserver),
    )
    .unwrap();
    let wb = relay::start_worker(
        b.clone(),
        &sink.url(),
        s,
        std::sync::Arc::new(relay::NoObserver),
    )
    .unwrap();
    let got = sink.wait_for(120, 60).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    wa.shutdown().await;
    wb.shutdown().await;
    let got_after = sink.messages();
    assert_eq!(got.len(), 120);
    assert_eq!(got_after.len(), 120, "no message was sent twice");
    let seqs: HashSet<String> = got_after
        .iter()
        .map(|(e, _)| e["rcpt_tos"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seqs.len(), 120, "every message exactly once");
    let sent = a
        .list_mail(Some(MailState::Sent), None, 1000)
        .await
        .unwrap();
    assert_eq!(sent.len(), 120);
    assert!(sent.iter().all(|m| m.attempts == 1));
    db.cleanup().await;
}

// ---------------------------------------------------------------- transcripts

/// Runs one session over an in-memory pipe: the client's bytes are written at once
/// (pipelined), and everything the server answered is returned.
async fn transcript(
    state: &optbox::server::state::AppState,
    settings: SmtpSettings,
    local: &str,
    client: &[u8],
) -> String {
    let local: SocketAddr = local.parse().unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let ctx =
        smtp::Context::new(state.clone(), settings, local, rx, smtp::Role::Submission).unwrap();
    let (mut c, s) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(async move {
        smtp::session::serve(&ctx, s, "127.0.0.1:40000".parse().unwrap())
            .await
            .unwrap();
    });
    c.write_all(client).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out))
        .await
        .expect("the session ends")
        .unwrap();
    server.await.unwrap();
    String::from_utf8(out).unwrap()
}

/// The reply codes of a transcript, in order (continuation lines skipped).
fn codes(t: &str) -> Vec<String> {
    t.lines()
        .filter(|l| l.len() >= 4 && l.as_bytes()[3] == b' ')
        .map(|l| l[..3].to_owned())
        .collect()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn key(app: &common::TestApp) -> (String, String) {
    let k = api_keys::create(&*app.store, &app.api_master, "smtp", &common::setup())
        .await
        .unwrap();
    (k.access_key_id, k.secret_access_key)
}

#[tokio::test]
async fn a_pipelined_session_is_answered_in_order_and_queues_one_copy_per_recipient() {
    let app = spawn_with("sqlite", |_| {}).await;
    let (id, secret) = key(&app).await;
    let client = format!(
        "EHLO client.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<sender@example.com> SIZE=200 BODY=8BITMIME\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: hi\r\n\r\n..dot-stuffed line\r\nbody\r\n.\r\nQUIT\r\n",
        b64(&format!("\0{id}\0{secret}"))
    );
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        client.as_bytes(),
    )
    .await;
    assert!(t.starts_with("220 optbox ESMTP"), "{t}");
    for cap in [
        "250-PIPELINING",
        "SIZE 10485760",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "AUTH PLAIN LOGIN",
    ] {
        assert!(t.contains(cap), "EHLO lacks {cap}: {t}");
    }
    assert!(!t.contains("STARTTLS"), "no certificate, no STARTTLS: {t}");
    assert_eq!(
        codes(&t),
        [
            "220", "250", "235", "250", "250", "250", "354", "250", "221"
        ],
        "{t}"
    );
    let queued = t
        .lines()
        .find(|l| l.starts_with("250 2.0.0 Ok: queued as "))
        .unwrap_or_else(|| panic!("{t}"));
    let mid = queued.rsplit(' ').next().unwrap();
    let rows = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(rows.len(), 2, "one row per recipient");
    let rcpts: HashSet<_> = rows.iter().map(|r| r.rcpt.as_str()).collect();
    assert_eq!(rcpts, HashSet::from(["a@example.net", "b@example.net"]));
    for r in &rows {
        assert_eq!(r.message_id, mid);
        assert_eq!(r.state, MailState::Outbox, "no relay_url: the outbox");
        let full = app.store.get_mail(r.id).await.unwrap();
        assert_eq!(
            full.data,
            b"Subject: hi\r\n\r\n.dot-stuffed line\r\nbody\r\n".to_vec(),
            "dot-stuffing removed, bytes otherwise unchanged"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn auth_is_required_checked_and_limited() {
    let app = spawn_with("sqlite", |_| {}).await;
    let (id, secret) = key(&app).await;
    let client = format!(
        "EHLO c\r\nMAIL FROM:<s@example.com>\r\nAUTH PLAIN {}\r\nAUTH LOGIN\r\n{}\r\n{}\r\nMAIL FROM:<s@example.com>\r\nQUIT\r\n",
        b64(&format!("\0{id}\0wrong-secret")),
        b64(&id),
        b64(&secret),
    );
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        client.as_bytes(),
    )
    .await;
    assert_eq!(
        codes(&t),
        [
            "220", "250", "530", "535", "334", "334", "235", "250", "221"
        ],
        "{t}"
    );
    assert!(t.contains("530 5.7.0 Authentication required"), "{t}");
    assert!(t.contains("535 5.7.8"), "{t}");
    // Three failures end the session.
    let bad = b64(&format!("\0{id}\0nope"));
    let client =
        format!("EHLO c\r\nAUTH PLAIN {bad}\r\nAUTH PLAIN {bad}\r\nAUTH PLAIN {bad}\r\nNOOP\r\n");
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        client.as_bytes(),
    )
    .await;
    assert_eq!(codes(&t), ["220", "250", "535", "535", "535", "421"], "{t}");
    // A revoked key no longer works.
    api_keys::revoke(&*app.store, &id, &common::setup())
        .await
        .unwrap();
    let client = format!(
        "EHLO c\r\nAUTH PLAIN {}\r\nQUIT\r\n",
        b64(&format!("\0{id}\0{secret}"))
    );
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        client.as_bytes(),
    )
    .await;
    assert_eq!(codes(&t), ["220", "250", "535", "221"], "{t}");
    app.stop().await;
}

#[tokio::test]
async fn a_public_listener_without_tls_refuses_plain_text_auth() {
    let app = spawn_with("sqlite", |_| {}).await;
    let (id, secret) = key(&app).await;
    let client = format!(
        "EHLO c\r\nAUTH PLAIN {}\r\nMAIL FROM:<s@example.com>\r\nQUIT\r\n",
        b64(&format!("\0{id}\0{secret}"))
    );
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "192.0.2.1:587",
        client.as_bytes(),
    )
    .await;
    assert!(
        !t.contains("AUTH"),
        "AUTH is not offered in clear text: {t}"
    );
    assert!(t.contains("538 5.7.11 Encryption required"), "{t}");
    assert_eq!(codes(&t), ["220", "250", "538", "530", "221"], "{t}");
    // Optional AUTH is refused outside loopback.
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let e = smtp::Context::new(
        app.state.clone(),
        SmtpSettings {
            smtp_require_auth: false,
            ..Default::default()
        },
        "192.0.2.1:587".parse().unwrap(),
        rx,
        smtp::Role::Submission,
    )
    .err()
    .unwrap();
    assert!(e.contains("smtp_require_auth"), "{e}");
    app.stop().await;
}

#[tokio::test]
async fn limits_on_size_recipients_order_and_errors_have_their_replies() {
    let app = spawn_with("sqlite", |_| {}).await;
    let s = SmtpSettings {
        smtp_require_auth: false,
        smtp_max_message_bytes: 100,
        smtp_max_recipients: 2,
        ..Default::default()
    };
    let big = "x".repeat(300);
    let client = format!(
        "DATA\r\nMAIL FROM:<s@example.com>\r\nEHLO c\r\nRCPT TO:<a@example.net>\r\nMAIL FROM:<s@example.com> SIZE=5000\r\nMAIL FROM:<s@example.com>\r\nDATA\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<not an address>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n{big}\r\n.\r\nFROB\r\nSTARTTLS\r\nRSET\r\nQUIT\r\n"
    );
    let t = transcript(&app.state, s, "127.0.0.1:2525", client.as_bytes()).await;
    assert_eq!(
        codes(&t),
        [
            "220", // greeting
            "503", // DATA first
            "503", // MAIL before EHLO
            "250", // EHLO
            "503", // RCPT before MAIL
            "552", // SIZE over the limit
            "250", // MAIL
            "503", // DATA before RCPT
            "250", "501", "250", // RCPT a, bad, b
            "452", // third recipient
            "354", "552", // DATA too big
            "500", // unknown command
            "502", // STARTTLS without a certificate
            "250", "221"
        ],
        "{t}"
    );
    assert!(t.contains("452 4.5.3 Too many recipients"), "{t}");
    assert!(t.contains("552 5.3.4 Message too big"), "{t}");
    assert!(
        app.store
            .list_mail(None, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing too big was stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn commands_that_send_nothing_count_and_end_a_chattering_session() {
    let app = spawn_with("sqlite", |_| {}).await;
    let s = SmtpSettings {
        smtp_require_auth: false,
        ..Default::default()
    };
    // EHLO, then NOOP, RSET, HELP and VRFY round after round: nothing is ever sent.
    let mut client = String::from("EHLO c\r\n");
    for _ in 0..10 {
        client.push_str("NOOP\r\nRSET\r\nHELP\r\nVRFY x\r\n");
    }
    client.push_str("QUIT\r\n");
    let t = transcript(&app.state, s.clone(), "127.0.0.1:2525", client.as_bytes()).await;
    let c = codes(&t);
    assert_eq!(c.len(), 22, "{t}");
    assert_eq!(c.last().map(String::as_str), Some("421"), "{t}");
    assert!(
        t.contains("421 4.7.0 Too many commands without a message"),
        "{t}"
    );
    assert!(!t.contains("221 "), "the session ended before QUIT: {t}");

    // A sender that sends messages may RSET between them for as long as it likes.
    let mut client = String::from("EHLO c\r\n");
    for i in 0..12 {
        client.push_str(&format!(
            "NOOP\r\nRSET\r\nMAIL FROM:<s@example.com>\r\nRCPT TO:<r{i}@example.net>\r\nDATA\r\nFrom: s@example.com\r\nTo: r{i}@example.net\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"
        ));
    }
    client.push_str("QUIT\r\n");
    let t = transcript(&app.state, s, "127.0.0.1:2525", client.as_bytes()).await;
    assert!(t.ends_with("221 2.0.0 Bye\r\n"), "{t}");
    // Reply codes only: a queued message's random id may itself hold "421".
    assert!(!codes(&t).iter().any(|c| c == "421"), "{t}");
    app.stop().await;
}

#[tokio::test]
async fn a_database_that_is_down_gets_451_never_250() {
    let app = spawn_with("postgres", |_| {}).await;
    // Drop the app's database under it.
    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&common::pg_admin_url())
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let s = SmtpSettings {
        smtp_require_auth: false,
        ..Default::default()
    };
    let t = transcript(
        &app.state,
        s,
        "127.0.0.1:2525",
        b"EHLO c\r\nMAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.net>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        codes(&t),
        ["220", "250", "250", "250", "354", "451", "221"],
        "{t}"
    );
    assert!(t.contains("451 4.3.0"), "{t}");
    app.stop().await;
}

// ---------------------------------------------------------------- end to end

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl could not make a certificate");
    (cert, key)
}

async fn lettre_and_smtplib_submit_through_starttls_and_auth_to_the_upstream(backend: &str) {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let sink = Sink::start();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, keyf) = self_signed(tmp.path());
    let url = sink.url();
    let app = spawn_with(backend, |s| {
        s.relay_url = Some(optbox::server::config::Secret::new(url));
        s.relay = fast();
        s.smtp.smtp_tls_cert = Some(cert);
        s.smtp.smtp_tls_key = Some(keyf);
    })
    .await;
    let (id, secret) = key(&app).await;

    // lettre: STARTTLS required, AUTH PLAIN.
    let tls = TlsParameters::builder("localhost".into())
        .dangerous_accept_invalid_certs(true)
        .build_rustls()
        .unwrap();
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(app.smtp_addr.port())
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(id.clone(), secret.clone()))
        .build();
    let env = lettre::address::Envelope::new(
        Some("sender@example.com".parse().unwrap()),
        vec!["via-lettre@example.net".parse().unwrap()],
    )
    .unwrap();
    // lettre adds CRLF "." CRLF after the bytes it is given: without the final CRLF,
    // the message on the wire is exactly message(1).
    let m1 = message(1);
    let resp = client
        .send_raw(&env, &m1[..m1.len() - 2])
        .await
        .expect("lettre send");
    let text = resp.message().collect::<Vec<_>>().join(" ");
    assert!(text.contains("queued as 0100"), "{text}");

    // Python smtplib: EHLO, STARTTLS, AUTH LOGIN, two recipients.
    let script = r#"
import smtplib, ssl, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo(); s.starttls(context=ctx); s.ehlo()
assert "auth" in s.esmtp_features, s.esmtp_features
s.login(user, pw)
msg = b"From: py@example.com\r\nSubject: from python\r\n\r\nHello from smtplib.\r\n"
refused = s.sendmail("py@example.com", ["py1@example.net", "py2@example.net"], msg)
assert refused == {}, refused
print(s.noop()[0]); s.quit()
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(app.smtp_addr.port().to_string())
        .arg(&id)
        .arg(&secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let got = sink.wait_for(3, 30).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let by_rcpt: HashMap<String, Vec<u8>> = got
        .into_iter()
        .map(|(e, d)| (e["rcpt_tos"][0].as_str().unwrap().to_owned(), d))
        .collect();
    assert_eq!(by_rcpt["via-lettre@example.net"], message(1));
    assert!(String::from_utf8_lossy(&by_rcpt["py1@example.net"]).contains("Hello from smtplib."));
    assert!(by_rcpt.contains_key("py2@example.net"));
    let start = Instant::now();
    while app
        .store
        .list_mail(Some(MailState::Sent), None, 10)
        .await
        .unwrap()
        .len()
        < 3
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "rows not marked sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Plain-text AUTH over the loopback listener works too (no TLS).
    let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(app.smtp_addr.port())
        .credentials(Credentials::new(id.clone(), "wrong".into()))
        .build();
    let err = plain.send_raw(&env, &message(2)).await.unwrap_err();
    assert!(err.is_permanent(), "a wrong secret is refused: {err}");
    app.stop().await;
}

/// Over the real listener (lettre, AUTH PLAIN on loopback): a placeholder to two
/// recipients without fan-out gets 554 5.6.0, a sender's DKIM signature optbox would
/// break without a key gets 550 5.7.0; neither is queued.
async fn messages_optbox_cannot_send_whole_get_a_permanent_refusal(backend: &str) {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let app = spawn_with(backend, |_| {}).await;
    app.store
        .create_list("news", &optbox::domain::ListDefinition::default(), None)
        .await
        .unwrap();
    let (id, secret) = key(&app).await;
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(app.smtp_addr.port())
        .credentials(Credentials::new(id, secret))
        .build();
    let env = |rcpts: &[&str]| {
        lettre::address::Envelope::new(
            Some("news@example.com".parse().unwrap()),
            rcpts.iter().map(|r| r.parse().unwrap()).collect(),
        )
        .unwrap()
    };
    let placeholder = b"From: news@example.com\r\nTo: a@example.net, b@example.net\r\nSubject: Hi\r\nX-SES-LIST-MANAGEMENT-OPTIONS: news\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nLeave: {{amazonSESUn=\r\nsubscribeUrl}}\r\n";
    let err = client
        .send_raw(&env(&["a@example.net", "b@example.net"]), placeholder)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(
        err.status().map(|c| c.to_string()),
        Some("554".into()),
        "{err}"
    );
    assert!(
        err.to_string().contains("5.6.0 list-managed message with {{amazonSESUnsubscribeUrl}} to 2 recipients: send one message per recipient or set fan_out = true"),
        "{err}"
    );
    let signed = b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=partner.example; s=x; h=From:To:Subject; bh=AAAA; b=BBBB\r\nFrom: news@example.com\r\nTo: a@example.net\r\nSubject: Hi\r\nX-SES-LIST-MANAGEMENT-OPTIONS: news\r\n\r\nLeave: {{amazonSESUnsubscribeUrl}}\r\n";
    let err = client
        .send_raw(&env(&["a@example.net"]), signed)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(
        err.status().map(|c| c.to_string()),
        Some("550".into()),
        "{err}"
    );
    let said = err.to_string();
    assert!(
        said.contains("5.7.0 the DKIM signature of partner.example would break"),
        "{said}"
    );
    assert!(
        said.contains("optbox dkim generate --domain partner.example"),
        "{said}"
    );
    assert!(
        app.store
            .list_mail(None, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    // To one recipient it is sent, with its own link.
    let resp = client
        .send_raw(&env(&["a@example.net"]), placeholder)
        .await
        .expect("one recipient is accepted");
    assert!(resp.is_positive());
    let rows = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let full = app.store.get_mail(rows[0].id).await.unwrap();
    assert!(
        !String::from_utf8_lossy(&full.data)
            .replace("=\r\n", "")
            .contains("amazonSESUnsubscribeUrl")
    );
    app.stop().await;
}

// ---------------------------------------------------------------- kill -9

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_optbox(db_url: &str, smtp: &str, relay: &str) -> Proc {
    let http = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_optbox"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OPTBOX_DATABASE_URL", db_url)
        .env("OPTBOX_LISTEN", &http)
        .env("OPTBOX_SMTP_LISTEN", smtp)
        .env("OPTBOX_SMTP_REQUIRE_AUTH", "false")
        .env("OPTBOX_RELAY_URL", relay)
        .env("OPTBOX_RELAY_TIMEOUT_MS", "500")
        .env("OPTBOX_RELAY_RETRY_BASE_MS", "100")
        .env("OPTBOX_RELAY_RETRY_MAX_MS", "400")
        .env("OPTBOX_RELAY_POLL_MS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(smtp).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "optbox did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc(child)
}

/// kill -9 during a burst of submissions: after a restart every message that got 250
/// reaches the upstream; one is sent twice only if its upstream transaction was in
/// flight when the process died (its row then shows a second attempt).
async fn a_killed_instance_loses_no_accepted_message(backend: &str) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    use std::sync::{Arc, Mutex};
    let db = TestDb::new(backend).await;
    db.store().await; // migrated
    let sink = Sink::start();
    let smtp = format!("127.0.0.1:{}", free_port());
    let first = spawn_optbox(&db.url, &smtp, &sink.url());
    let accepted = Arc::new(Mutex::new(Vec::<usize>::new()));
    let mut tasks = Vec::new();
    for c in 0..4usize {
        let accepted = accepted.clone();
        let port: u16 = smtp.rsplit(':').next().unwrap().parse().unwrap();
        tasks.push(tokio::spawn(async move {
            let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(port)
                .timeout(Some(Duration::from_secs(5)))
                .build();
            for i in 0.. {
                let n = c * 1_000_000 + i;
                let env = lettre::address::Envelope::new(
                    Some("sender@example.com".parse().unwrap()),
                    vec![format!("r{n}@example.net").parse().unwrap()],
                )
                .unwrap();
                match t.send_raw(&env, &message(n)).await {
                    Ok(_) => accepted.lock().unwrap().push(n),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(first); // SIGKILL
    for t in tasks {
        let _ = t.await;
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() > 20,
        "the burst got going: {}",
        accepted.len()
    );
    let _second = spawn_optbox(&db.url, &smtp, &sink.url());
    let store = db.store().await;
    let start = Instant::now();
    loop {
        let queued = store
            .list_mail(Some(MailState::Queued), None, 10)
            .await
            .unwrap();
        if queued.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (e, _) in sink.messages() {
        *seen
            .entry(e["rcpt_tos"][0].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for n in &accepted {
        assert!(
            seen.contains_key(&format!("r{n}@example.net")),
            "message {n} got 250 but never reached the upstream"
        );
    }
    let rows = all_mail(&store).await;
    let attempts: HashMap<&str, i64> = rows.iter().map(|r| (r.rcpt.as_str(), r.attempts)).collect();
    let mut twice = 0;
    for (rcpt, count) in &seen {
        if *count > 1 {
            twice += 1;
            assert!(
                attempts.get(rcpt.as_str()).copied().unwrap_or(0) > 1,
                "{rcpt} was sent {count} times without being in flight at the kill"
            );
        }
    }
    assert!(
        rows.iter().all(|r| r.state == MailState::Sent),
        "every row sent"
    );
    eprintln!(
        "{backend}: {} accepted with 250, {} stored, {} sent twice (in flight at the kill)",
        accepted.len(),
        rows.len(),
        twice
    );
    db.cleanup().await;
}

// ---------------------------------------------------------------- inbound mail

const INBOUND: &str = "in.optbox.test";

/// Python's smtplib sending one message of `kind` to the inbound listener
/// (tests/compat/inbound_peer.py); returns its "OK 250" or "REFUSED code text" line.
fn peer(port: u16, mail_from: &str, rcpt: &str, kind: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/inbound_peer.py"))
        .arg(port.to_string())
        .arg(mail_from)
        .arg(rcpt)
        .arg(kind)
        .args(args)
        .output()
        .expect("run the inbound peer");
    assert!(
        out.status.success(),
        "inbound peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The addresses optbox put on the copy the sink received for `rcpt`: (envelope
/// sender, the mailto of List-Unsubscribe).
fn issued_for(msgs: &[(serde_json::Value, Vec<u8>)], rcpt: &str) -> (String, Option<String>) {
    let (env, data) = msgs
        .iter()
        .find(|(e, _)| e["rcpt_tos"][0] == rcpt)
        .unwrap_or_else(|| panic!("no message for {rcpt}"));
    let text = String::from_utf8_lossy(data);
    let mailto = text
        .split("<mailto:")
        .nth(1)
        .map(|r| r.split('?').next().unwrap().to_owned());
    (env["mail_from"].as_str().unwrap().to_owned(), mailto)
}

async fn inbound_app(backend: &str, sink: &Sink) -> common::TestApp {
    let url = sink.url();
    spawn_with(backend, move |s| {
        s.relay_url = Some(optbox::server::config::Secret::new(url));
        s.relay = fast();
        s.inbound.inbound_listen = Some("127.0.0.1:0".parse().unwrap());
        s.inbound.inbound_domain = Some(INBOUND.into());
        s.inbound.inbound_report_address = Some("fbl@reports.example".into());
    })
    .await
}

/// Sends a message through the pipeline and waits until the sink has `total` messages.
async fn send_through(
    app: &common::TestApp,
    sink: &Sink,
    rcpts: &[&str],
    list_managed: bool,
    total: usize,
) -> Vec<String> {
    use optbox::server::service::sending::{Submission, Via};
    let head = if list_managed {
        "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=news\r\n"
    } else {
        ""
    };
    let data = format!(
        "From: news@example.com\r\nTo: you@example.org\r\nSubject: News\r\n{head}\r\nHello.\r\n"
    );
    if app.store.get_configuration_set("marketing").await.is_err() {
        let set = optbox::server::store::ConfigurationSetRecord {
            name: "marketing".into(),
            options: "{}".into(),
            tags: vec![],
            suppressed_reasons: None,
            sending_enabled: true,
            created_at: 0,
        };
        app.store.create_configuration_set(&set, 10).await.unwrap();
    }
    let mut ids = Vec::new();
    for rcpt in rcpts {
        let p = app
            .state
            .process_mail(Submission {
                mail_from: "news@example.com".into(),
                rcpts: vec![(*rcpt).to_owned()],
                data: data.clone().into_bytes(),
                options: None,
                via: Via::Api,
                key_id: None,
                configuration_set: Some("marketing".into()),
                tags: vec![("campaign".into(), "dec".into())],
                scope: Default::default(),
            })
            .await
            .unwrap();
        ids.push(app.state.enqueue_mail(&p.outgoing).await.unwrap()[0].clone());
    }
    let got = sink.wait_for(total, 20).await;
    assert!(got.len() >= total, "the sink got {} of {total}", got.len());
    ids
}

async fn status(app: &common::TestApp, email: &str) -> optbox::domain::SubscriptionStatus {
    let list = app.store.get_list("news").await.unwrap();
    let c = app
        .store
        .get_contact(&list, &optbox::domain::EmailAddress::parse(email).unwrap())
        .await
        .unwrap();
    c.status_for(list.topic("news").unwrap())
}

async fn events_of(app: &common::TestApp, kind: &str) -> Vec<EventRecord> {
    app.store
        .query_events(&EventQuery {
            kind: Some(kind.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn inbound_mail_unsubscribes_bounces_and_complains(backend: &str) {
    use optbox::domain::{SubscriptionStatus, SuppressionReason};
    let sink = Sink::start();
    let app = inbound_app(backend, &sink).await;
    let port = app.inbound_addr.expect("the inbound listener runs").port();
    app.store
        .create_list("news", &common::news_list(), None)
        .await
        .unwrap();
    let people = [
        "ann@example.org",
        "bea@example.org",
        "dan@example.org",
        "eve@example.org",
        "fay@example.org",
    ];
    let news_ids = send_through(&app, &sink, &people, true, people.len()).await;
    let plain_ids = send_through(
        &app,
        &sink,
        &["bob@example.org", "carl@example.org"],
        false,
        7,
    )
    .await;
    let msgs = sink.messages();

    // Every relayed copy has a VERP envelope sender; list-managed ones also the mailto
    // after the https link.
    let (ann_bounce, ann_unsub) = issued_for(&msgs, "ann@example.org");
    let ann_unsub = ann_unsub.expect("a mailto in List-Unsubscribe");
    assert!(
        ann_bounce.starts_with("bounce-") && ann_bounce.ends_with(INBOUND),
        "{ann_bounce}"
    );
    assert!(
        ann_unsub.starts_with("unsub-") && ann_unsub.ends_with(INBOUND),
        "{ann_unsub}"
    );
    assert!(
        ann_unsub.split('@').next().unwrap().len() <= 40,
        "{ann_unsub}"
    );
    let (_, ann_data) = msgs
        .iter()
        .find(|(e, _)| e["rcpt_tos"][0] == "ann@example.org")
        .unwrap();
    let lu = String::from_utf8_lossy(ann_data);
    assert!(
        lu.contains(&format!(", <mailto:{ann_unsub}?subject=unsubscribe>")),
        "the https link first, then the mailto: {lu}"
    );
    let (bob_bounce, bob_unsub) = issued_for(&msgs, "bob@example.org");
    assert!(
        bob_bounce.starts_with("bounce-"),
        "transactional mail is VERP too"
    );
    assert!(
        bob_unsub.is_none(),
        "transactional mail gets no list headers"
    );
    let (carl_bounce, _) = issued_for(&msgs, "carl@example.org");
    let (bea_bounce, bea_unsub) = issued_for(&msgs, "bea@example.org");
    let bea_unsub = bea_unsub.unwrap();
    let (dan_bounce, _) = issued_for(&msgs, "dan@example.org");
    let (eve_bounce, _) = issued_for(&msgs, "eve@example.org");

    // Unsubscribe by email: a person's mail opts ann out of the message's topic.
    assert_eq!(
        peer(port, "ann@example.org", &ann_unsub, "unsubscribe", &[]),
        "OK 250"
    );
    assert_eq!(
        status(&app, "ann@example.org").await,
        SubscriptionStatus::OptOut
    );
    let subs = events_of(&app, "subscription").await;
    let mailto: Vec<_> = subs
        .iter()
        .filter(|e| e.source.as_deref() == Some("Mailto"))
        .collect();
    assert_eq!(mailto.len(), 1, "{subs:?}");
    assert_eq!(mailto[0].message_id.as_deref(), Some(news_ids[0].as_str()));
    assert_eq!(mailto[0].actor.as_deref(), Some("recipient"));
    // Again: idempotent, no second event.
    assert_eq!(
        peer(
            port,
            "ann@example.org",
            &ann_unsub.to_uppercase(),
            "unsubscribe",
            &[]
        ),
        "OK 250"
    );
    let again = events_of(&app, "subscription").await;
    assert_eq!(
        again
            .iter()
            .filter(|e| e.source.as_deref() == Some("Mailto"))
            .count(),
        1
    );
    // An auto-reply and a null sender unsubscribe nobody.
    assert_eq!(
        peer(port, "bea@example.org", &bea_unsub, "autoreply", &[]),
        "OK 250"
    );
    assert_eq!(peer(port, "-", &bea_unsub, "unsubscribe", &[]), "OK 250");
    assert_eq!(
        status(&app, "bea@example.org").await,
        SubscriptionStatus::OptIn
    );

    // Recipients it never issued are refused at RCPT; it is nobody's relay.
    let mut forged = bea_unsub.clone().into_bytes();
    forged[8] = if forged[8] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).unwrap();
    let r = peer(port, "x@example.org", &forged, "unsubscribe", &[]);
    assert!(r.starts_with("REFUSED 550"), "{r}");
    let r = peer(
        port,
        "x@example.org",
        "someone@elsewhere.example",
        "unsubscribe",
        &[],
    );
    assert!(r.starts_with("REFUSED 550 5.7.1"), "{r}");
    let r = peer(
        port,
        "x@example.org",
        &format!("random@{INBOUND}"),
        "unsubscribe",
        &[],
    );
    assert!(r.starts_with("REFUSED 550 5.1.1"), "{r}");
    assert_eq!(
        status(&app, "bea@example.org").await,
        SubscriptionStatus::OptIn
    );
    // postmaster@ takes mail; a message for people is logged, not acted on.
    assert_eq!(
        peer(
            port,
            "x@example.org",
            &format!("postmaster@{INBOUND}"),
            "unsubscribe",
            &[]
        ),
        "OK 250"
    );
    assert_eq!(events_of(&app, "inbound.message").await.len(), 1);

    // A DSN saying bob's mailbox does not exist suppresses bob; a 5.7.1 policy refusal
    // of carl's copy is a bounce event and suppresses nobody.
    assert_eq!(
        peer(port, "-", &bob_bounce, "dsn", &["5.1.1", "bob@example.org"]),
        "OK 250"
    );
    assert_eq!(
        peer(
            port,
            "-",
            &carl_bounce,
            "dsn",
            &["5.7.1", "carl@example.org"]
        ),
        "OK 250"
    );
    // A transient delay suppresses nobody either.
    assert_eq!(
        peer(port, "-", &eve_bounce, "dsn", &["4.2.2", "eve@example.org"]),
        "OK 250"
    );
    let bob = app
        .store
        .get_suppression("bob@example.org")
        .await
        .unwrap()
        .expect("bob suppressed");
    assert_eq!(bob.reason, SuppressionReason::Bounce);
    assert_eq!(bob.message_id.as_deref(), Some(plain_ids[0].as_str()));
    assert!(
        app.store
            .get_suppression("carl@example.org")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.store
            .get_suppression("eve@example.org")
            .await
            .unwrap()
            .is_none()
    );
    let bounces = events_of(&app, "bounce").await;
    assert_eq!(bounces.len(), 3, "{bounces:?}");
    let of = |who: &str| {
        bounces
            .iter()
            .find(|e| e.contact_email.as_deref() == Some(who))
            .unwrap_or_else(|| panic!("no bounce event for {who}"))
    };
    let bob_ev = optbox::server::events::payload(of("bob@example.org"));
    assert_eq!(bob_ev["eventType"], "Bounce");
    assert_eq!(bob_ev["bounce"]["bounceType"], "Permanent");
    assert_eq!(bob_ev["bounce"]["bounceSubType"], "NoEmail");
    assert_eq!(
        bob_ev["bounce"]["bouncedRecipients"][0]["emailAddress"],
        "bob@example.org"
    );
    assert_eq!(bob_ev["bounce"]["bouncedRecipients"][0]["status"], "5.1.1");
    assert_eq!(bob_ev["mail"]["messageId"], plain_ids[0].as_str());
    assert_eq!(bob_ev["mail"]["destination"][0], "bob@example.org");
    assert_eq!(bob_ev["mail"]["tags"]["campaign"][0], "dec");
    assert_eq!(
        bob_ev["mail"]["tags"]["ses:configuration-set"][0],
        "marketing"
    );
    let carl_ev = optbox::server::events::payload(of("carl@example.org"));
    assert_eq!(carl_ev["bounce"]["bounceSubType"], "General");
    assert_eq!(carl_ev["optbox"]["detail"]["suppressed"], false);
    let eve_ev = optbox::server::events::payload(of("eve@example.org"));
    assert_eq!(eve_ev["bounce"]["bounceType"], "Transient");

    // A complaint (ARF) at abuse@ about dan's copy, named by the VERP address in the
    // included headers: suppressed, a complaint event, and dan opted out of the topic.
    let r = peer(
        port,
        "-",
        &format!("abuse@{INBOUND}"),
        "arf",
        &[&dan_bounce, "dan@example.org"],
    );
    assert_eq!(r, "OK 250");
    let dan = app
        .store
        .get_suppression("dan@example.org")
        .await
        .unwrap()
        .expect("dan suppressed");
    assert_eq!(dan.reason, SuppressionReason::Complaint);
    assert_eq!(
        status(&app, "dan@example.org").await,
        SubscriptionStatus::OptOut
    );
    let complaints = events_of(&app, "complaint").await;
    assert_eq!(complaints.len(), 1);
    let c = optbox::server::events::payload(&complaints[0]);
    assert_eq!(c["eventType"], "Complaint");
    assert_eq!(
        c["complaint"]["complainedRecipients"][0]["emailAddress"],
        "dan@example.org"
    );
    assert_eq!(c["complaint"]["complaintFeedbackType"], "abuse");
    assert_eq!(c["mail"]["messageId"], news_ids[2].as_str());
    // The real-world sample (RFC 5965's example report) at the report address, naming
    // fay's copy: its own claims (Original-Rcpt-To user@example.com) are not believed.
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/fixtures/arf_rfc5965.eml");
    let (fay_bounce, _) = issued_for(&msgs, "fay@example.org");
    let r = peer(
        port,
        "-",
        "fbl@reports.example",
        "sample",
        &[sample.to_str().unwrap(), &fay_bounce],
    );
    assert_eq!(r, "OK 250");
    assert!(
        app.store
            .get_suppression("fay@example.org")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        app.store
            .get_suppression("user@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // A report about a message optbox never sent, a forged VERP address in a report, and
    // a malformed report: a 250 and nothing done.
    let r = peer(
        port,
        "-",
        &format!("abuse@{INBOUND}"),
        "arf",
        &["someone@elsewhere.example", "bea@example.org"],
    );
    assert_eq!(r, "OK 250");
    let forged_verp = bea_bounce.replacen("bounce-", "bounce-a", 1);
    let r = peer(
        port,
        "-",
        &format!("abuse@{INBOUND}"),
        "arf",
        &[&forged_verp, "bea@example.org"],
    );
    assert_eq!(r, "OK 250");
    assert_eq!(peer(port, "-", &bea_bounce, "garbage", &[]), "OK 250");
    assert!(
        app.store
            .get_suppression("bea@example.org")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(events_of(&app, "complaint").await.len(), 2);

    // The upstream's own refusals: 550 5.1.1 suppresses, 550 5.7.1 does not.
    send_through(
        &app,
        &sink,
        &["reject-gil@example.org", "policy-hal@example.org"],
        false,
        7,
    )
    .await;
    let start = Instant::now();
    while events_of(&app, "bounce").await.len() < 5 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gil = app
        .store
        .get_suppression("reject-gil@example.org")
        .await
        .unwrap();
    assert_eq!(gil.map(|g| g.reason), Some(SuppressionReason::Bounce));
    assert!(
        app.store
            .get_suppression("policy-hal@example.org")
            .await
            .unwrap()
            .is_none()
    );
    let hal = events_of(&app, "bounce").await;
    let hal = hal
        .iter()
        .find(|e| e.contact_email.as_deref() == Some("policy-hal@example.org"))
        .expect("a bounce event for hal");
    assert!(hal.detail.contains("\"via\":\"relay\""), "{}", hal.detail);
    app.stop().await;
}

async fn the_inbound_listener_offers_starttls_with_the_smtp_certificate(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, keyf) = self_signed(tmp.path());
    let app = spawn_with(backend, move |s| {
        s.smtp.smtp_tls_cert = Some(cert);
        s.smtp.smtp_tls_key = Some(keyf);
        s.inbound.inbound_listen = Some("127.0.0.1:0".parse().unwrap());
        s.inbound.inbound_domain = Some(INBOUND.into());
    })
    .await;
    app.store
        .create_list("news", &common::news_list(), None)
        .await
        .unwrap();
    use optbox::server::service::sending::{Submission, Via};
    let p = app
        .state
        .process_mail(Submission {
            mail_from: "news@example.com".into(),
            rcpts: vec!["ann@example.org".into()],
            data: b"From: news@example.com\r\nSubject: News\r\nX-SES-LIST-MANAGEMENT-OPTIONS: news; topic=news\r\n\r\nHello.\r\n".to_vec(),
            options: None,
            via: Via::Api,
            key_id: None,
            configuration_set: None,
            tags: Vec::new(),
            scope: Default::default(),
        })
        .await
        .unwrap();
    app.state.enqueue_mail(&p.outgoing).await.unwrap();
    let to = optbox::server::mail::issued::address(
        &app.keys,
        INBOUND,
        optbox::server::mail::issued::Purpose::Unsubscribe,
        p.outgoing[0].send_id,
    );
    let port = app.inbound_addr.unwrap().port();
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/inbound_peer.py"))
        .args([&port.to_string(), "ann@example.org", &to, "unsubscribe"])
        .env("INBOUND_STARTTLS", "1")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK 250",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        status(&app, "ann@example.org").await,
        optbox::domain::SubscriptionStatus::OptOut
    );
    // No AUTH is offered on the inbound listener, before or after TLS.
    let t = transcript_inbound(&app, b"EHLO mx.example\r\nQUIT\r\n").await;
    assert!(t.contains("STARTTLS") && !t.contains("AUTH"), "{t}");
    app.stop().await;
}

async fn transcript_inbound(app: &common::TestApp, client: &[u8]) -> String {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let ctx = smtp::Context::new(
        app.state.clone(),
        app.state.settings.smtp.clone(),
        "127.0.0.1:25".parse().unwrap(),
        rx,
        smtp::Role::Inbound,
    )
    .unwrap();
    let (mut c, s) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(async move {
        smtp::session::serve(&ctx, s, "192.0.2.9:40000".parse().unwrap()).await
    });
    c.write_all(client).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out)).await;
    let _ = server.await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn the_breaker_pauses_the_relay_until_an_operator_resumes_it(backend: &str) {
    let sink = Sink::start();
    let url = sink.url();
    let app = spawn_with(backend, move |s| {
        s.relay_url = Some(optbox::server::config::Secret::new(url));
        s.relay = fast();
        s.inbound.inbound_domain = Some(INBOUND.into());
        s.inbound.relay_breaker_window = 10;
        s.inbound.relay_breaker_share = 0.5;
    })
    .await;
    // 4 delivered, then refusals until more than half of the last 10 failed.
    let rcpts: Vec<String> = (0..4)
        .map(|i| format!("ok{i}@example.org"))
        .chain((0..6).map(|i| format!("reject{i}@example.org")))
        .collect();
    for (i, r) in rcpts.iter().enumerate() {
        // The four deliveries first, so the tenth outcome is a refusal.
        let wait = if i < 4 { i + 1 } else { 4 };
        send_through(&app, &sink, &[r.as_str()], false, wait).await;
    }
    let start = Instant::now();
    while app.store.relay_paused().await.unwrap().is_none()
        && start.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (why, _) = app
        .store
        .relay_paused()
        .await
        .unwrap()
        .expect("the breaker tripped");
    assert!(
        why.contains("of the last 10 deliveries failed permanently"),
        "{why}"
    );
    assert_eq!(events_of(&app, "relay.paused").await.len(), 1);
    // While paused nothing is delivered and no bounce suppresses anyone.
    let before = sink.messages().len();
    send_through(&app, &sink, &["later@example.org"], false, 0).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sink.messages().len(),
        before,
        "the relay delivers nothing while paused"
    );
    let rec = {
        let mut r = app.store.suppressed_among(&rcpts).await.unwrap();
        r.sort_by(|a, b| a.email.cmp(&b.email));
        r
    };
    assert!(
        rec.len() < 6,
        "the refusal that tripped the breaker suppressed nobody: {rec:?}"
    );
    // The operator resumes it (`optbox outbox resume` does the same): the message goes.
    let audit = optbox::domain::Audit::new(optbox::domain::Source::Cli);
    assert!(app.state.bounces.resume(&audit).await.unwrap());
    assert!(app.store.relay_paused().await.unwrap().is_none());
    let got = sink.wait_for(before + 1, 20).await;
    assert_eq!(got.len(), before + 1);
    assert_eq!(events_of(&app, "relay.resumed").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn with_require_verified_identity_only_registered_senders_are_relayed() {
    let app = spawn_with("sqlite", |s| {
        s.pipeline.require_verified_identity = Some(true);
    })
    .await;
    let (id, secret) = key(&app).await;
    let session = |from: &str| {
        format!(
            "EHLO client.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<{from}>\r\nRCPT TO:<a@example.net>\r\nDATA\r\nFrom: {from}\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
            b64(&format!("\0{id}\0{secret}"))
        )
    };
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        session("ceo@bank.example").as_bytes(),
    )
    .await;
    assert!(
        t.contains("550 5.7.1 Email address is not verified. The following identities failed the check: ceo@bank.example"),
        "{t}"
    );
    assert!(
        app.store
            .list_mail(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    optbox::server::service::identities::create(
        &*app.store,
        "example.com",
        None,
        &[],
        &common::setup(),
    )
    .await
    .unwrap();
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        session("news@example.com").as_bytes(),
    )
    .await;
    assert!(
        t.contains("250 2.0.0 Ok: queued as"),
        "a registered domain sends: {t}"
    );
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        session("news@sub.example.com").as_bytes(),
    )
    .await;
    assert!(
        t.contains("550 5.7.1"),
        "a subdomain is another identity: {t}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_scoped_key_sends_over_smtp_only_as_its_identities() {
    let app = spawn_with("sqlite", |_| {}).await;
    let scope = optbox::domain::KeyScope::parse(Some("send"), None, Some("example.com")).unwrap();
    let k = api_keys::create_scoped(
        &*app.store,
        &app.api_master,
        "smtp",
        &scope,
        &common::setup(),
    )
    .await
    .unwrap();
    let session = |from: &str| {
        format!(
            "EHLO client.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<{from}>\r\nRCPT TO:<a@example.net>\r\nDATA\r\nFrom: {from}\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
            b64(&format!("\0{}\0{}", k.access_key_id, k.secret_access_key))
        )
    };
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        session("ceo@bank.example").as_bytes(),
    )
    .await;
    assert!(
        t.contains("550 5.7.1 This access key may not send as ceo@bank.example"),
        "{t}"
    );
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        session("news@example.com").as_bytes(),
    )
    .await;
    assert!(t.contains("250 2.0.0 Ok: queued as"), "{t}");
    // A key that may not send at all.
    let read_only = optbox::domain::KeyScope::parse(Some("read-lists"), None, None).unwrap();
    let r = api_keys::create_scoped(
        &*app.store,
        &app.api_master,
        "ro",
        &read_only,
        &common::setup(),
    )
    .await
    .unwrap();
    let client = format!(
        "EHLO client.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<news@example.com>\r\nRCPT TO:<a@example.net>\r\nDATA\r\nFrom: news@example.com\r\n\r\nbody\r\n.\r\nQUIT\r\n",
        b64(&format!("\0{}\0{}", r.access_key_id, r.secret_access_key))
    );
    let t = transcript(
        &app.state,
        SmtpSettings::default(),
        "127.0.0.1:2525",
        client.as_bytes(),
    )
    .await;
    assert!(
        t.contains("550 5.7.1 This access key may not send mail."),
        "{t}"
    );
    assert_eq!(app.store.list_mail(None, None, 10).await.unwrap().len(), 1);
    app.stop().await;
}
