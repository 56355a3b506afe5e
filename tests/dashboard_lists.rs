//! The lists pages through the server: create a list, edit its description and branding,
//! add, change and remove topics, delete it — as plain form POSTs (the no-JavaScript
//! path) with the rendered pages checked, on SQLite and PostgreSQL.
#![cfg(feature = "ssr")]

mod common;

use common::dashboard::{form, sign_in};
use common::spawn_app_on;
use optbox::domain::SubscriptionStatus;
use optbox::server::service::auth::Role;

async fn lists_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    sign_in(&app, Role::Admin).await;
    let html = app.get_text(&app.url("/admin/lists")).await;
    assert!(html.contains("No contact lists yet."), "{html}");

    let loc = form(
        &app,
        "/api/create_list",
        "/admin/lists",
        &[("name", "news"), ("description", "Weekly news")],
    )
    .await;
    assert_eq!(loc, "/admin/lists/news");
    // A second list of that name: back to the form with SES's message.
    let loc = form(
        &app,
        "/api/create_list",
        "/admin/lists",
        &[("name", "news"), ("description", "")],
    )
    .await;
    assert!(
        loc.contains("/admin/lists?") && loc.contains("__err="),
        "{loc}"
    );
    let html = app.get_text(&loc).await;
    assert!(
        html.contains("List with name: news already exists."),
        "{html}"
    );

    form(
        &app,
        "/api/save_topic",
        "/admin/lists/news",
        &[
            ("list", "news"),
            ("topic", "weekly"),
            ("display_name", "Weekly digest"),
            ("description", "Every Monday"),
            ("default_status", "OPT_IN"),
        ],
    )
    .await;
    form(
        &app,
        "/api/save_topic",
        "/admin/lists/news",
        &[
            ("list", "news"),
            ("topic", "internal"),
            ("display_name", "Internal"),
            ("description", ""),
            ("default_status", "OPT_OUT"),
            ("hidden", "on"),
        ],
    )
    .await;
    form(
        &app,
        "/api/save_list",
        "/admin/lists/news",
        &[
            ("name", "news"),
            ("description", "The newsletter"),
            ("display_name", "Acme News"),
            ("logo_url", ""),
            ("accent_color", "#AA3300"),
            ("privacy_url", "https://acme.example/privacy"),
            ("footer_text", "Acme Inc., 1 Main St"),
            ("default_language", "de"),
        ],
    )
    .await;
    let list = app.store.get_list("news").await.unwrap();
    assert_eq!(list.description, "The newsletter");
    assert_eq!(list.branding.display_name.as_deref(), Some("Acme News"));
    assert_eq!(list.branding.accent_color.as_deref(), Some("#aa3300"));
    assert_eq!(list.branding.default_language.as_deref(), Some("de"));
    assert_eq!(list.topics.len(), 2);
    let internal = list.topic("internal").unwrap();
    assert!(internal.hidden);
    assert_eq!(internal.default_status, SubscriptionStatus::OptOut);

    let html = app.get_text(&app.url("/admin/lists/news")).await;
    assert!(html.contains("Weekly digest"), "{html}");
    assert!(
        html.contains("Acme News"),
        "the preview shows the display name"
    );
    assert!(
        html.contains("--pv-accent: #aa3300"),
        "the preview uses the colour"
    );
    // The preview lists visible topics only.
    let preview = &html[html.find(r#"id="preview""#).unwrap()..];
    let preview = &preview[..preview.find("</section>").unwrap()];
    assert!(preview.contains("Weekly digest"));
    assert!(!preview.contains("Internal"), "{preview}");

    // Change a topic: it keeps its name, the rest is replaced.
    form(
        &app,
        "/api/save_topic",
        "/admin/lists/news",
        &[
            ("list", "news"),
            ("topic", "weekly"),
            ("display_name", "Weekly"),
            ("description", ""),
            ("default_status", "OPT_OUT"),
        ],
    )
    .await;
    let list = app.store.get_list("news").await.unwrap();
    let w = list.topic("weekly").unwrap();
    assert_eq!(w.display_name, "Weekly");
    assert_eq!(w.default_status, SubscriptionStatus::OptOut);

    // Bad input comes back as a message, and changes nothing.
    let loc = form(
        &app,
        "/api/save_list",
        "/admin/lists/news",
        &[
            ("name", "news"),
            ("description", "x"),
            ("display_name", ""),
            ("logo_url", "javascript:alert(1)"),
            ("accent_color", ""),
            ("privacy_url", ""),
            ("footer_text", ""),
            ("default_language", ""),
        ],
    )
    .await;
    let html = app.get_text(&loc).await;
    assert!(
        html.contains("the logo must be an http:// or https:// address"),
        "{html}"
    );
    assert_eq!(
        app.store.get_list("news").await.unwrap().description,
        "The newsletter"
    );

    form(
        &app,
        "/api/delete_topic",
        "/admin/lists/news",
        &[("list", "news"), ("topic", "internal")],
    )
    .await;
    assert_eq!(app.store.get_list("news").await.unwrap().topics.len(), 1);

    // Deleting needs the name typed again.
    let loc = form(
        &app,
        "/api/delete_list",
        "/admin/lists/news",
        &[("name", "news"), ("confirm", "nope")],
    )
    .await;
    assert!(loc.contains("__err="), "{loc}");
    assert!(app.store.get_list("news").await.is_ok());
    let loc = form(
        &app,
        "/api/delete_list",
        "/admin/lists/news",
        &[("name", "news"), ("confirm", "news")],
    )
    .await;
    assert_eq!(loc, "/admin/lists");
    assert!(app.store.get_list("news").await.is_err());
    app.stop().await;
}

#[tokio::test]
async fn an_admin_manages_lists_and_topics_on_sqlite() {
    lists_flow("sqlite").await;
}

#[tokio::test]
async fn an_admin_manages_lists_and_topics_on_postgres() {
    lists_flow("postgres").await;
}

#[tokio::test]
async fn a_viewer_sees_lists_without_forms() {
    let app = spawn_app_on("sqlite").await;
    optbox::server::service::demo::seed(&*app.store).await.ok();
    sign_in(&app, Role::Viewer).await;
    let html = app.get_text(&app.url("/admin/lists")).await;
    assert!(html.contains("demo"), "{html}");
    assert!(
        !html.contains(r#"id="new-list""#),
        "no create form for viewers"
    );
    let html = app.get_text(&app.url("/admin/lists/demo")).await;
    assert!(html.contains("Your role can read this list but not change it."));
    assert!(!html.contains(r#"id="details""#));
    assert!(!html.contains(r#"id="delete-list""#));
    app.stop().await;
}
