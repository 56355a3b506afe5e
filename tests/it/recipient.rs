//! The recipient surface over HTTP: RFC 8058 one-click POST and the preference page.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestApp, spawn_app, spawn_app_on, spawn_with};
use optbox::domain::*;
use optbox::server::service::recipient;
use optbox::server::store::{Audit, NewContact, Source, StoreError, email_hash};
use reqwest::StatusCode;

async fn seed(app: &TestApp) -> ContactList {
    let topic = |n: &str, d| Topic {
        name: TopicName::parse(n).unwrap(),
        display_name: format!("The {n}"),
        description: String::new(),
        default_status: d,
        hidden: false,
    };
    let mut secret = topic("internal", SubscriptionStatus::OptIn);
    secret.hidden = true;
    let def = ListDefinition {
        topics: vec![
            topic("news", SubscriptionStatus::OptIn),
            topic("offers", SubscriptionStatus::OptOut),
            secret,
        ],
        ..Default::default()
    };
    let list = app.store.create_list("shop", &def, None).await.unwrap();
    let nc = NewContact {
        email: EmailAddress::parse("Ann@Example.com").unwrap(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    app.store
        .create_contact(&list, &nc, &Audit::new(Source::Api))
        .await
        .unwrap();
    list
}

fn link(app: &TestApp, list: &ContactList, topic: Option<&str>) -> String {
    let email = EmailAddress::parse("Ann@Example.com").unwrap();
    recipient::url_for(
        &app.keys,
        &app.base,
        &list.name,
        topic.map(|t| TopicName::parse(t).unwrap()),
        &email,
    )
}

/// An RFC 8058 POST with the urlencoded body.
async fn one_click(app: &TestApp, url: &str) -> reqwest::Response {
    app.client
        .post(url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap()
}

async fn contact(app: &TestApp, list: &ContactList) -> Contact {
    app.store
        .get_contact(list, &EmailAddress::parse("Ann@example.com").unwrap())
        .await
        .unwrap()
}

async fn subscription_events(app: &TestApp) -> Vec<optbox::server::store::EventRecord> {
    app.store
        .list_events(Some("shop"), Some("subscription"), None, 100)
        .await
        .unwrap()
}

async fn one_click_with_topic_is_idempotent(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = seed(&app).await;
    let url = link(&app, &list, Some("news"));
    for _ in 0..3 {
        let r = app
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("location").is_none(), "never a redirect");
        assert!(r.headers().get("set-cookie").is_none(), "no cookies");
    }
    let c = contact(&app, &list).await;
    assert_eq!(c.explicit("news"), Some(SubscriptionStatus::OptOut));
    assert!(
        !c.unsubscribe_all,
        "a topic link leaves the other topics alone"
    );
    let evs = subscription_events(&app).await;
    assert_eq!(evs.len(), 1, "a repeat writes no second event");
    assert_eq!(evs[0].source.as_deref(), Some("UnsubscribeHeader"));
    assert_eq!(evs[0].topic_name.as_deref(), Some("news"));
    assert!(evs[0].old_prefs.as_ref().unwrap().contains("\"topics\":[]"));
    assert!(evs[0].new_prefs.as_ref().unwrap().contains("OPT_OUT"));
    assert!(
        evs[0]
            .ip_hash
            .as_ref()
            .is_some_and(|h| !h.contains("127.0.0.1"))
    );
    app.stop().await;
}

#[tokio::test]
async fn one_click_with_a_topic_opts_out_of_that_topic_once_on_sqlite() {
    one_click_with_topic_is_idempotent("sqlite").await;
}

#[tokio::test]
async fn one_click_with_a_topic_opts_out_of_that_topic_once_on_postgres() {
    one_click_with_topic_is_idempotent("postgres").await;
}

/// The one-click POST does not read the contact itself (the group-commit writer reads the
/// batch); what a repeat or an overlapping link does must not change because of that.
#[tokio::test]
async fn a_topic_link_after_unsubscribe_all_is_recorded_once() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    assert_eq!(
        one_click(&app, &link(&app, &list, None)).await.status(),
        StatusCode::OK
    );
    let topic_link = link(&app, &list, Some("news"));
    for _ in 0..3 {
        assert_eq!(one_click(&app, &topic_link).await.status(), StatusCode::OK);
    }
    let c = contact(&app, &list).await;
    assert!(c.unsubscribe_all);
    assert_eq!(
        c.explicit("news"),
        Some(SubscriptionStatus::OptOut),
        "kept should UnsubscribeAll be undone later"
    );
    let evs = subscription_events(&app).await;
    let got: Vec<Option<&str>> = evs.iter().rev().map(|e| e.topic_name.as_deref()).collect();
    assert_eq!(
        got,
        vec![None, Some("news")],
        "each change once, repeats write nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn one_click_without_a_topic_unsubscribes_from_all_with_every_body_encoding() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let url = link(&app, &list, None);
    // multipart/form-data, as RFC 8058 recommends
    let form = reqwest::multipart::Form::new().text("List-Unsubscribe", "One-Click");
    let r = app.client.post(&url).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(contact(&app, &list).await.unsubscribe_all);
    // an empty body (some clients) and urlencoded both answer 200 without a new event
    let r = app.client.post(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = one_click(&app, &url).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(subscription_events(&app).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn wrong_bodies_forged_tokens_and_huge_bodies_change_nothing() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let url = link(&app, &list, None);
    let r = app
        .client
        .post(&url)
        .form(&[("List-Unsubscribe", "Something-Else")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let form = reqwest::multipart::Form::new().text("other", "One-Click");
    let r = app.client.post(&url).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Same shape, signed with a key optbox does not have.
    let forged_keys = vec![optbox::server::config::TokenKey {
        id: "dev".into(),
        secret: b"not-the-real-secret-at-all-00000".to_vec(),
    }];
    let email = EmailAddress::parse("Ann@Example.com").unwrap();
    let forged = recipient::url_for(&forged_keys, &app.base, &list.name, None, &email);
    let r = one_click(&app, &forged).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for bad in [
        "/u/x",
        "/u/%00%01",
        "/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let r = app
            .client
            .post(app.url(bad))
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == StatusCode::BAD_REQUEST || r.status() == StatusCode::NOT_FOUND,
            "{bad}: {}",
            r.status()
        );
    }
    let r = app
        .client
        .post(&url)
        .body(vec![b'a'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let c = contact(&app, &list).await;
    assert!(!c.unsubscribe_all && c.preferences.is_empty());
    assert!(subscription_events(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_contact_is_still_unsubscribed_and_stays_so_when_re_added() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let url = link(&app, &list, Some("news"));
    let email = EmailAddress::parse("Ann@Example.com").unwrap();
    app.store
        .delete_contact(&list, &email, &Audit::new(Source::Admin))
        .await
        .unwrap();
    let r = one_click(&app, &url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = app
        .store
        .get_tombstone(&list, &email_hash(&email))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.opted_out_topics, vec![TopicName::parse("news").unwrap()]);
    let nc = NewContact {
        email: email.clone(),
        unsubscribe_all: false,
        preferences: vec![(TopicName::parse("news").unwrap(), SubscriptionStatus::OptIn)],
        attributes: String::new(),
    };
    let c = app
        .store
        .create_contact(&list, &nc, &Audit::new(Source::Import))
        .await
        .unwrap();
    assert_eq!(c.explicit("news"), Some(SubscriptionStatus::OptOut));
    app.stop().await;
}

#[tokio::test]
async fn the_page_never_changes_state_and_sends_protective_headers() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let url = link(&app, &list, None);
    let before = contact(&app, &list).await;
    for _ in 0..3 {
        let r = app.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h["cache-control"], "no-store");
        assert!(h["x-robots-tag"].to_str().unwrap().contains("noindex"));
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, PAGE_CSP, "one same-origin script, nothing inline");
        let html = r.text().await.unwrap();
        assert!(html.len() < 30_000, "page weighs {} bytes", html.len());
        assert!(html.contains("The news") && html.contains("The offers"));
        assert!(
            !html.contains("The internal"),
            "hidden topics are not shown"
        );
        assert!(html.contains("A***@Example.com"), "the address is masked");
        assert!(!html.contains("Ann@Example.com"));
    }
    assert_eq!(contact(&app, &list).await, before);
    assert!(
        app.store
            .list_events(None, None, None, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.kind == "contact.created")
    );
    // HEAD and GET of unknown tokens change nothing either and are 4xx.
    let r = app.client.get(app.url("/u/garbage")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn the_page_language_follows_query_contact_list_and_browser() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let url = link(&app, &list, None);
    let lang_of = |html: &str| {
        html.split("<html")
            .nth(1)
            .and_then(|s| s.split('>').next())
            .unwrap_or("")
            .to_owned()
    };
    let get = |u: String, al: &'static str| {
        let c = app.client.clone();
        async move {
            c.get(u)
                .header("accept-language", al)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let html = get(url.clone(), "ru-RU,ru;q=0.9").await;
    assert!(lang_of(&html).contains("lang=\"ru\""), "{}", lang_of(&html));
    assert!(html.contains("Отписаться от всего"));
    let html = get(format!("{url}?lang=fr"), "ru").await;
    assert!(lang_of(&html).contains("lang=\"fr\""));
    assert!(html.contains("Se désabonner de tout"));
    let email = EmailAddress::parse("Ann@Example.com").unwrap();
    let change = optbox::server::store::ContactChange {
        unsubscribe_all: None,
        preferences: None,
        attributes: Some(r#"{"language":"es"}"#.into()),
    };
    app.store
        .update_contact(&list, &email, &change, &Audit::new(Source::Api))
        .await
        .unwrap();
    let html = get(url.clone(), "de").await;
    assert!(lang_of(&html).contains("lang=\"es\""));
    app.stop().await;
}

async fn post_form(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url("/api/save_preferences"))
        .header("accept", "text/html")
        // What browsers send from a page with Referrer-Policy: no-referrer.
        .header("origin", "null")
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn the_form_saves_and_undoes_without_javascript(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = seed(&app).await;
    let url = link(&app, &list, None);
    let token = url.rsplit('/').next().unwrap().to_owned();
    // Keep news, add offers: the form sends the checked topics only.
    let r = post_form(
        &app,
        &[
            ("token", &token),
            ("action", "save"),
            ("lang", "en"),
            ("prefs[offers]", "on"),
            ("prefs[news]", "on"),
        ],
    )
    .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(&format!("/u/{token}?saved=")), "{loc}");
    let c = contact(&app, &list).await;
    assert_eq!(c.explicit("offers"), Some(SubscriptionStatus::OptIn));
    assert_eq!(c.explicit("news"), Some(SubscriptionStatus::OptIn));
    assert_eq!(c.explicit("internal"), None, "hidden topics are untouched");
    let ev = &subscription_events(&app).await[0];
    assert_eq!(ev.source.as_deref(), Some("LandingPage"));
    // The page after the save names the change and offers undo.
    let html = app.get_text(&app.url(&loc)).await;
    assert!(html.contains("Your preferences have been saved."), "{html}");
    assert!(
        html.contains("Subscribed to") && html.contains("The offers"),
        "{html}"
    );
    let undo_state = html
        .split("name=\"state\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = post_form(
        &app,
        &[("token", &token), ("action", "set"), ("state", &undo_state)],
    )
    .await;
    assert!(r.status().is_redirection());
    let c = contact(&app, &list).await;
    assert_eq!(
        c.status_for(list.topic("offers").unwrap()),
        SubscriptionStatus::OptOut
    );
    assert_eq!(
        c.status_for(list.topic("news").unwrap()),
        SubscriptionStatus::OptIn
    );
    // Unsubscribe from all, then the page says so.
    post_form(&app, &[("token", &token), ("action", "unsubscribe_all")]).await;
    assert!(contact(&app, &list).await.unsubscribe_all);
    let html = app.get_text(&url).await;
    assert!(html.contains("You are unsubscribed from all emails of this list."));
    // Garbage is refused and changes nothing.
    let n = subscription_events(&app).await.len();
    let r = post_form(&app, &[("token", "garbage\r\nX: y"), ("action", "save")]).await;
    assert_eq!(r.headers()["location"], "/u/garbageXy?error=invalid");
    let r = post_form(
        &app,
        &[("token", &token), ("action", "drop-tables"), ("lang", "de")],
    )
    .await;
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.ends_with("?error=invalid&lang=de"), "{loc}");
    let html = app.get_text(&app.url(&loc)).await;
    assert!(
        html.contains("Dieser Link ist ungültig"),
        "the error is shown in the visitor's language"
    );
    assert_eq!(subscription_events(&app).await.len(), n);
    app.stop().await;
}

#[tokio::test]
async fn the_form_saves_and_undoes_without_javascript_on_sqlite() {
    the_form_saves_and_undoes_without_javascript("sqlite").await;
}

#[tokio::test]
async fn the_form_saves_and_undoes_without_javascript_on_postgres() {
    the_form_saves_and_undoes_without_javascript("postgres").await;
}

#[tokio::test]
async fn links_are_made_for_new_addresses_and_refuse_unknown_lists() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let audit = Audit::new(Source::Api);
    let url = recipient::link(
        &*app.store,
        &app.keys,
        &app.base,
        "shop",
        Some("news"),
        "new@example.com",
        &audit,
    )
    .await
    .unwrap();
    assert!(url.starts_with(&format!("{}/u/", app.base)));
    assert!(!url.contains("new@"));
    assert!(
        app.store
            .get_contact(&list, &EmailAddress::parse("new@example.com").unwrap())
            .await
            .is_ok()
    );
    assert!(
        recipient::link(
            &*app.store,
            &app.keys,
            &app.base,
            "nope",
            None,
            "a@example.com",
            &audit
        )
        .await
        .is_err()
    );
    assert!(
        recipient::link(
            &*app.store,
            &app.keys,
            &app.base,
            "shop",
            Some("nope"),
            "a@example.com",
            &audit
        )
        .await
        .is_err()
    );
    assert!(matches!(
        app.store
            .get_contact(&list, &EmailAddress::parse("a@example.com").unwrap())
            .await,
        Err(StoreError::NotFound)
    ));
    app.stop().await;
}

async fn concurrent_one_clicks_are_each_recorded_once(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = seed(&app).await;
    let audit = Audit::new(Source::Api);
    let mut urls = Vec::new();
    for i in 0..60 {
        let e = format!("c{i}@example.com");
        urls.push(
            recipient::link(&*app.store, &app.keys, &app.base, "shop", None, &e, &audit)
                .await
                .unwrap(),
        );
    }
    // The same contact many times at once, alongside the others.
    let same = link(&app, &list, Some("news"));
    urls.extend(std::iter::repeat_n(same, 30));
    let posts = urls.iter().map(|u| {
        let c = app.client.clone();
        let u = u.clone();
        tokio::spawn(async move {
            c.post(u)
                .form(&[("List-Unsubscribe", "One-Click")])
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    for p in posts {
        assert_eq!(p.await.unwrap(), StatusCode::OK);
    }
    let evs = subscription_events(&app).await;
    assert_eq!(evs.len(), 61, "60 contacts and Ann once each");
    let mut contacts: Vec<_> = evs.iter().map(|e| e.contact_email.clone()).collect();
    contacts.sort();
    contacts.dedup();
    assert_eq!(contacts.len(), 61);
    for i in 0..60 {
        let c = app
            .store
            .get_contact(
                &list,
                &EmailAddress::parse(&format!("c{i}@example.com")).unwrap(),
            )
            .await
            .unwrap();
        assert!(c.unsubscribe_all);
    }
    app.stop().await;
}

#[tokio::test]
async fn concurrent_one_clicks_are_each_recorded_once_on_sqlite() {
    concurrent_one_clicks_are_each_recorded_once("sqlite").await;
}

#[tokio::test]
async fn concurrent_one_clicks_are_each_recorded_once_on_postgres() {
    concurrent_one_clicks_are_each_recorded_once("postgres").await;
}

fn opt_out(list: &ContactList, email: &str, topic: Option<&str>) -> optbox::server::store::OptOut {
    optbox::server::store::OptOut {
        list: std::sync::Arc::new(list.clone()),
        hash: email_hash(&EmailAddress::parse(email).unwrap()),
        topic: topic.map(|t| TopicName::parse(t).unwrap()),
        audit: Audit::new(Source::UnsubscribeHeader),
    }
}

async fn add_contact(app: &TestApp, list: &ContactList, email: &str, unsubscribe_all: bool) {
    let nc = NewContact {
        email: EmailAddress::parse(email).unwrap(),
        unsubscribe_all,
        preferences: vec![],
        attributes: String::new(),
    };
    app.store
        .create_contact(list, &nc, &Audit::new(Source::Api))
        .await
        .unwrap();
}

/// One group-commit batch mixing new opt-outs, repeats within the batch, a contact
/// already opted out, a deleted contact (tombstone), topic vs UnsubscribeAll and a topic
/// the list no longer has: exactly one event per change, each with its webhook outbox
/// rows, and the right state.
async fn a_batch_of_opt_outs_writes_each_change_once(backend: &str) {
    use optbox::server::store::NewWebhook;
    let app = spawn_app_on(backend).await;
    let list = seed(&app).await;
    add_contact(&app, &list, "bob@example.com", false).await;
    add_contact(&app, &list, "cat@example.com", true).await;
    add_contact(&app, &list, "dan@example.com", false).await;
    app.store
        .delete_contact(
            &list,
            &EmailAddress::parse("dan@example.com").unwrap(),
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
    let hook = |list_name: Option<&str>| NewWebhook {
        url: "http://127.0.0.1:9/hook".into(),
        secret: "s".repeat(32),
        // No types: every event type.
        event_types: vec![],
        list_name: list_name.map(str::to_owned),
    };
    let all_lists = app.store.create_webhook(&hook(None)).await.unwrap();
    let other_list = app
        .store
        .create_webhook(&hook(Some("other")))
        .await
        .unwrap();
    let before = subscription_events(&app).await.len();
    let items = vec![
        opt_out(&list, "Ann@Example.com", Some("news")),
        opt_out(&list, "Ann@Example.com", Some("news")),
        opt_out(&list, "Ann@Example.com", None),
        opt_out(&list, "bob@example.com", None),
        opt_out(&list, "bob@example.com", None),
        opt_out(&list, "cat@example.com", None),
        opt_out(&list, "dan@example.com", Some("news")),
        opt_out(&list, "dan@example.com", None),
        opt_out(&list, "dan@example.com", Some("news")),
        opt_out(&list, "bob@example.com", Some("nosuchtopic")),
        opt_out(&list, "bob@example.com", Some("offers")),
    ];
    let results = app.store.apply_opt_outs(&items, None).await.unwrap();
    assert_eq!(results.len(), items.len());
    for (i, r) in results.iter().enumerate() {
        if i == 9 {
            assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
        } else {
            assert!(r.is_ok(), "item {i}: {r:?}");
        }
    }
    let mut evs = subscription_events(&app).await;
    evs.truncate(evs.len() - before);
    evs.reverse();
    let got: Vec<(Option<&str>, Option<&str>)> = evs
        .iter()
        .map(|e| (e.contact_email.as_deref(), e.topic_name.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("Ann@Example.com"), Some("news")),
            (Some("Ann@Example.com"), None),
            (Some("bob@example.com"), None),
            (None, Some("news")),
            (None, None),
            (Some("bob@example.com"), Some("offers")),
        ]
    );
    assert!(
        evs.iter()
            .all(|e| e.source.as_deref() == Some("UnsubscribeHeader"))
    );
    // Old and new preferences as the item-by-item path records them.
    let first = &evs[0];
    let old: Preferences = serde_json::from_str(first.old_prefs.as_deref().unwrap()).unwrap();
    let new: Preferences = serde_json::from_str(first.new_prefs.as_deref().unwrap()).unwrap();
    assert!(!old.unsubscribe_all && old.topics.is_empty());
    assert_eq!(new.topics.len(), 1);
    assert_eq!(new.topics[0].status, SubscriptionStatus::OptOut);
    let second_new: Preferences =
        serde_json::from_str(evs[1].new_prefs.as_deref().unwrap()).unwrap();
    assert!(second_new.unsubscribe_all);
    assert_eq!(second_new.topics, new.topics);

    let ann = contact(&app, &list).await;
    assert!(ann.unsubscribe_all);
    assert_eq!(ann.explicit("news"), Some(SubscriptionStatus::OptOut));
    let bob = app
        .store
        .get_contact(&list, &EmailAddress::parse("bob@example.com").unwrap())
        .await
        .unwrap();
    assert!(bob.unsubscribe_all);
    assert_eq!(bob.explicit("offers"), Some(SubscriptionStatus::OptOut));
    assert!(bob.updated_at >= ann.created_at);
    let tomb = app
        .store
        .get_tombstone(
            &list,
            &email_hash(&EmailAddress::parse("dan@example.com").unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(tomb.unsubscribe_all);
    assert_eq!(
        tomb.opted_out_topics,
        vec![TopicName::parse("news").unwrap()]
    );

    // Every event has its outbox row for the all-lists webhook, none for the other list's.
    let deliveries = app
        .store
        .list_deliveries(all_lists.id, None, None, 100)
        .await
        .unwrap();
    let mut delivered: Vec<i64> = deliveries.iter().map(|d| d.event_id).collect();
    delivered.sort();
    let mut ids: Vec<i64> = evs.iter().map(|e| e.id).collect();
    ids.sort();
    assert_eq!(delivered, ids);
    assert!(
        app.store
            .list_deliveries(other_list.id, None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // The same batch again writes nothing.
    let again = app.store.apply_opt_outs(&items, None).await.unwrap();
    assert_eq!(again.iter().filter(|r| r.is_ok()).count(), items.len() - 1);
    assert_eq!(subscription_events(&app).await.len(), before + 6);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_of_opt_outs_writes_each_change_once_on_sqlite() {
    a_batch_of_opt_outs_writes_each_change_once("sqlite").await;
}

#[tokio::test]
async fn a_batch_of_opt_outs_writes_each_change_once_on_postgres() {
    a_batch_of_opt_outs_writes_each_change_once("postgres").await;
}

/// An opt-out whose list was deleted after the token was resolved is not lost: it is
/// kept for the list's name (a list of that name created again has it), and the rest of
/// the batch is committed with it.
async fn an_opt_out_for_a_list_deleted_meanwhile_is_kept_with_its_batch(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = seed(&app).await;
    add_contact(&app, &list, "bob@example.com", false).await;
    let gone = app
        .store
        .create_list("gone", &ListDefinition::default(), None)
        .await
        .unwrap();
    app.store.delete_list("gone").await.unwrap();
    let items = vec![
        opt_out(&list, "bob@example.com", None),
        opt_out(&gone, "someone@example.com", None),
        opt_out(&list, "Ann@Example.com", Some("news")),
    ];
    let results = app.store.apply_opt_outs(&items, None).await.unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let again = app
        .store
        .create_list("gone", &ListDefinition::default(), None)
        .await
        .unwrap();
    let tomb = app
        .store
        .get_tombstone(
            &again,
            &email_hash(&EmailAddress::parse("someone@example.com").unwrap()),
        )
        .await
        .unwrap()
        .expect("the opt-out is kept for the list's name");
    assert!(tomb.unsubscribe_all);
    let bob = app
        .store
        .get_contact(&list, &EmailAddress::parse("bob@example.com").unwrap())
        .await
        .unwrap();
    assert!(bob.unsubscribe_all);
    assert_eq!(
        contact(&app, &list).await.explicit("news"),
        Some(SubscriptionStatus::OptOut)
    );
    assert_eq!(subscription_events(&app).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_opt_out_for_a_list_deleted_meanwhile_is_kept_with_its_batch_on_sqlite() {
    an_opt_out_for_a_list_deleted_meanwhile_is_kept_with_its_batch("sqlite").await;
}

#[tokio::test]
async fn an_opt_out_for_a_list_deleted_meanwhile_is_kept_with_its_batch_on_postgres() {
    an_opt_out_for_a_list_deleted_meanwhile_is_kept_with_its_batch("postgres").await;
}

/// The recipient path reads lists through a short-lived cache; changes made through the
/// same store are seen at once.
#[tokio::test]
async fn the_list_cache_sees_its_own_store_changes_at_once() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let cached = app.store.get_list_cached("shop").await.unwrap();
    assert_eq!(cached.topics.len(), 3);
    let mut def = ListDefinition {
        topics: list.topics.clone(),
        ..Default::default()
    };
    def.topics.pop();
    app.store.update_list("shop", &def).await.unwrap();
    assert_eq!(
        app.store
            .get_list_cached("shop")
            .await
            .unwrap()
            .topics
            .len(),
        2
    );
    app.store.delete_list("shop").await.unwrap();
    assert!(matches!(
        app.store.get_list_cached("shop").await,
        Err(StoreError::NotFound)
    ));
}

/// Regression: building a server renders the app once to list its routes, and leptos
/// does that with a process-wide "suppress resource loads" flag set. A page rendered in
/// that window, by any server of the process, never resolved and hung until the request
/// timeout (408): it broke one full test run in two. optbox now lists the routes once per
/// process, so building more servers while pages render must not hang any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_other_servers_start_in_the_same_process() {
    let app = spawn_app().await;
    let list = seed(&app).await;
    let url = link(&app, &list, None);
    let store = app.store.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let building = stop.clone();
    let builder = tokio::spawn(async move {
        let mut built = 0;
        while !building.load(std::sync::atomic::Ordering::Relaxed) {
            let settings = optbox::server::config::Settings {
                smtp_listen: "127.0.0.1:0".parse().unwrap(),
                ..Default::default()
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            optbox::server::startup::Application::build_with_store(
                settings,
                store.clone(),
                Some(listener),
            )
            .await
            .expect("build a second server");
            built += 1;
        }
        built
    });
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(45))
        .build()
        .unwrap();
    for _ in 0..300 {
        // A hung page ends in the server's 408 after its 30 s request timeout.
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("The news"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let built = builder.await.unwrap();
    assert!(
        built > 10,
        "only {built} servers were built while the pages rendered"
    );
    app.stop().await;
}

/// The preference page's CSP: its one script from its own origin, nothing inline; a
/// list's logo and colour must not need any exception.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn the_page_shows_the_lists_logo_and_colour_from_its_own_origin(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = seed(&app).await;
    let url = link(&app, &list, None);
    // Unbranded: no stylesheet of its own, no logo, and the logo route has nothing.
    let html = app.get_text(&url).await;
    assert!(html.contains(r#"data-brand="shop""#), "{html}");
    assert!(!html.contains("/l/shop/"), "{html}");
    let r = app
        .client
        .get(app.url("/l/shop/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A light colour (black text on its buttons) and a PNG logo, as the dashboard saves them.
    let owner = optbox::server::service::auth::create_user(
        &*app.store,
        "owner@example.com",
        optbox::server::service::auth::Role::Owner,
        "correct horse battery",
        &common::setup(),
    )
    .await
    .unwrap();
    let actor = optbox::server::service::auth::actor(&*app.store, owner.id)
        .await
        .unwrap();
    optbox::server::service::admin::save_details(
        &*app.store,
        &app.state.limits,
        &actor,
        "shop",
        &optbox::server::service::admin::ListDetails {
            display_name: "Shop".into(),
            accent_color: "#FFCC00".into(),
            ..Default::default()
        },
        &common::setup(),
    )
    .await
    .unwrap();
    let logo = optbox::server::service::branding::upload_logo(
        &*app.store,
        &app.state.logos,
        &actor,
        "shop",
        common::images::PNG,
        &common::setup(),
    )
    .await
    .unwrap();

    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-security-policy"],
        PAGE_CSP,
        "the page's CSP is unchanged"
    );
    let html = r.text().await.unwrap();
    let logo_src = format!("/l/shop/logo?v={}", logo.version);
    assert!(
        html.contains(&format!(r#"src="{logo_src}""#)),
        "the page shows the logo from its own origin: {html}"
    );
    assert!(
        html.contains(r#"rel="stylesheet" href="/l/shop/theme.css?v=ffcc00""#),
        "the page links the list's stylesheet: {html}"
    );
    assert!(!html.contains("style="), "no inline style: {html}");

    let r = app.client.get(app.url(&logo_src)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().contains_key("content-security-policy"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), common::images::PNG);
    let css = app.get_text(&app.url("/l/shop/theme.css?v=ffcc00")).await;
    assert!(
        css.contains(r#"[data-brand="shop"]{--accent:#ffcc00;--accent-fg:#000000;--accent-text:#"#),
        "{css}"
    );
    // Unknown lists have neither.
    for path in ["/l/nope/logo", "/l/nope/theme.css", "/l/bad%20name/logo"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_page_shows_the_lists_logo_and_colour_from_its_own_origin_on_sqlite() {
    the_page_shows_the_lists_logo_and_colour_from_its_own_origin("sqlite").await;
}

#[tokio::test]
async fn the_page_shows_the_lists_logo_and_colour_from_its_own_origin_on_postgres() {
    the_page_shows_the_lists_logo_and_colour_from_its_own_origin("postgres").await;
}

#[tokio::test]
async fn the_branding_routes_share_the_recipient_rate_limit() {
    let app = spawn_with("sqlite", |s| {
        s.limits.recipient_rate_per_ip = 1;
        s.limits.recipient_burst = 2;
    })
    .await;
    seed(&app).await;
    for path in ["/l/shop/theme.css", "/l/shop/logo"] {
        assert_ne!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let r = app
        .client
        .get(app.url("/l/shop/theme.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}
