//! The operations pages through the server, as plain form POSTs (the no-JavaScript path)
//! with the rendered pages checked, on SQLite and PostgreSQL: API keys (the secret shown
//! once; a revoked key fails SigV4), webhooks against a real HTTP receiver (test
//! delivery, edit, delivery log, replay of a dead letter, delete), users and their role
//! limits, DKIM keys with the TXT record, the one-click self-check, and the development
//! outbox.
#![cfg(feature = "ssr")]

use crate::common;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use common::dashboard::{PASSWORD, form, sign_in};
use common::ses::SesClient;
use common::{TestApp, spawn_app_on, spawn_with};
use optbox::domain::{EmailAddress, ListDefinition};
use optbox::server::service::auth::{self, Role};
use optbox::server::store::{Audit, DeliveryStatus, MailState, NewContact, NewMail, Source};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The text of the element with `id` (up to its first child tag).
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap();
    rest[start..start + end].to_owned()
}

/// GETs a Location: a path (a success redirect) or the full URL of the form with the
/// error (leptos answers a failed form POST with a redirect back to the referer).
async fn open(app: &TestApp, loc: &str) -> String {
    if loc.starts_with("http") {
        app.get_text(loc).await
    } else {
        app.get_text(&app.url(loc)).await
    }
}

/// Whether the self-check item named `name` passed (its `<li>` has class `pass`).
fn check_passes(html: &str, name: &str) -> bool {
    let at = html
        .find(name)
        .unwrap_or_else(|| panic!("no check {name} in {html}"));
    let li = html[..at].rfind("<li class=\"").expect("check item");
    html[li..].starts_with("<li class=\"pass\"")
}

/// A second signed-in client for another user.
async fn client_for(app: &TestApp, email: &str, role: Role) -> reqwest::Client {
    auth::create_user(&*app.store, email, role, PASSWORD, &common::setup())
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let r = c
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/admin/login"))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/admin");
    c
}

