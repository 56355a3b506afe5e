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

/// PostgreSQL is backed up with its own tools: a `pg_dump` of a database in use, restored
/// with `psql` into an empty one, serves the same lists, contacts, opt-outs, events and
/// API keys; `optbox backup` refuses PostgreSQL with one line naming pg_dump.
#[tokio::test]
async fn a_pg_dump_round_trip_serves_the_same_data() {
    use optbox::domain::{EmailAddress, TopicName};
    let a = spawn_with("postgres", |_| {}).await;
    let list = a
        .store
        .create_list("news", &common::news_list(), None)
        .await
        .unwrap();
    let key = api_keys::create(&*a.store, &a.api_master, "dump")
        .await
        .unwrap();
    let ann = EmailAddress::parse("ann@example.com").unwrap();
    let url = recipient::url_for(
        &a.keys,
        &a.base,
        &list.name,
        Some(TopicName::parse("news").unwrap()),
        &ann,
    );
    let r = a
        .client
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = a
        .store
        .list_events(None, None, None, 100)
        .await
        .unwrap()
        .len();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_optbox"))
        .args(["backup", "/tmp/never-written.db"])
        .env("OPTBOX_DATABASE_URL", &a.db.url)
        .env("OPTBOX_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pg_dump") && err.trim().lines().count() == 1,
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("optbox.sql");
    let st = std::process::Command::new("pg_dump")
        .args(["--no-owner", "-f"])
        .arg(&dump)
        .arg(&a.db.url)
        .status()
        .unwrap();
    assert!(st.success());
    let b_db = common::TestDb::postgres().await;
    let st = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&dump)
        .arg(&b_db.url)
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let url_b = b_db.url.clone();
    let b = spawn_with("sqlite", move |s| {
        s.database_url = optbox::server::config::Secret::new(url_b);
    })
    .await;
    // The same link still answers (the token keys came along), the opt-out is there, and
    // so are the events and the API key.
    let t = b
        .store
        .get_tombstone(&list, &optbox::server::store::email_hash(&ann))
        .await
        .unwrap()
        .expect("the opt-out of an address without a contact");
    assert_eq!(t.opted_out_topics, vec![TopicName::parse("news").unwrap()]);
    assert_eq!(
        b.store
            .list_events(None, None, None, 100)
            .await
            .unwrap()
            .len(),
        events
    );
    let ses = SesClient::new(&b.base, &key.access_key_id, &key.secret_access_key);
    let got = ses.get("/v2/email/contact-lists/news").await;
    assert_eq!(got.ok()["ContactListName"], "news");
    let r = b.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    b.stop().await;
    b_db.cleanup().await;
    a.stop().await;
}
