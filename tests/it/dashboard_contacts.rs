//! The contacts pages through the server: keyset paging, prefix search, the topic-status
//! filter, editing preferences and attributes (with the `Admin` event in the history),
//! deletion with a tombstone — as plain form POSTs and GETs, on SQLite and PostgreSQL.
#![cfg(feature = "ssr")]

use crate::common;

use common::dashboard::{form, sign_in};
use common::spawn_app_on;
use optbox::domain::{EmailAddress, SubscriptionStatus};
use optbox::server::service::auth::Role;
use optbox::server::store::{Audit, NewContact, Source};

/// Addresses in the contacts table of a rendered page.
fn rows(html: &str) -> Vec<String> {
    let Some(start) = html.find(r#"<table id="contacts""#) else {
        return vec![];
    };
    let table = &html[start..html[start..].find("</table>").unwrap() + start];
    table
        .split("contact?email=")
        .skip(1)
        .map(|s| {
            let s = &s[s.find('>').unwrap() + 1..];
            s[..s.find('<').unwrap()].to_owned()
        })
        .collect()
}

fn next_link(html: &str) -> Option<String> {
    let i = html.find(r#"id="next-page""#)?;
    let before = &html[..i];
    let h = before.rfind("href=\"").unwrap();
    Some(
        before[h + 6..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&"),
    )
}

async fn contacts_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    let audit = Audit::new(Source::Api);
    for i in 0..120 {
        let new = NewContact {
            email: EmailAddress::parse(&format!("user{i:03}@example.com")).unwrap(),
            unsubscribe_all: false,
            preferences: if i % 10 == 0 {
                vec![(
                    optbox::domain::TopicName::parse("newsletter").unwrap(),
                    SubscriptionStatus::OptOut,
                )]
            } else {
                vec![]
            },
            attributes: String::new(),
        };
        app.store.create_contact(&list, &new, &audit).await.unwrap();
    }
    sign_in(&app, Role::Admin).await;

    // Keyset paging: 121 contacts (the demo one first) in pages of 50.
    let base = "/admin/lists/demo/contacts";
    let html = app.get_text(&app.url(base)).await;
    let p1 = rows(&html);
    assert_eq!(p1.len(), 50, "{html}");
    let next = next_link(&html).expect("a next page");
    assert!(next.contains("after="), "{next}");
    let html = app.get_text(&app.url(&next)).await;
    let p2 = rows(&html);
    assert_eq!(p2.len(), 50);
    assert!(p2.iter().all(|e| !p1.contains(e)), "pages do not overlap");
    let html = app.get_text(&app.url(&next_link(&html).unwrap())).await;
    assert_eq!(rows(&html).len(), 21);
    assert!(next_link(&html).is_none(), "the last page has no next link");

    // Prefix search.
    let html = app.get_text(&app.url(&format!("{base}?q=user11"))).await;
    let found = rows(&html);
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.iter().all(|e| e.starts_with("user11")));

    // Topic-status filter: explicit opt-outs of `newsletter` (every tenth contact).
    let html = app
        .get_text(&app.url(&format!("{base}?topic=newsletter&status=OPT_OUT")))
        .await;
    let out = rows(&html);
    assert_eq!(out.len(), 12, "{out:?}");
    // `offers` defaults to OPT_OUT: every contact matches.
    let html = app
        .get_text(&app.url(&format!("{base}?topic=offers&status=OPT_IN")))
        .await;
    assert!(html.contains("No contacts match."));
    // An unknown topic is a clear message.
    let html = app
        .get_text(&app.url(&format!("{base}?topic=nope&status=OPT_IN")))
        .await;
    assert!(
        html.contains("doesn&#x27;t contain Topic: nope")
            || html.contains("doesn't contain Topic: nope"),
        "{html}"
    );

    // Edit a contact: preferences, UnsubscribeAll off, attributes.
    let cpage = "/admin/lists/demo/contact?email=user005%40example.com";
    let html = app.get_text(&app.url(cpage)).await;
    assert!(html.contains("user005@example.com"), "{html}");
    form(
        &app,
        "/api/save_contact",
        cpage,
        &[
            ("list", "demo"),
            ("email", "user005@example.com"),
            ("prefs[newsletter]", "OPT_OUT"),
            ("prefs[offers]", "OPT_IN"),
            ("prefs[product-updates]", ""),
            ("attributes", r#"{"name":"Ann"}"#),
        ],
    )
    .await;
    let email = EmailAddress::parse("user005@example.com").unwrap();
    let c = app.store.get_contact(&list, &email).await.unwrap();
    assert_eq!(c.attributes, r#"{"name":"Ann"}"#);
    assert_eq!(c.preferences.len(), 2);
    let html = app.get_text(&app.url(cpage)).await;
    assert!(
        html.contains("Admin"),
        "the change is in the history: {html}"
    );
    assert!(html.contains("subscription"));

    // Bad attributes: a message, nothing changed.
    let loc = form(
        &app,
        "/api/save_contact",
        cpage,
        &[
            ("list", "demo"),
            ("email", "user005@example.com"),
            ("attributes", "[1,2]"),
        ],
    )
    .await;
    assert!(loc.contains("__err="), "{loc}");
    let c = app.store.get_contact(&list, &email).await.unwrap();
    assert_eq!(c.attributes, r#"{"name":"Ann"}"#);

    // Delete: back to the list; the opt-out survives as a tombstone.
    let loc = form(
        &app,
        "/api/delete_contact",
        cpage,
        &[("list", "demo"), ("email", "user005@example.com")],
    )
    .await;
    assert_eq!(loc, "/admin/lists/demo/contacts");
    assert!(app.store.get_contact(&list, &email).await.is_err());
    let loc = form(
        &app,
        "/api/add_contact",
        base,
        &[("list", "demo"), ("email", "user005@example.com")],
    )
    .await;
    assert!(loc.starts_with("/admin/lists/demo/contact?email="), "{loc}");
    let c = app.store.get_contact(&list, &email).await.unwrap();
    assert!(
        c.preferences
            .iter()
            .any(|p| p.topic.as_str() == "newsletter" && p.status == SubscriptionStatus::OptOut),
        "the tombstone restored the opt-out: {c:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn contacts_are_searched_paged_edited_and_deleted_on_sqlite() {
    contacts_flow("sqlite").await;
}

#[tokio::test]
async fn contacts_are_searched_paged_edited_and_deleted_on_postgres() {
    contacts_flow("postgres").await;
}

/// Prefix search pages in address order with a key cursor (ids in another order), alone
/// and with a topic filter; attributes are cleared with an empty field.
async fn prefix_and_attributes_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    let audit = Audit::new(Source::Api);
    // Inserted in a scrambled order so that id order is not address order.
    let mut all = Vec::new();
    for i in 0..120 {
        let k = (i * 37) % 120;
        let e = format!("pre{k:03}@example.com");
        let new = NewContact {
            email: EmailAddress::parse(&e).unwrap(),
            unsubscribe_all: false,
            preferences: if k % 4 == 0 {
                vec![(
                    optbox::domain::TopicName::parse("newsletter").unwrap(),
                    SubscriptionStatus::OptOut,
                )]
            } else {
                vec![]
            },
            attributes: String::new(),
        };
        app.store.create_contact(&list, &new, &audit).await.unwrap();
        all.push((k, e));
    }
    // Another address with the same start that is not part of the prefix.
    let other = NewContact {
        email: EmailAddress::parse("prf@example.com").unwrap(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    app.store
        .create_contact(&list, &other, &audit)
        .await
        .unwrap();
    all.sort();
    let sorted: Vec<String> = all.iter().map(|(_, e)| e.clone()).collect();
    sign_in(&app, Role::Admin).await;

    let base = "/admin/lists/demo/contacts";
    let mut url = format!("{base}?q=pre");
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let html = app.get_text(&app.url(&url)).await;
        let page = rows(&html);
        assert!(page.len() <= 50);
        got.extend(page);
        pages += 1;
        match next_link(&html) {
            Some(n) => {
                assert!(n.contains("after_key=pre"), "{n}");
                url = n;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(got, sorted, "every match once, in address order");

    // With the topic filter: every fourth address, still in address order.
    let html = app
        .get_text(&app.url(&format!("{base}?q=pre&topic=newsletter&status=OPT_OUT")))
        .await;
    let want: Vec<String> = all
        .iter()
        .filter(|(k, _)| k % 4 == 0)
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(rows(&html), want);
    assert!(next_link(&html).is_none());

    // Sparse topic filter without a search (walks the preferences index).
    let html = app
        .get_text(&app.url(&format!("{base}?topic=newsletter&status=OPT_OUT")))
        .await;
    let mut by_id = rows(&html);
    assert_eq!(by_id.len(), 30, "{by_id:?}");
    by_id.sort();
    assert_eq!(by_id, want);

    // Attributes: set, then cleared with an empty field (and with `{}`).
    let cpage = "/admin/lists/demo/contact?email=pre007%40example.com";
    let email = EmailAddress::parse("pre007@example.com").unwrap();
    for (value, want) in [
        (r#"{"plan":"pro"}"#, r#"{"plan":"pro"}"#),
        ("", ""),
        (r#"{"plan":"pro"}"#, r#"{"plan":"pro"}"#),
        ("{ }", ""),
    ] {
        let loc = form(
            &app,
            "/api/save_contact",
            cpage,
            &[
                ("list", "demo"),
                ("email", "pre007@example.com"),
                ("attributes", value),
            ],
        )
        .await;
        assert!(!loc.contains("__err="), "{value}: {loc}");
        let c = app.store.get_contact(&list, &email).await.unwrap();
        assert_eq!(c.attributes, want, "after saving {value:?}");
    }
    let html = app.get_text(&app.url(cpage)).await;
    let field = &html[html.find(r#"<textarea id="attributes""#).unwrap()..];
    let field = &field[field.find('>').unwrap() + 1..field.find("</textarea>").unwrap()];
    assert_eq!(field, "", "the cleared attributes show as an empty field");
    app.stop().await;
}

#[tokio::test]
async fn prefix_search_pages_in_address_order_and_attributes_clear_on_sqlite() {
    prefix_and_attributes_flow("sqlite").await;
}

#[tokio::test]
async fn prefix_search_pages_in_address_order_and_attributes_clear_on_postgres() {
    prefix_and_attributes_flow("postgres").await;
}

/// Privacy requests from the contact page: owners download everything stored about the
/// address and erase it (with a confirmation); admins see neither and are refused.
async fn owners_export_and_erase_from_the_contact_page(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    let email = EmailAddress::parse("Priv.Acy@example.com").unwrap();
    let new = NewContact {
        email: email.clone(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: r#"{"name":"Pat"}"#.into(),
    };
    app.store
        .create_contact(&list, &new, &Audit::new(Source::Api))
        .await
        .unwrap();
    let page = "/admin/lists/demo/contact?email=Priv.Acy%40example.com";
    let export = "/admin/privacy.json?email=Priv.Acy%40example.com";
    let history = "/admin/contacts/history.json?email=Priv.Acy%40example.com";
    let erase = |confirm: bool| {
        let mut f = vec![("list", "demo"), ("email", "Priv.Acy@example.com")];
        if confirm {
            f.push(("confirm", "on"));
        }
        f
    };

    // An admin: no section, the download and the erasure are refused.
    sign_in(&app, Role::Admin).await;
    let html = app.get_text(&app.url(page)).await;
    assert!(html.contains("Priv.Acy@example.com"), "{html}");
    assert!(!html.contains("privacy-export"), "{html}");
    let r = app.client.get(app.url(export)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = app.client.get(app.url(history)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(app.url("/api/erase_contact"))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .header("referer", app.url(page))
        .form(&erase(true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(app.store.get_contact(&list, &email).await.is_ok());

    // An owner.
    sign_in(&app, Role::Owner).await;
    let html = app.get_text(&app.url(page)).await;
    assert!(html.contains(r#"id="privacy-export""#), "{html}");
    assert!(html.contains(r#"id="erase-contact""#), "{html}");
    let r = app.client.get(app.url(export)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["contacts"][0]["list"], "demo");
    assert_eq!(report["contacts"][0]["attributes"], r#"{"name":"Pat"}"#);
    // The consent history, each event with its seal once the sealer has run.
    assert!(html.contains(r#"id="history-export""#), "{html}");
    optbox::server::service::audit_trail::seal_all(&*app.store)
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url("/admin/contacts/history.json?email=not%20an%20address"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a garbage address is refused");
    let r = app.client.get(app.url(history)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h: serde_json::Value = r.json().await.unwrap();
    let created = &h["events"][0];
    assert_eq!(created["kind"], "contact.created", "{h}");
    assert_eq!(created["actor"], "api_key", "{h}");
    assert!(
        created["seal"]["commitment"].as_str().unwrap().len() == 64,
        "{h}"
    );
    assert!(h["chain_head"]["seq"].as_i64().unwrap() >= created["seal"]["seq"].as_i64().unwrap());
    // Without the confirmation: refused, nothing changed.
    let loc = form(&app, "/api/erase_contact", page, &erase(false)).await;
    assert!(loc.contains("__err="), "{loc}");
    assert!(app.store.get_contact(&list, &email).await.is_ok());
    let loc = form(&app, "/api/erase_contact", page, &erase(true)).await;
    assert_eq!(loc, "/admin/lists/demo/contacts");
    assert!(app.store.get_contact(&list, &email).await.is_err());
    let q = optbox::server::store::EventQuery {
        kind: Some("contact.erased".into()),
        limit: 10,
        ..Default::default()
    };
    let logged = app.store.query_events(&q).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].actor.as_deref(), Some("user"));
    assert!(logged[0].actor_id.is_some());
    let r = app.client.get(app.url(export)).send().await.unwrap();
    let report: serde_json::Value = r.json().await.unwrap();
    assert!(report["erasedAt"].as_i64().is_some(), "{report}");
    assert_eq!(report["contacts"].as_array().unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn owners_export_and_erase_from_the_contact_page_on_sqlite() {
    owners_export_and_erase_from_the_contact_page("sqlite").await;
}

#[tokio::test]
async fn owners_export_and_erase_from_the_contact_page_on_postgres() {
    owners_export_and_erase_from_the_contact_page("postgres").await;
}