async fn post_as(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> StatusCode {
    c.post(app.url(path))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .header("referer", app.url("/admin"))
        .form(fields)
        .send()
        .await
        .unwrap()
        .status()
}

async fn api_keys_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    sign_in(&app, Role::Admin).await;
    let html = app.get_text(&app.url("/admin/keys")).await;
    assert!(html.contains("No API keys yet."), "{html}");

    // The form's POST answers with the secret itself (nothing is kept to show later).
    let r = app
        .client
        .post(app.url("/admin/keys/new"))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .form(&[("description", "newsletter sender")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let id = text_of(&html, "new-key-id");
    let secret = text_of(&html, "new-key-secret");
    assert!(id.starts_with("OBX") && id.len() == 20, "{id}");
    assert_eq!(secret.len(), 40, "{secret}");
    // Shown once: the page's address has nothing to show again, and the list never
    // shows the secret.
    let again = app
        .client
        .get(app.url("/admin/keys/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["location"], "/admin/keys");
    let list = app.get_text(&app.url("/admin/keys")).await;
    assert!(
        list.contains(&id) && list.contains("newsletter sender"),
        "{list}"
    );
    assert!(!list.contains(&secret));

    // The key works over SigV4 …
    let ses = SesClient::new(&app.base, &id, &secret);
    ses.get("/v2/email/contact-lists").await.ok();
    // … until it is revoked on the page.
    form(
        &app,
        "/api/revoke_api_key",
        "/admin/keys",
        &[("access_key_id", id.as_str())],
    )
    .await;
    ses.get("/v2/email/contact-lists")
        .await
        .err(403, "InvalidClientTokenId");
    let list = app.get_text(&app.url("/admin/keys")).await;
    assert!(
        !list.contains(&format!("Revoke key {id}")),
        "no second revoke"
    );
    // Revoking again is a clear error.
    let loc = form(
        &app,
        "/api/revoke_api_key",
        "/admin/keys",
        &[("access_key_id", id.as_str())],
    )
    .await;
    assert!(loc.contains("__err="), "{loc}");
    let html = open(&app, &loc).await;
    assert!(html.contains(&format!("no active API key {id}")), "{html}");

    // A viewer sees the keys but cannot create one.
    let viewer = client_for(&app, "v@example.com", Role::Viewer).await;
    let page = viewer
        .get(app.url("/admin/keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&id) && !page.contains("Create key"), "{page}");
    assert_eq!(
        post_as(&viewer, &app, "/admin/keys/new", &[("description", "x")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.store.list_api_keys().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn api_keys_on_sqlite() {
    api_keys_flow("sqlite").await;
}

#[tokio::test]
async fn api_keys_on_postgres() {
    api_keys_flow("postgres").await;
}

/// A real HTTP receiver: records each body and its signature header, answers `answer`.
#[derive(Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    answer: Arc<AtomicU16>,
    addr: SocketAddr,
}

async fn receive(State(r): State<Receiver>, req: Request) -> StatusCode {
    let sig = req
        .headers()
        .get("optbox-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap();
    let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    r.hits.lock().unwrap().push((sig, v));
    StatusCode::from_u16(r.answer.load(Ordering::SeqCst)).unwrap()
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            hits: Default::default(),
            answer: Arc::new(AtomicU16::new(200)),
            addr: listener.local_addr().unwrap(),
        };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        r
    }
    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
    fn hits(&self) -> Vec<(String, serde_json::Value)> {
        self.hits.lock().unwrap().clone()
    }
}

const SECRET: &str = "0123456789abcdef-secret";

async fn webhooks_flow(backend: &str) {
    let app = spawn_with(backend, |s| {
        // The receiver listens on 127.0.0.1.
        s.webhooks.webhook_allow_private = true;
        s.webhooks.webhook_timeout_ms = 1_000;
        s.webhooks.webhook_retry_base_ms = 100;
        s.webhooks.webhook_retry_max_ms = 200;
        s.webhooks.webhook_poll_ms = 20;
        s.webhooks.webhook_retry_window_secs = 1;
    })
    .await;
    sign_in(&app, Role::Admin).await;
    let r = Receiver::start().await;
    let html = app.get_text(&app.url("/admin/webhooks")).await;
    assert!(html.contains("No webhooks yet."), "{html}");

    // Bad input comes back to the form with a clear message.
    let loc = form(
        &app,
        "/api/save_webhook",
        "/admin/webhooks",
        &[
            ("id", ""),
            ("url", "ftp://x.example"),
            ("secret", SECRET),
            ("events", ""),
            ("list", ""),
        ],
    )
    .await;
    let html = open(&app, &loc).await;
    assert!(
        html.contains("must start with http:// or https://"),
        "{html}"
    );

    let url = r.url();
    let loc = form(
        &app,
        "/api/save_webhook",
        "/admin/webhooks",
        &[
            ("id", ""),
            ("url", url.as_str()),
            ("secret", SECRET),
            ("events", ""),
            ("list", ""),
        ],
    )
    .await;
    let id = app.store.list_webhooks().await.unwrap()[0].id;
    assert_eq!(loc, format!("/admin/webhooks/{id}?saved=1"));
    let page = format!("/admin/webhooks/{id}");
    let html = open(&app, &loc).await;
    assert!(
        html.contains(&url) && html.contains("Webhook saved."),
        "{html}"
    );
    assert!(html.contains("No deliveries yet."), "{html}");

    // Send a test: the receiver gets a signed sample event, the page shows the status.
    let loc = form(&app, "/api/test_webhook", &page, &[("id", &id.to_string())]).await;
    assert_eq!(loc, format!("{page}?tested=200"));
    let html = open(&app, &loc).await;
    assert!(html.contains("the receiver answered HTTP 200"), "{html}");
    let hits = r.hits();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].0.starts_with("t=") && hits[0].0.contains(",v1="));
    assert!(
        hits[0].1["eventId"].as_str().unwrap().starts_with("test-"),
        "{:?}",
        hits[0].1
    );
    // A failing receiver: the test reports the failure.
    r.answer.store(500, Ordering::SeqCst);
    let loc = form(&app, "/api/test_webhook", &page, &[("id", &id.to_string())]).await;
    assert!(loc.contains("__err="), "{loc}");
    let html = open(&app, &loc).await;
    assert!(html.contains("test delivery failed"), "{html}");

    // Edit: only contact.created; an empty secret keeps the old one.
    form(
        &app,
        "/api/save_webhook",
        &page,
        &[
            ("id", &id.to_string()),
            ("url", url.as_str()),
            ("secret", ""),
            ("events", "contact.created"),
            ("list", ""),
        ],
    )
    .await;
    let hook = app.store.get_webhook(id).await.unwrap();
    assert_eq!(hook.event_types, ["contact.created"]);
    assert_eq!(hook.secret, SECRET);

    // A delivery the receiver refuses for the whole retry window is dead-lettered and
    // shown in the log …
    let list = app
        .store
        .create_list("news", &ListDefinition::default(), None)
        .await
        .unwrap();
    app.store
        .create_contact(
            &list,
            &NewContact {
                email: EmailAddress::parse("ann@example.com").unwrap(),
                unsubscribe_all: false,
                preferences: vec![],
                attributes: String::new(),
            },
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
    let t = Instant::now();
    let dead = loop {
        let dead = app
            .store
            .list_deliveries(id, Some(DeliveryStatus::Dead), None, 10)
            .await
            .unwrap();
        if let Some(d) = dead.first() {
            break d.clone();
        }
        assert!(t.elapsed() < Duration::from_secs(15), "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let html = app.get_text(&app.url(&page)).await;
    assert!(html.contains("delivery-dead"), "{html}");
    assert!(
        html.contains(&format!("Replay delivery {}", dead.id)),
        "{html}"
    );
    // … and replayed from the page once the receiver is back.
    r.answer.store(200, Ordering::SeqCst);
    let before = r.hits().len();
    let loc = form(
        &app,
        "/api/replay_delivery",
        &page,
        &[("id", &id.to_string()), ("delivery", &dead.id.to_string())],
    )
    .await;
    assert_eq!(loc, format!("{page}?replayed=1"));
    let t = Instant::now();
    loop {
        let d = app.store.list_deliveries(id, None, None, 10).await.unwrap();
        if d.iter()
            .any(|x| x.id == dead.id && x.status == DeliveryStatus::Delivered)
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "replay not delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = r.hits();
    assert!(hits.len() > before);
    assert_eq!(
        hits.last().unwrap().1["optbox"]["kind"],
        "contact.created",
        "{:?}",
        hits.last()
    );
    let html = app.get_text(&app.url(&page)).await;
    assert!(html.contains("delivery-delivered"), "{html}");
    // Nothing dead is left to replay: a clear message.
    let loc = form(
        &app,
        "/api/replay_delivery",
        &page,
        &[("id", &id.to_string()), ("delivery", "")],
    )
    .await;
    let html = open(&app, &loc).await;
    assert!(html.contains("nothing to replay"), "{html}");

    // A viewer reads the log but cannot send tests or delete.
    let viewer = client_for(&app, "v@example.com", Role::Viewer).await;
    let page_html = viewer
        .get(app.url(&page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page_html.contains("delivery-delivered"));
    assert!(!page_html.contains("Send a test event") && !page_html.contains("Delete webhook"));
    assert_eq!(
        post_as(
            &viewer,
            &app,
            "/api/delete_webhook",
            &[("id", &id.to_string())]
        )
        .await,
        StatusCode::FORBIDDEN
    );

    // Delete.
    let loc = form(
        &app,
        "/api/delete_webhook",
        &page,
        &[("id", &id.to_string())],
    )
    .await;
    assert_eq!(loc, "/admin/webhooks");
    assert!(app.store.list_webhooks().await.unwrap().is_empty());
    let html = app.get_text(&app.url(&page)).await;
    assert!(html.contains(&format!("no webhook with id {id}")), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn webhooks_on_sqlite() {
    webhooks_flow("sqlite").await;
}

#[tokio::test]
async fn webhooks_on_postgres() {
    webhooks_flow("postgres").await;
}

async fn users_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    sign_in(&app, Role::Owner).await;
    let me = app
        .store
        .get_user_by_email("owner@example.com")
        .await
        .unwrap();
    let html = app.get_text(&app.url("/admin/users")).await;
    assert!(
        html.contains("owner@example.com") && html.contains("(you)"),
        "{html}"
    );

    // Bad input: a short password.
    let loc = form(
        &app,
        "/api/add_user",
        "/admin/users",
        &[
            ("email", "ann@example.com"),
            ("role", "admin"),
            ("password", "short"),
        ],
    )
    .await;
    let html = open(&app, &loc).await;
    assert!(html.contains("at least 12 characters"), "{html}");

    form(
        &app,
        "/api/add_user",
        "/admin/users",
        &[
            ("email", "ann@example.com"),
            ("role", "admin"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let ann = app
        .store
        .get_user_by_email("ann@example.com")
        .await
        .unwrap();
    assert_eq!(ann.role, "admin");
    // The new user can sign in with the initial password.
    auth::authenticate(&*app.store, "ann@example.com", PASSWORD, "ip")
        .await
        .unwrap();

    // Role limits: the last owner is neither demoted nor removed, nobody removes
    // themselves.
    let loc = form(
        &app,
        "/api/set_user_role",
        "/admin/users",
        &[("id", &me.id.to_string()), ("role", "viewer")],
    )
    .await;
    let html = open(&app, &loc).await;
    assert!(html.contains("the last owner cannot be demoted"), "{html}");
    let loc = form(
        &app,
        "/api/delete_user",
        "/admin/users",
        &[("id", &me.id.to_string())],
    )
    .await;
    let html = open(&app, &loc).await;
    assert!(html.contains("you cannot remove yourself"), "{html}");
    assert_eq!(
        app.store.get_user(me.id).await.unwrap().role,
        "owner",
        "unchanged"
    );

    // An admin sees the users but manages none.
    let admin = client_for(&app, "adm@example.com", Role::Admin).await;
    let page = admin
        .get(app.url("/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("ann@example.com") && page.contains("Only owners manage users."));
    assert!(!page.contains("Add a user"));
    assert_eq!(
        post_as(
            &admin,
            &app,
            "/api/set_user_role",
            &[("id", &me.id.to_string()), ("role", "viewer")]
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // A viewer may not even list them.
    let viewer = client_for(&app, "v@example.com", Role::Viewer).await;
    let page = viewer
        .get(app.url("/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("does not allow this"), "{page}");
    assert!(!page.contains("ann@example.com"));

    // The owner changes a role and removes a user.
    form(
        &app,
        "/api/set_user_role",
        "/admin/users",
        &[("id", &ann.id.to_string()), ("role", "owner")],
    )
    .await;
    assert_eq!(app.store.get_user(ann.id).await.unwrap().role, "owner");
    form(
        &app,
        "/api/delete_user",
        "/admin/users",
        &[("id", &ann.id.to_string())],
    )
    .await;
    assert!(app.store.get_user(ann.id).await.is_err());
    let html = app.get_text(&app.url("/admin/users")).await;
    assert!(!html.contains("ann@example.com"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn users_on_sqlite() {
    users_flow("sqlite").await;
}

#[tokio::test]
async fn users_on_postgres() {
    users_flow("postgres").await;
}

async fn settings_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    sign_in(&app, Role::Admin).await;
    let html = app.get_text(&app.url("/admin/settings")).await;
    assert!(html.contains("No DKIM keys yet"), "{html}");
    assert!(
        html.contains("not set — links use http://127.0.0.1:"),
        "{html}"
    );

    // Before any key: the self-check on plain HTTP fails HTTPS and DKIM, while the POST
    // reaches this instance.
    let check = app.get_text(&app.url("/admin/settings/check")).await;
    assert!(
        check.contains("Not yet: fix the failing checks below."),
        "{check}"
    );
    assert!(check.contains("public_url is not set"), "{check}");
    assert!(check.contains("there is no DKIM key"), "{check}");
    assert!(check_passes(
        &check,
        "A POST to a one-click link reaches optbox"
    ));
    assert!(!check_passes(
        &check,
        "DKIM signs the List-Unsubscribe headers"
    ));
    assert!(
        check.contains("answered HTTP 404 from optbox&#x27;s one-click handler")
            || check.contains("answered HTTP 404 from optbox's one-click handler"),
        "{check}"
    );

    // Bad input.
    let loc = form(
        &app,
        "/api/generate_dkim",
        "/admin/settings",
        &[
            ("domain", "not a domain"),
            ("selector", "s1"),
            ("algorithm", "ed25519"),
        ],
    )
    .await;
    let html = open(&app, &loc).await;
    assert!(html.contains("is not a valid DNS name"), "{html}");

    form(
        &app,
        "/api/generate_dkim",
        "/admin/settings",
        &[
            ("domain", "Example.COM"),
            ("selector", "s1"),
            ("algorithm", "ed25519"),
        ],
    )
    .await;
    let html = app.get_text(&app.url("/admin/settings")).await;
    assert!(html.contains("s1._domainkey.example.com"), "{html}");
    let txt = text_of(&html, "dkim-txt-0");
    assert!(txt.starts_with("v=DKIM1; k=ed25519; p="), "{txt}");

    // Now DKIM passes: the signature covers both List-Unsubscribe headers. HTTPS still
    // fails, so the verdict is still "not yet".
    let check = app
        .get_text(&app.url("/admin/settings/check?domain=example.com"))
        .await;
    assert!(
        check_passes(&check, "DKIM signs the List-Unsubscribe headers"),
        "{check}"
    );
    assert!(!check_passes(&check, "Links use HTTPS"));
    assert!(
        check.contains("List-Unsubscribe:List-Unsubscribe-Post")
            || (check.contains("List-Unsubscribe") && check.contains("List-Unsubscribe-Post")),
        "{check}"
    );
    assert!(check.contains("Not yet"), "{check}");
    // A domain without a key fails.
    let check = app
        .get_text(&app.url("/admin/settings/check?domain=other.example"))
        .await;
    assert!(
        check.contains("there is no DKIM key for other.example"),
        "{check}"
    );

    // A viewer reads the settings but cannot generate keys.
    let viewer = client_for(&app, "v@example.com", Role::Viewer).await;
    assert_eq!(
        post_as(
            &viewer,
            &app,
            "/api/generate_dkim",
            &[
                ("domain", "v.example"),
                ("selector", "s"),
                ("algorithm", "ed25519")
            ]
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.store.list_dkim_keys().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn settings_dkim_and_self_check_on_sqlite() {
    settings_flow("sqlite").await;
}

#[tokio::test]
async fn settings_dkim_and_self_check_on_postgres() {
    settings_flow("postgres").await;
}

#[tokio::test]
async fn self_check_on_https_passes_the_https_check() {
    // public_url on https (nothing listens there: the POST check fails with a reason).
    let app = spawn_with("sqlite", |s| {
        s.public_url = Some("https://127.0.0.1:9".into());
    })
    .await;
    sign_in(&app, Role::Viewer).await;
    let check = app.get_text(&app.url("/admin/settings/check")).await;
    assert!(check_passes(&check, "Links use HTTPS"), "{check}");
    assert!(!check_passes(
        &check,
        "A POST to a one-click link reaches optbox"
    ));
    assert!(
        check.contains("public_url is https://127.0.0.1:9"),
        "{check}"
    );
    assert!(
        check.contains("POST https://127.0.0.1:9/u/… failed"),
        "{check}"
    );
    app.stop().await;
}

async fn outbox_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    sign_in(&app, Role::Viewer).await;
    let html = app.get_text(&app.url("/admin/outbox")).await;
    assert!(html.contains("The outbox is empty."), "{html}");
    let data = b"From: news@example.com\r\nTo: ann@example.com\r\nSubject: Hello <world>\r\n\r\nFirst line\r\nSecond line\r\n".to_vec();
    let ids = app
        .store
        .enqueue_mail(&[NewMail {
            send_id: 1,
            message_id: "m1@example.com".into(),
            mail_from: "news@example.com".into(),
            rcpt: "ann@example.com".into(),
            data,
            state: MailState::Outbox,
            send: Default::default(),
        }])
        .await
        .unwrap();
    let html = app.get_text(&app.url("/admin/outbox")).await;
    assert!(html.contains("ann@example.com"), "{html}");
    let href = format!("/admin/outbox/{}", ids[0]);
    assert!(html.contains(&href), "{html}");
    let msg = app.get_text(&app.url(&href)).await;
    assert!(msg.contains("Subject: Hello &lt;world&gt;"), "{msg}");
    assert!(msg.contains("First line\nSecond line"), "{msg}");
    let missing = app.get_text(&app.url("/admin/outbox/999999")).await;
    assert!(
        missing.contains("there is no message 999999 in the outbox"),
        "{missing}"
    );
    app.stop().await;
}

#[tokio::test]
async fn outbox_on_sqlite() {
    outbox_flow("sqlite").await;
}

#[tokio::test]
async fn outbox_on_postgres() {
    outbox_flow("postgres").await;
}

#[tokio::test]
async fn the_outbox_is_closed_when_a_relay_is_configured() {
    let app = spawn_with("sqlite", |s| {
        s.relay_url = Some(optbox::server::config::Secret::new("smtp://127.0.0.1:9"));
    })
    .await;
    sign_in(&app, Role::Owner).await;
    let html = app.get_text(&app.url("/admin/outbox")).await;
    assert!(html.contains("a relay is configured"), "{html}");
    app.stop().await;
}

async fn relay_breaker_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    let viewer = client_for(&app, "viewer@example.com", Role::Viewer).await;
    sign_in(&app, Role::Admin).await;
    let html = app.get_text(&app.url("/admin")).await;
    assert!(
        !html.contains("relay-paused"),
        "nothing to say while it runs"
    );
    app.store
        .set_relay_paused(
            Some("120 of the last 200 deliveries failed permanently"),
            &Audit::new(Source::Report),
            &[],
        )
        .await
        .unwrap();
    let html = app.get_text(&app.url("/admin")).await;
    assert!(html.contains("id=\"relay-paused\""), "{html}");
    assert!(html.contains("The relay is paused"), "{html}");
    assert!(html.contains("120 of the last 200 deliveries failed permanently"));
    // A viewer sees it but cannot resume.
    assert!(
        viewer
            .get(app.url("/admin"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("relay-paused")
    );
    assert_eq!(
        post_as(&viewer, &app, "/api/resume_relay", &[]).await,
        StatusCode::FORBIDDEN
    );
    assert!(app.store.relay_paused().await.unwrap().is_some());
    // An admin resumes it from the form, and the event names them.
    assert_eq!(
        form(&app, "/api/resume_relay", "/admin", &[]).await,
        "/admin"
    );
    assert!(app.store.relay_paused().await.unwrap().is_none());
    let ev = app
        .store
        .query_events(&optbox::server::store::EventQuery {
            kind: Some("relay.resumed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].actor.as_deref(), Some("user"));
    let html = app.get_text(&app.url("/admin")).await;
    assert!(!html.contains("relay-paused"));
    app.stop().await;
}

#[tokio::test]
async fn relay_breaker_on_sqlite() {
    relay_breaker_flow("sqlite").await;
}

#[tokio::test]
async fn relay_breaker_on_postgres() {
    relay_breaker_flow("postgres").await;
}

#[tokio::test]
async fn the_dashboard_creates_a_scoped_key() {
    let app = spawn_app_on("sqlite").await;
    sign_in(&app, Role::Admin).await;
    let r = app
        .client
        .post(app.url("/admin/keys/new"))
        .header("origin", &app.base)
        .header("referer", app.url("/admin/keys"))
        .form(&[
            ("description", "newsletter"),
            ("allow_send", "1"),
            ("allow_read_lists", "1"),
            ("lists", "news, offers"),
            ("identities", "Example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("new-key-secret"), "{html}");
    let keys = app.store.list_api_keys().await.unwrap();
    let scope = optbox::server::service::api_keys::scope_of(&keys[0]).unwrap();
    assert_eq!(
        scope.describe(),
        "allow=send,read-lists lists=news,offers identities=example.com"
    );
    let page = app.get_text(&app.url("/admin/keys")).await;
    assert!(
        page.contains("allow=send,read-lists lists=news,offers identities=example.com"),
        "{page}"
    );
    // An unscoped key shows "all"; a bad permission is refused with a reason.
    let r = app
        .client
        .post(app.url("/admin/keys/new"))
        .header("origin", &app.base)
        .header("referer", app.url("/admin/keys"))
        .form(&[("description", "everything")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = app.get_text(&app.url("/admin/keys")).await;
    assert!(page.contains(">all<"), "{page}");
    app.stop().await;
}
