//! Scale-out: two optbox instances with no shared state but one PostgreSQL database
//! serve the same data at once — contacts, unsubscribe links, API keys and admin sessions.
//! (Sharing the webhook outbox is tested in tests/webhooks.rs.)
#![cfg(feature = "ssr")]

mod common;

use common::ses::SesClient;
use common::{TestApp, spawn_with};
use optbox::server::service::auth::{self, Role};
use optbox::server::service::{api_keys, recipient};
use optbox::server::store::{Audit, Source};
use serde_json::json;

/// Instance A on a fresh PostgreSQL database, and instance B on the same database. In
/// dev mode the keys (token, session, API master) live in the database, so B uses A's.
async fn two_instances() -> (TestApp, TestApp) {
    let a = spawn_with("postgres", |_| {}).await;
    let url = a.db.url.clone();
    let b = spawn_with("sqlite", move |s| {
        s.database_url = optbox::server::config::Secret::new(url);
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn a_change_on_one_instance_is_visible_on_the_other_at_once() {
    let (a, b) = two_instances().await;
    let key = api_keys::create(&*a.store, &a.api_master, "scale-out")
        .await
        .unwrap();
    let ses_a = SesClient::new(&a.base, &key.access_key_id, &key.secret_access_key);
    let ses_b = SesClient::new(&b.base, &key.access_key_id, &key.secret_access_key);

    // A list made through A is listed by B.
    ses_a
        .post(
            "/v2/email/contact-lists",
            json!({"ContactListName": "shop", "Topics": [{"TopicName": "news", "DisplayName": "News", "DefaultSubscriptionStatus": "OPT_IN"}]}),
        )
        .await
        .ok();
    let lists = ses_b.get("/v2/email/contact-lists").await;
    assert_eq!(lists.ok()["ContactLists"][0]["ContactListName"], "shop");

    // A link signed by A is honoured by B, and the opt-out is visible on A at once.
    let url = recipient::link(
        &*a.store,
        &a.keys,
        &a.base,
        "shop",
        Some("news"),
        "ann@example.com",
        &Audit::new(Source::Api),
    )
    .await
    .unwrap();
    let on_b = url.replace(&a.base, &b.base);
    let r = b
        .client
        .post(&on_b)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c = ses_a
        .get("/v2/email/contact-lists/shop/contacts/ann%40example.com")
        .await;
    assert_eq!(
        c.ok()["TopicPreferences"][0]["SubscriptionStatus"],
        "OPT_OUT"
    );

    // A key revoked through one instance is refused by the other on the next request.
    api_keys::revoke(&*a.store, &key.access_key_id)
        .await
        .unwrap();
    let refused = ses_b.get("/v2/email/contact-lists").await;
    assert!(refused.code().is_some(), "B still accepts a revoked key");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn an_admin_session_started_on_one_instance_works_on_the_other() {
    let (a, b) = two_instances().await;
    auth::create_user(
        &*a.store,
        "op@example.com",
        Role::Owner,
        "correct horse battery",
    )
    .await
    .unwrap();
    // One browser (one cookie jar) talking to both instances, as behind a load balancer.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let before = browser.get(b.url("/admin")).send().await.unwrap();
    assert!(
        before.status().is_redirection(),
        "anonymous requests go to the login page"
    );
    let login = browser
        .post(a.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", a.url("/admin/login"))
        .form(&[
            ("email", "op@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_redirection(), "{}", login.status());
    let page = browser.get(b.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200, "the session from A is valid on B");
    assert!(page.text().await.unwrap().contains("op@example.com"));
    // Logging out on B ends the session on A too.
    let out = browser
        .post(b.url("/api/logout"))
        .header("accept", "text/html")
        .header("referer", b.url("/admin"))
        .send()
        .await
        .unwrap();
    assert!(out.status().is_redirection() || out.status().is_success());
    let after = browser.get(a.url("/admin")).send().await.unwrap();
    assert!(after.status().is_redirection(), "signed out everywhere");
    b.stop().await;
    a.stop().await;
}
