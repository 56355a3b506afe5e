//! The event log page and its CSV download: filters, paging to older events, the CSV's
//! rows and escaping, refusals — on SQLite and PostgreSQL.
#![cfg(feature = "ssr")]

mod common;

use common::dashboard::sign_in;
use common::spawn_app_on;
use optbox::domain::{EmailAddress, SubscriptionStatus};
use optbox::server::service::auth::Role;
use optbox::server::store::{Audit, ContactChange, NewContact, PrefMode, Source};

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
    assert_eq!(
        count(&html, "<td>contact.created</td>"),
        50,
        "one page of 50"
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
    // 60 created + 3 subscription + the demo contact's creation.
    assert_eq!(lines.len() - 1, 64, "{csv}");
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
