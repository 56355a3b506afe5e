//! The event log page and its CSV download: filters, paging to older events, the CSV's
//! rows and escaping, refusals — on SQLite and PostgreSQL.
#![cfg(feature = "ssr")]

use crate::common;

use common::dashboard::{form, sign_in};
use common::spawn_app_on;
use optbox::domain::{EmailAddress, SubscriptionStatus};
use optbox::server::service::auth::Role;
use optbox::server::store::{
    Audit, ContactChange, EventQuery, EventRecord, NewContact, PrefMode, Source,
};

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

async fn events_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    let audit = Audit::new(Source::Api);
    for i in 0..60 {
        let email = EmailAddress::parse(&format!("e{i:02}@example.com")).unwrap();
        app.store
            .create_contact(
                &list,
                &NewContact {
                    email: email.clone(),
                    unsubscribe_all: false,
                    preferences: vec![],
                    attributes: String::new(),
                },
                &audit,
            )
            .await
            .unwrap();
        if i < 3 {
            let change = ContactChange {
                unsubscribe_all: None,
                preferences: Some((
                    PrefMode::Merge,
                    vec![(
                        optbox::domain::TopicName::parse("offers").unwrap(),
                        SubscriptionStatus::OptIn,
                    )],
                )),
                attributes: None,
            };
            app.store
                .update_contact(&list, &email, &change, &audit)
                .await
                .unwrap();
        }
    }
    // Anonymous: the page and the download go to the login page.
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/admin/events", "/admin/events.csv"] {
        let r = anon.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["location"], "/admin/login", "{path}");
    }
    sign_in(&app, Role::Viewer).await;

    let html = app.get_text(&app.url("/admin/events")).await;
    assert_eq!(count(&html, "<tr>"), 51, "a header and one page of 50");
    assert_eq!(
        count(&html, "<td>contact.created</td>"),
        49,
        "the newest is the viewer's user.created"
    );
    assert!(html.contains(r#"id="older""#));
    let html = app
        .get_text(&app.url("/admin/events?kind=subscription"))
        .await;
    assert_eq!(count(&html, "<td>subscription</td>"), 3, "{html}");
    assert!(!html.contains(r#"id="older""#));
    let html = app
        .get_text(&app.url("/admin/events?contact=e01%40example.com"))
        .await;
    assert_eq!(count(&html, "<tr>"), 3, "header + created + subscription");
    let html = app
        .get_text(&app.url("/admin/events?since=2000-13-01"))
        .await;
    assert!(
        html.contains("the from date must look like 2026-11-25"),
        "{html}"
    );
    let html = app
        .get_text(&app.url("/admin/events?until=2001-01-01"))
        .await;
    assert!(html.contains("No events match."));

    // CSV: the same filters, every row.
    let r = app
        .client
        .get(app.url("/admin/events.csv?list=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,created_at,kind,source,list"));
    // 60 created + 3 subscription + the demo list's and its contact's creation.
    assert_eq!(lines.len() - 1, 65, "{csv}");
    let csv = app
        .get_text(&app.url("/admin/events.csv?kind=subscription"))
        .await;
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.contains("OPT_IN") || csv.contains("OptIn"), "{csv}");
    let r = app
        .client
        .get(app.url("/admin/events.csv?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn the_event_log_filters_pages_and_exports_on_sqlite() {
    events_flow("sqlite").await;
}

#[tokio::test]
async fn the_event_log_filters_pages_and_exports_on_postgres() {
    events_flow("postgres").await;
}

/// The event log's CSV neutralises cells a spreadsheet would run, with the same function
/// as the contacts export (here a valid address that reads as a formula).
#[tokio::test]
async fn the_event_log_csv_neutralises_formula_cells() {
    let app = spawn_app_on("sqlite").await;
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    for e in ["=1+2@example.com", "-2+3@example.com"] {
        app.store
            .create_contact(
                &list,
                &NewContact {
                    email: EmailAddress::parse(e).unwrap(),
                    unsubscribe_all: false,
                    preferences: vec![],
                    attributes: String::new(),
                },
                &Audit::new(Source::Api),
            )
            .await
            .unwrap();
    }
    sign_in(&app, Role::Viewer).await;
    let csv = app
        .get_text(&app.url("/admin/events.csv?kind=contact.created"))
        .await;
    for e in ["=1+2@example.com", "-2+3@example.com"] {
        let cell = optbox::domain::spreadsheet::neutralise(e);
        assert_eq!(cell, format!("'{e}"));
        assert!(csv.contains(&format!(",{cell},")), "{csv}");
        assert!(!csv.contains(&format!(",{e},")), "{csv}");
    }
    app.stop().await;
}

/// Events of `kind`, oldest first.
async fn events_of(app: &common::TestApp, kind: &str) -> Vec<EventRecord> {
    let q = EventQuery {
        kind: Some(kind.into()),
        limit: 100,
        ..Default::default()
    };
    let mut v = app.store.query_events(&q).await.unwrap();
    v.reverse();
    v
}

fn detail(e: &EventRecord) -> serde_json::Value {
    serde_json::from_str(&e.detail).unwrap()
}

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

const HOOK_SECRET: &str = "a webhook secret of 32 characters";
const HOOK_SECRET_2: &str = "another webhook secret, rotated";

/// Every configuration change made on the dashboard (lists and their topics, API keys,
/// users, webhooks, DKIM keys) is an event naming the signed-in user, with the client's
/// IP hash, and no event holds a secret.
async fn configuration_changes_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    sign_in(&app, Role::Owner).await;
    let me = app
        .store
        .get_user_by_email("owner@example.com")
        .await
        .unwrap();
    let back = "/admin/lists";

    // A list, its details, a topic added, changed and removed, and the list removed.
    form(
        &app,
        "/api/create_list",
        back,
        &[("name", "news"), ("description", "The news")],
    )
    .await;
    let details = |description: &'static str| {
        vec![
            ("name", "news"),
            ("description", description),
            ("display_name", "News"),
            ("accent_color", ""),
            ("privacy_url", ""),
            ("footer_text", ""),
            ("default_language", ""),
        ]
    };
    form(&app, "/api/save_list", back, &details("Weekly news")).await;
    let topic = |display: &'static str| {
        vec![
            ("list", "news"),
            ("topic", "weekly"),
            ("display_name", display),
            ("description", ""),
            ("default_status", "OPT_IN"),
        ]
    };
    form(&app, "/api/save_topic", back, &topic("Weekly")).await;
    form(&app, "/api/save_topic", back, &topic("Every week")).await;
    // Saving what is there changes nothing and logs nothing.
    form(&app, "/api/save_topic", back, &topic("Every week")).await;
    form(
        &app,
        "/api/delete_topic",
        back,
        &[("list", "news"), ("topic", "weekly")],
    )
    .await;

    // An API key, created on its form and revoked.
    let r = app
        .client
        .post(app.url("/admin/keys/new"))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .form(&[("description", "newsletter sender"), ("allow_send", "on")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    let key_id = text_of(&html, "new-key-id");
    let key_secret = text_of(&html, "new-key-secret");
    assert_eq!(key_secret.len(), 40, "{html}");
    form(
        &app,
        "/api/revoke_api_key",
        "/admin/keys",
        &[("access_key_id", key_id.as_str())],
    )
    .await;

    // A user added, given another role and removed.
    let users = "/admin/users";
    form(
        &app,
        "/api/add_user",
        users,
        &[
            ("email", "ann@example.com"),
            ("role", "viewer"),
            ("password", common::dashboard::PASSWORD),
        ],
    )
    .await;
    let ann = app
        .store
        .get_user_by_email("ann@example.com")
        .await
        .unwrap();
    let ann_id = ann.id.to_string();
    form(
        &app,
        "/api/set_user_role",
        users,
        &[("id", &ann_id), ("role", "admin")],
    )
    .await;
    form(&app, "/api/delete_user", users, &[("id", &ann_id)]).await;

    // A webhook whose URL carries a token, its secret rotated, then removed.
    let hooks = "/admin/webhooks";
    let hook_url = "https://hooks.example.com/services/T0KEN-IN-PATH?sig=QUERYTOKEN";
    form(
        &app,
        "/api/save_webhook",
        hooks,
        &[
            ("id", ""),
            ("url", hook_url),
            ("secret", HOOK_SECRET),
            ("events", ""),
            ("list", ""),
        ],
    )
    .await;
    let hook_id = app.store.list_webhooks().await.unwrap()[0].id.to_string();
    form(
        &app,
        "/api/save_webhook",
        hooks,
        &[
            ("id", &hook_id),
            ("url", hook_url),
            ("secret", HOOK_SECRET_2),
            ("events", "list.created,subscription"),
            ("list", ""),
        ],
    )
    .await;
    form(&app, "/api/delete_webhook", hooks, &[("id", &hook_id)]).await;

    // A DKIM key; then the list goes.
    form(
        &app,
        "/api/generate_dkim",
        "/admin/settings",
        &[
            ("domain", "example.com"),
            ("selector", "s1"),
            ("algorithm", "ed25519"),
        ],
    )
    .await;
    form(
        &app,
        "/api/delete_list",
        back,
        &[("name", "news"), ("confirm", "news")],
    )
    .await;

    let kinds = [
        ("list.created", 1),
        ("list.updated", 4),
        ("list.deleted", 1),
        ("api_key.created", 1),
        ("api_key.revoked", 1),
        ("user.created", 1),
        ("user.role_changed", 1),
        ("user.deleted", 1),
        ("webhook.created", 1),
        ("webhook.updated", 1),
        ("webhook.deleted", 1),
        ("dkim.generated", 1),
    ];
    let mut all = Vec::new();
    for (kind, n) in kinds {
        let mut evs = events_of(&app, kind).await;
        // The signed-in owner was set up at the command line.
        if kind == "user.created" {
            evs.retain(|e| e.actor.as_deref() != Some("cli"));
        }
        assert_eq!(evs.len(), n, "{kind}: {evs:?}");
        for e in &evs {
            assert_eq!(e.actor.as_deref(), Some("user"), "{e:?}");
            assert_eq!(e.actor_id, Some(me.id.to_string()), "{e:?}");
            assert_eq!(e.source.as_deref(), Some("Admin"), "{e:?}");
            assert!(e.ip_hash.is_some(), "{e:?}");
        }
        all.extend(evs);
    }
    let one = |kind: &str| all.iter().find(|e| e.kind == kind).unwrap().clone();

    let e = one("list.created");
    assert_eq!(e.list_name.as_deref(), Some("news"));
    assert_eq!(detail(&e)["description"], "The news");
    let updates: Vec<&EventRecord> = all.iter().filter(|e| e.kind == "list.updated").collect();
    let d = detail(updates[0]);
    assert_eq!(
        d["description"],
        serde_json::json!({"from": "The news", "to": "Weekly news"})
    );
    assert_eq!(d["branding"], serde_json::json!(["display_name"]));
    assert_eq!(updates[1].topic_name.as_deref(), Some("weekly"));
    assert_eq!(
        detail(updates[1])["topics_added"],
        serde_json::json!(["weekly"])
    );
    assert_eq!(
        detail(updates[2])["topics_changed"],
        serde_json::json!(["weekly"])
    );
    assert_eq!(
        detail(updates[3])["topics_removed"],
        serde_json::json!(["weekly"])
    );
    assert!(
        updates
            .iter()
            .all(|e| e.list_name.as_deref() == Some("news"))
    );
    assert_eq!(detail(&one("list.deleted"))["name"], "news");

    let d = detail(&one("api_key.created"));
    assert_eq!(d["access_key_id"], key_id.as_str());
    assert_eq!(d["description"], "newsletter sender");
    assert_eq!(d["scope"], "allow=send");
    let d = detail(&one("api_key.revoked"));
    assert_eq!(d["access_key_id"], key_id.as_str());

    let d = detail(&one("user.created"));
    assert_eq!(
        d,
        serde_json::json!({"user_id": ann.id, "email": "ann@example.com", "role": "viewer"})
    );
    let d = detail(&one("user.role_changed"));
    assert_eq!(
        (&d["from"], &d["role"]),
        (&"viewer".into(), &"admin".into())
    );
    assert_eq!(d["user_id"], ann.id);
    assert_eq!(detail(&one("user.deleted"))["email"], "ann@example.com");

    let d = detail(&one("webhook.created"));
    assert_eq!(d["id"].to_string(), hook_id);
    assert_eq!(d["origin"], "https://hooks.example.com");
    let d = detail(&one("webhook.updated"));
    assert_eq!(d["changed"], serde_json::json!(["secret", "events"]));
    assert_eq!(
        d["events"],
        serde_json::json!(["list.created", "subscription"])
    );
    assert_eq!(detail(&one("webhook.deleted"))["id"].to_string(), hook_id);

    let d = detail(&one("dkim.generated"));
    assert_eq!(
        d,
        serde_json::json!({"domain": "example.com", "selector": "s1", "algorithm": "ed25519"})
    );

    // No secret in the log: not the key's secret, the webhook's secrets or the token in
    // its URL, the password or its hash, nor the DKIM private key.
    let dkim = app.store.list_dkim_keys().await.unwrap();
    let private = &dkim[0].private_key;
    let log = app
        .store
        .query_events(&EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let text = serde_json::to_string(&log).unwrap();
    use base64::Engine;
    for secret in [
        key_secret.clone(),
        HOOK_SECRET.to_owned(),
        HOOK_SECRET_2.to_owned(),
        "T0KEN-IN-PATH".to_owned(),
        "QUERYTOKEN".to_owned(),
        common::dashboard::PASSWORD.to_owned(),
        ann.password_hash.clone(),
        base64::engine::general_purpose::STANDARD.encode(private),
        private.iter().map(|b| format!("{b:02x}")).collect(),
    ] {
        assert!(!text.contains(&secret), "{secret} in {text}");
    }

    // The event page filters by the new kinds.
    let html = app
        .get_text(&app.url("/admin/events?kind=list.updated"))
        .await;
    assert_eq!(count(&html, "<td>list.updated</td>"), 4, "{html}");
    app.stop().await;
}

#[tokio::test]
async fn configuration_changes_on_the_dashboard_are_logged_on_sqlite() {
    configuration_changes_flow("sqlite").await;
}

#[tokio::test]
async fn configuration_changes_on_the_dashboard_are_logged_on_postgres() {
    configuration_changes_flow("postgres").await;
}
