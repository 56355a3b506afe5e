//! The lists pages through the server: create a list, edit its description and branding,
//! upload and remove its logo, add, change and remove topics, delete it — as plain form
//! POSTs (the no-JavaScript path) with the rendered pages checked, on SQLite and
//! PostgreSQL.
#![cfg(feature = "ssr")]

use crate::common;

use common::dashboard::{form, sign_in};
use common::images::{GIF, PNG};
use common::{TestApp, spawn_app_on};
use optbox::domain::SubscriptionStatus;
use optbox::server::service::auth::Role;
use reqwest::StatusCode;

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
    // The preview uses the colour through the list's stylesheet, as the preference page
    // does: never an inline style.
    assert!(
        html.contains(r#"href="/l/news/theme.css?v=aa3300""#),
        "the page links the list's stylesheet"
    );
    // The preview lists visible topics only.
    let preview = &html[html.find(r#"id="preview""#).unwrap()..];
    let preview = &preview[..preview.find("</section>").unwrap()];
    assert!(preview.contains(r#"data-brand="news""#), "{preview}");
    assert!(!preview.contains("style="), "{preview}");
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
            ("accent_color", ""),
            ("privacy_url", "javascript:alert(1)"),
            ("footer_text", ""),
            ("default_language", ""),
        ],
    )
    .await;
    let html = app.get_text(&loc).await;
    assert!(
        html.contains("the privacy link must be an http:// or https:// address"),
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

/// A multipart POST of `file` to the logo route, as the dashboard's form sends it;
/// returns the status and the Location.
async fn upload_logo(
    app: &TestApp,
    client: &reqwest::Client,
    list: &str,
    file_name: &str,
    mime: &str,
    bytes: &[u8],
) -> (StatusCode, String) {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(file_name.to_owned())
        .mime_str(mime)
        .unwrap();
    let r = client
        .post(app.url(&format!("/admin/logo/{list}")))
        .header("origin", &app.base)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status(), loc)
}

async fn stored_logo(app: &TestApp, list: &str) -> Option<optbox::server::store::ListLogo> {
    let l = app.store.get_list(list).await.unwrap();
    app.store.get_list_logo(l.id).await.unwrap()
}

async fn logo_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    sign_in(&app, Role::Admin).await;
    let list = app
        .store
        .create_list("news", &common::news_list(), None)
        .await
        .unwrap();
    form(
        &app,
        "/api/save_list",
        "/admin/lists/news",
        &[
            ("name", "news"),
            ("description", ""),
            ("display_name", "Acme News"),
            ("accent_color", "#AA3300"),
            ("privacy_url", ""),
            ("footer_text", ""),
            ("default_language", ""),
        ],
    )
    .await;
    let html = app.get_text(&app.url("/admin/lists/news")).await;
    assert!(
        html.contains(r#"id="logo-form""#),
        "an admin gets the upload form"
    );
    assert!(!html.contains(r#"id="preview-logo""#), "no logo yet");
    assert!(!html.contains(r#"id="logo-remove""#));

    // An admin uploads a PNG: stored as sent, typed by its bytes.
    let (status, loc) = upload_logo(&app, &app.client, "news", "acme.png", "image/png", PNG).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(loc, "/admin/lists/news?logo=saved");
    let logo = stored_logo(&app, "news").await.expect("stored");
    assert_eq!(logo.bytes, PNG);
    assert_eq!(logo.content_type, "image/png");
    let src = format!("/l/news/logo?v={}", logo.version);
    let html = app.get_text(&app.url(&loc)).await;
    assert!(html.contains("Logo saved."), "{html}");
    let preview = &html[html.find(r#"id="preview""#).unwrap()..];
    assert!(
        preview.contains(&format!(r#"src="{src}""#)),
        "the preview shows the logo from its route: {preview}"
    );
    assert!(html.contains(r#"id="logo-remove""#));

    // The route serves the bytes with their type, nosniff, a CSP and a version.
    let r = app.client.get(app.url(&src)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"),
        "{h:?}"
    );
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", logo.version));
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let r = app
        .client
        .get(app.url(&src))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // Another (or no) version must be revalidated, never kept for good.
    let r = app
        .client
        .get(app.url("/l/news/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let css = app
        .client
        .get(app.url("/l/news/theme.css?v=aa3300"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    let css = css.text().await.unwrap();
    assert!(
        css.contains(r#"[data-brand="news"]{--accent:#aa3300;--accent-fg:#ffffff;"#),
        "{css}"
    );

    // Refusals: back to the page with the reason, and nothing stored.
    let big = [PNG, &vec![0u8; 256 * 1024]].concat();
    let svg_as_png = common::images::SVG;
    for (name, mime, bytes, reason) in [
        (
            "big.png",
            "image/png",
            big.as_slice(),
            "larger than 256 KiB",
        ),
        (
            "logo.svg",
            "image/svg+xml",
            common::images::SVG,
            "SVG is not accepted",
        ),
        (
            "logo.png",
            "image/png",
            svg_as_png,
            "must be a PNG, JPEG, GIF or WebP",
        ),
        (
            "notes.png",
            "image/png",
            b"just some text, renamed".as_slice(),
            "must be a PNG",
        ),
        (
            "empty.png",
            "image/png",
            b"".as_slice(),
            "the file is empty",
        ),
    ] {
        let (status, loc) = upload_logo(&app, &app.client, "news", name, mime, bytes).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name}");
        assert!(
            loc.starts_with("/admin/lists/news?logo_error="),
            "{name}: {loc}"
        );
        let html = app.get_text(&app.url(&loc)).await;
        assert!(html.contains(reason), "{name}: {reason}");
        assert_eq!(
            stored_logo(&app, "news").await.unwrap().bytes,
            PNG,
            "{name}"
        );
    }
    // Far over the limit (beyond what the route reads at all): refused, nothing stored.
    // (The answer may race the rest of the body, so only "not saved" is asserted.)
    let huge = [PNG, &vec![0u8; 5 << 20]].concat();
    let part = reqwest::multipart::Part::bytes(huge).file_name("huge.png");
    let r = app
        .client
        .post(app.url("/admin/logo/news"))
        .header("origin", &app.base)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await;
    if let Ok(r) = r {
        assert_ne!(
            r.headers().get("location").map(|l| l.to_str().unwrap()),
            Some("/admin/lists/news?logo=saved")
        );
    }
    assert_eq!(stored_logo(&app, "news").await.unwrap().bytes, PNG);
    let (status, _) = upload_logo(&app, &app.client, "nope", "a.png", "image/png", PNG).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown list");
    // A cross-site form is refused before anything is read.
    let part = reqwest::multipart::Part::bytes(GIF.to_vec()).file_name("a.gif");
    let r = app
        .client
        .post(app.url("/admin/logo/news"))
        .header("origin", "http://evil.example")
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Without a session.
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, _) = upload_logo(&app, &anon, "news", "a.gif", "image/gif", GIF).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(stored_logo(&app, "news").await.unwrap().bytes, PNG);

    // A new logo replaces the old one under a new URL, served at once.
    let (_, loc) = upload_logo(&app, &app.client, "news", "a.gif", "image/gif", GIF).await;
    assert_eq!(loc, "/admin/lists/news?logo=saved");
    let gif = stored_logo(&app, "news").await.unwrap();
    assert_ne!(gif.version, logo.version);
    let r = app
        .client
        .get(app.url(&format!("/l/news/logo?v={}", gif.version)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/gif");
    assert_eq!(r.bytes().await.unwrap().as_ref(), GIF);

    // "Remove logo".
    let r = app
        .client
        .post(app.url("/admin/logo/news"))
        .header("origin", &app.base)
        .multipart(reqwest::multipart::Form::new().text("action", "remove"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/admin/lists/news?logo=removed");
    assert!(stored_logo(&app, "news").await.is_none());
    // Each upload and the removal is a `list.updated` event by the signed-in admin; the
    // refused uploads are none.
    let q = optbox::server::store::EventQuery {
        kind: Some("list.updated".into()),
        list: Some("news".into()),
        limit: 100,
        ..Default::default()
    };
    let logo_events: Vec<serde_json::Value> = app
        .store
        .query_events(&q)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.detail.contains(r#""logo""#))
        .map(|e| {
            assert_eq!(e.actor.as_deref(), Some("user"), "{e:?}");
            assert!(e.actor_id.is_some() && e.ip_hash.is_some(), "{e:?}");
            serde_json::from_str(&e.detail).unwrap()
        })
        .collect();
    let whats: Vec<&str> = logo_events
        .iter()
        .map(|d| d["logo"].as_str().unwrap())
        .collect();
    assert_eq!(whats, ["removed", "uploaded", "uploaded"]);
    assert!(
        logo_events
            .iter()
            .all(|d| d["branding"] == serde_json::json!(["logo"]))
    );
    let r = app
        .client
        .get(app.url("/l/news/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = app.get_text(&app.url("/admin/lists/news")).await;
    assert!(!html.contains(r#"id="preview-logo""#));

    // A list's logo goes away with the list; a new list of that name has none.
    upload_logo(&app, &app.client, "news", "a.png", "image/png", PNG).await;
    assert!(stored_logo(&app, "news").await.is_some());
    form(
        &app,
        "/api/delete_list",
        "/admin/lists/news",
        &[("name", "news"), ("confirm", "news")],
    )
    .await;
    assert!(app.store.get_list_logo(list.id).await.unwrap().is_none());
    app.store
        .create_list("news", &common::news_list(), None)
        .await
        .unwrap();
    assert!(stored_logo(&app, "news").await.is_none());
    let r = app
        .client
        .get(app.url("/l/news/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A viewer may not upload.
    sign_in(&app, Role::Viewer).await;
    let (status, _) = upload_logo(&app, &app.client, "news", "a.png", "image/png", PNG).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(stored_logo(&app, "news").await.is_none());
    let html = app.get_text(&app.url("/admin/lists/news")).await;
    assert!(
        !html.contains(r#"id="logo-form""#),
        "no upload form for viewers"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_uploads_a_logo_served_from_its_own_route_on_sqlite() {
    logo_flow("sqlite").await;
}

#[tokio::test]
async fn an_admin_uploads_a_logo_served_from_its_own_route_on_postgres() {
    logo_flow("postgres").await;
}
