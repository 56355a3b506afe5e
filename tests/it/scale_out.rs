//! Scale-out: two optbox instances with no shared state but one PostgreSQL database
//! serve the same data at once — contacts, unsubscribe links, API keys and admin sessions.
//! (Sharing the webhook outbox is tested in tests/webhooks.rs.)
#![cfg(feature = "ssr")]

use crate::common;

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
    let key = api_keys::create(&*a.store, &a.api_master, "scale-out", &common::setup())
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
    api_keys::revoke(&*a.store, &key.access_key_id, &common::setup())
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
        &common::setup(),
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
    let key = api_keys::create(&*a.store, &a.api_master, "dump", &common::setup())
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

/// Row counts of every table of the application, by name.
async fn table_counts(url: &str) -> std::collections::BTreeMap<String, i64> {
    use sqlx::Connection;
    let mut out = std::collections::BTreeMap::new();
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT IN ('_sqlx_migrations', 'tower_sessions')",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        for n in names {
            let k: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{n}\""))
                .fetch_one(&mut c)
                .await
                .unwrap();
            out.insert(n, k);
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        for n in names {
            let k: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{n}\""))
                .fetch_one(&mut c)
                .await
                .unwrap();
            out.insert(n, k);
        }
    }
    out
}

/// Outgrowing SQLite: `optbox copy --to postgres://…` copies a stopped SQLite instance
/// (a row in every kind of table the test can reach) into an empty PostgreSQL database,
/// and an instance on PostgreSQL carries on: the same links, API keys and dashboard
/// session work, and new rows get new ids. A second copy into it is refused in one line.
#[tokio::test]
async fn a_stopped_sqlite_instance_is_copied_into_postgres_and_carries_on() {
    use optbox::server::service::webhooks as wh;
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("small.db").display());
    let url = sqlite_url.clone();
    let a = spawn_with("sqlite", move |s| {
        s.database_url = optbox::server::config::Secret::new(url);
    })
    .await;
    let key = api_keys::create(&*a.store, &a.api_master, "copy", &common::setup())
        .await
        .unwrap();
    let ses = SesClient::new(&a.base, &key.access_key_id, &key.secret_access_key);
    ses.post(
        "/v2/email/contact-lists",
        json!({"ContactListName": "shop", "Topics": [{"TopicName": "news", "DisplayName": "News", "DefaultSubscriptionStatus": "OPT_IN"}]}),
    )
    .await
    .ok();
    ses.post(
        "/v2/email/contact-lists/shop/contacts",
        json!({"EmailAddress": "bob@example.com", "TopicPreferences": [{"TopicName": "news", "SubscriptionStatus": "OPT_OUT"}], "AttributesData": "{\"n\":1}"}),
    )
    .await
    .ok();
    ses.post(
        "/v2/email/contact-lists/shop/contacts",
        json!({"EmailAddress": "kim@example.com", "TopicPreferences": [{"TopicName": "news", "SubscriptionStatus": "OPT_IN"}]}),
    )
    .await
    .ok();
    // A tombstone: an opted-out contact, deleted.
    ses.post(
        "/v2/email/contact-lists/shop/contacts",
        json!({"EmailAddress": "gone@example.com", "UnsubscribeAll": true}),
    )
    .await
    .ok();
    ses.delete("/v2/email/contact-lists/shop/contacts/gone%40example.com")
        .await
        .ok();
    ses.put(
        "/v2/email/suppression/addresses",
        json!({"EmailAddress": "bounced@example.com", "Reason": "BOUNCE"}),
    )
    .await
    .ok();
    ses.post(
        "/v2/email/templates",
        json!({"TemplateName": "hello", "TemplateContent": {"Subject": "Hi {{name}}", "Text": "Hello {{name}}"}}),
    )
    .await
    .ok();
    ses.post(
        "/v2/email/identities",
        json!({"EmailIdentity": "example.com"}),
    )
    .await
    .ok();
    ses.post(
        "/v2/email/configuration-sets",
        json!({"ConfigurationSetName": "marketing"}),
    )
    .await
    .ok();
    wh::add(
        &*a.store,
        optbox::server::events::UrlRules::new(&a.state.settings),
        "https://hooks.example.com/optbox",
        "a webhook secret of some length",
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap();
    ses.post(
        "/v2/email/outbound-emails",
        json!({
            "FromEmailAddress": "news@example.com",
            "Destination": {"ToAddresses": ["carol@example.com"]},
            "Content": {"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}}},
            "ListManagementOptions": {"ContactListName": "shop", "TopicName": "news"},
        }),
    )
    .await
    .ok();
    // The rest of the kinds: a DKIM key, an event destination, an import job, a logo, a
    // failed sign-in, an applied one-click opt-out, the relay's breaker, an erasure.
    optbox::server::service::dkim::generate(
        &*a.store,
        "example.com",
        "s1",
        "ed25519",
        &common::setup(),
    )
    .await
    .unwrap();
    let hooks = a.store.list_webhooks().await.unwrap();
    ses.post(
        "/v2/email/configuration-sets/marketing/event-destinations",
        json!({"EventDestinationName": "hook", "EventDestination": {
            "Enabled": true, "MatchingEventTypes": ["SEND"],
            "SnsDestination": {"TopicArn": format!("arn:aws:sns:us-east-1:000000000000:optbox-webhook-{}", hooks[0].id)}}}),
    )
    .await
    .ok();
    std::fs::create_dir_all(a.import_dir.join("b")).unwrap();
    std::fs::write(
        a.import_dir.join("b/eve.csv"),
        "emailAddress,unsubscribeAll\neve@example.com,\n",
    )
    .unwrap();
    ses.post(
        "/v2/email/import-jobs",
        json!({
            "ImportDestination": {"ContactListDestination": {"ContactListName": "shop", "ContactListImportAction": "PUT"}},
            "ImportDataSource": {"S3Url": "s3://b/eve.csv", "DataFormat": "CSV"}
        }),
    )
    .await
    .ok();
    let shop = a.store.get_list("shop").await.unwrap();
    a.store
        .put_list_logo(shop.id, "image/png", b"\x89PNG not really", "v1")
        .await
        .unwrap();
    a.store
        .set_relay_paused(Some("a test"), &Audit::new(Source::Cli), &[])
        .await
        .unwrap();
    let failed = a
        .client
        .post(a.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", a.url("/admin/login"))
        .form(&[
            ("email", "nobody@example.com"),
            ("password", "wrong password!"),
        ])
        .send()
        .await
        .unwrap();
    assert!(failed.status().is_redirection());
    let frank = recipient::link(
        &*a.store,
        &a.keys,
        &a.base,
        "shop",
        None,
        "frank@example.com",
        &Audit::new(Source::Api),
    )
    .await
    .unwrap();
    let r = a
        .client
        .post(&frank)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    optbox::server::service::privacy::erase(
        &a.store,
        &a.import_dir,
        "bob@example.com",
        &Audit::new(Source::Cli),
    )
    .await
    .unwrap();
    common::dashboard::sign_in(&a, Role::Owner).await;
    assert_eq!(
        a.client.get(a.url("/admin")).send().await.unwrap().status(),
        200
    );
    let link = recipient::link(
        &*a.store,
        &a.keys,
        &a.base,
        "shop",
        Some("news"),
        "dave@example.com",
        &Audit::new(Source::Api),
    )
    .await
    .unwrap();
    // A manage link asked for (a row of `recipient_requests`).
    let r = a
        .client
        .post(a.url("/manage"))
        .form(&[("email", "dave@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The import job and the one-click log's applier finish in the background.
    let mut before = table_counts(&sqlite_url).await;
    for _ in 0..100 {
        let jobs = ses.get("/v2/email/import-jobs").await.ok().clone();
        if jobs["ImportJobs"][0]["JobStatus"] == "COMPLETED" && before.values().all(|n| *n > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        before = table_counts(&sqlite_url).await;
    }
    let empty: Vec<&String> = before
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(t, _)| t)
        .collect();
    assert!(empty.is_empty(), "the test leaves tables empty: {empty:?}");
    let (client, a_base) = (a.client.clone(), a.base.clone());
    // Stop A but keep its database file.
    a.stop().await;

    let pg = common::TestDb::postgres().await;
    let copy = |to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_optbox"))
            .args(["copy", "--to", to])
            .env("OPTBOX_DATABASE_URL", &sqlite_url)
            .output()
            .unwrap()
    };
    // A still stopping holds its one-click log: refused (nothing written) until it is gone.
    let mut out = copy(&pg.url);
    for _ in 0..100 {
        if out.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            err.contains("stop optbox before copying its database"),
            "{err}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        out = copy(&pg.url);
    }
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}{said}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("and 1 sessions into")
            && said.contains("the counts agree")
            && said.contains("the event chain verifies"),
        "{said}"
    );
    // A's shutdown seals its last events: compare with the source as it was copied.
    let before = table_counts(&sqlite_url).await;
    let after = table_counts(&pg.url).await;
    for (t, n) in &before {
        assert_eq!(after.get(t), Some(n), "table {t}");
    }

    // Again into the same database: refused in one line, nothing changed.
    let out = copy(&pg.url);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(table_counts(&pg.url).await, after);

    // An instance on PostgreSQL carries on.
    let pg_url = pg.url.clone();
    let b = spawn_with("sqlite", move |s| {
        s.database_url = optbox::server::config::Secret::new(pg_url);
    })
    .await;
    let ses_b = SesClient::new(&b.base, &key.access_key_id, &key.secret_access_key);
    let c = ses_b
        .get("/v2/email/contact-lists/shop/contacts/eve%40example.com")
        .await;
    assert_eq!(c.ok()["EmailAddress"], "eve@example.com");
    let r = b
        .client
        .post(link.replace(&a_base, &b.base))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a link issued on SQLite works on PostgreSQL"
    );
    let r = client
        .get(format!("{}/admin", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the dashboard session carries over");
    ses_b
        .post(
            "/v2/email/contact-lists",
            json!({"ContactListName": "more", "Topics": []}),
        )
        .await
        .ok();
    ses_b
        .post(
            "/v2/email/contact-lists/more/contacts",
            json!({"EmailAddress": "erin@example.com"}),
        )
        .await
        .ok();
    let history = b
        .store
        .query_events(&optbox::server::store::EventQuery {
            contact: Some("carol@example.com".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        !history.is_empty(),
        "the event log's contact key came along"
    );
    assert_eq!(
        history[0].contact_email.as_deref(),
        Some("carol@example.com")
    );
    b.stop().await;
    pg.cleanup().await;
}
