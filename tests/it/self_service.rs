//! The recipient side beyond the preference page, over HTTP on SQLite and PostgreSQL:
//! pausing a list, managing every subscription by a mailed link, the hosted
//! subscription form with its confirmation, and the survey after an unsubscribe.
#![cfg(feature = "ssr")]

use crate::common;

use common::ses::SesClient;
use common::{TestApp, spawn_app_on, spawn_with};
use optbox::domain::*;
use optbox::server::service::sending::{Submission, Via};
use optbox::server::service::{api_keys, recipient, requests};
use optbox::server::store::{Audit, EventRecord, MailRecord, NewContact, Source};
use reqwest::StatusCode;
use serde_json::json;

crate::common::on_each_backend!(
    a_pause_refuses_mail_reads_as_opt_out_and_ends_by_itself,
    manage_by_email_mails_known_addresses_only_and_changes_every_list,
    a_subscription_waits_for_its_confirmation_and_a_scanner_confirms_nobody,
    the_survey_after_an_unsubscribe_records_one_offered_answer_and_the_overview_counts_it,
);

async fn seed_list(app: &TestApp, name: &str, form: bool) -> ContactList {
    let topic = |n: &str, d| Topic {
        name: TopicName::parse(n).unwrap(),
        display_name: format!("The {n}"),
        description: String::new(),
        default_status: d,
        hidden: false,
    };
    let mut branding = Branding {
        subscribe_form: form,
        ..Default::default()
    };
    branding.topic_texts.insert(
        "news".into(),
        [(
            "de".to_owned(),
            TopicText {
                display_name: "Die Nachrichten".into(),
                description: String::new(),
            },
        )]
        .into(),
    );
    let def = ListDefinition {
        topics: vec![
            topic("news", SubscriptionStatus::OptIn),
            topic("offers", SubscriptionStatus::OptOut),
        ],
        branding,
        ..Default::default()
    };
    app.store.create_list(name, &def, None).await.unwrap()
}

async fn add(app: &TestApp, list: &ContactList, email: &str) {
    let nc = NewContact {
        email: EmailAddress::parse(email).unwrap(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    app.store
        .create_contact(list, &nc, &Audit::new(Source::Api))
        .await
        .unwrap();
}

async fn contact(app: &TestApp, list: &ContactList, email: &str) -> Option<Contact> {
    app.store
        .get_contact(list, &EmailAddress::parse(email).unwrap())
        .await
        .ok()
}

async fn events(app: &TestApp, kind: &str) -> Vec<EventRecord> {
    app.store
        .list_events(None, Some(kind), None, 100)
        .await
        .unwrap()
}

/// The stored messages, with their bytes.
async fn mail(app: &TestApp) -> Vec<MailRecord> {
    let mut out = Vec::new();
    for m in app.store.list_mail(None, None, 100).await.unwrap() {
        out.push(app.store.get_mail(m.id).await.unwrap());
    }
    out
}

/// The stored messages once there are `n` (a manage link is mailed after the answer);
/// for `n` equal to what is there already, after a moment in which no more came.
async fn mail_when(app: &TestApp, n: usize) -> Vec<MailRecord> {
    for _ in 0..100 {
        let m = mail(app).await;
        if m.len() >= n {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            return mail(app).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    mail(app).await
}

/// The refusal reason for a list-managed message to `rcpt`, or `None` if it is sent.
async fn refused(app: &TestApp, rcpt: &str) -> Option<String> {
    let p = app
        .state
        .process_mail(Submission {
            mail_from: "news@example.com".into(),
            rcpts: vec![rcpt.to_owned()],
            data: b"From: news@example.com\r\nSubject: News\r\nX-SES-LIST-MANAGEMENT-OPTIONS: shop; topic=news\r\n\r\nHello.\r\n".to_vec(),
            options: None,
            via: Via::Api,
            key_id: None,
            configuration_set: None,
            tags: vec![],
            scope: Default::default(),
        })
        .await
        .unwrap();
    p.refused.first().map(|r| r.reason.clone())
}

/// A preference-page form POST with the link's `token`; returns where it redirects.
async fn save(app: &TestApp, token: &str, fields: &[(&str, &str)]) -> String {
    let mut all = vec![("token", token)];
    all.extend_from_slice(fields);
    let r = post(app, "/api/save_preferences", &all).await;
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// The path of the link in a stored message (`/m/…` or `/c/…`).
fn link_in(m: &MailRecord, prefix: &str) -> String {
    let text = String::from_utf8_lossy(&m.data).replace("=\r\n", "");
    let at = text
        .find(&format!("/{prefix}/"))
        .unwrap_or_else(|| panic!("no /{prefix}/ link in {text}"));
    text[at..at + 3 + 43].to_owned()
}

async fn a_pause_refuses_mail_reads_as_opt_out_and_ends_by_itself(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = seed_list(&app, "shop", false).await;
    add(&app, &list, "ann@example.com").await;
    let ann = EmailAddress::parse("ann@example.com").unwrap();
    let url = recipient::url_for(&app.keys, &app.base, &list.name, None, &ann);
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(refused(&app, "ann@example.com").await, None);

    // A length the list does not offer changes nothing.
    let r = save(
        &app,
        &token,
        &[("action", "pause"), ("days", "7"), ("lang", "en")],
    )
    .await;
    assert!(r.contains("error=pause"));
    assert_eq!(
        contact(&app, &list, "ann@example.com")
            .await
            .unwrap()
            .paused_until,
        None
    );

    let before = optbox::server::store::now_ms();
    let r = save(
        &app,
        &token,
        &[("action", "pause"), ("days", "30"), ("lang", "en")],
    )
    .await;
    assert!(r.contains("paused=1"));
    let until = contact(&app, &list, "ann@example.com")
        .await
        .unwrap()
        .paused_until
        .expect("paused");
    assert!(until >= before + 30 * 86_400_000 && until < before + 31 * 86_400_000);
    let ev = events(&app, "pause").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].source.as_deref(), Some("LandingPage"));

    // Sending treats the pause as an opt-out, with its own reason.
    let why = refused(&app, "ann@example.com").await.expect("refused");
    assert!(why.contains("paused list shop"), "{why}");

    // The page says so and offers to resume.
    let page = app.get_text(&url).await;
    assert!(page.contains("paused until"), "{page}");
    assert!(page.contains("Resume now"));
    // So does the dashboard's contact page.
    common::dashboard::sign_in(&app, optbox::server::service::auth::Role::Viewer).await;
    let admin = app
        .get_text(&app.url("/admin/lists/shop/contact?email=ann@example.com"))
        .await;
    assert!(
        admin.contains("The recipient paused this list until"),
        "{admin}"
    );

    // The SES API shows every topic OPT_OUT, and a read-modify-write keeps the pause.
    let key = api_keys::create(&*app.store, &app.api_master, "t", &common::setup())
        .await
        .unwrap();
    let ses = SesClient::new(&app.base, &key.access_key_id, &key.secret_access_key);
    let got = ses
        .get("/v2/email/contact-lists/shop/contacts/ann@example.com")
        .await;
    let got = got.ok().clone();
    let prefs = got["TopicPreferences"].as_array().unwrap().clone();
    assert_eq!(prefs.len(), 2, "{got}");
    assert!(
        prefs.iter().all(|p| p["SubscriptionStatus"] == "OPT_OUT"),
        "{got}"
    );
    let out = ses
        .post(
            "/v2/email/contact-lists/shop/contacts/list",
            json!({"Filter": {"FilteredStatus": "OPT_OUT", "TopicFilter": {"TopicName": "news", "UseDefaultIfPreferenceUnavailable": true}}}),
        )
        .await;
    assert_eq!(out.ok()["Contacts"].as_array().unwrap().len(), 1);
    let inn = ses
        .post(
            "/v2/email/contact-lists/shop/contacts/list",
            json!({"Filter": {"FilteredStatus": "OPT_IN"}}),
        )
        .await;
    assert_eq!(inn.ok()["Contacts"].as_array().unwrap().len(), 0);
    ses.put(
        "/v2/email/contact-lists/shop/contacts/ann@example.com",
        json!({"TopicPreferences": prefs, "UnsubscribeAll": false, "AttributesData": "{\"a\":1}"}),
    )
    .await
    .ok();
    let c = contact(&app, &list, "ann@example.com").await.unwrap();
    assert_eq!(c.paused_until, Some(until));
    assert!(
        c.preferences.is_empty(),
        "the echoed OPT_OUTs are the pause: {c:?}"
    );
    assert_eq!(c.attributes, "{\"a\":1}");

    // The export carries it.
    let mut out = Vec::new();
    optbox::server::service::import::export(
        &*app.store,
        "shop",
        optbox::server::service::import::Format::Csv,
        &mut out,
    )
    .await
    .unwrap();
    let csv = String::from_utf8(out).unwrap();
    let ann_line = csv.lines().find(|l| l.starts_with("ann@")).unwrap();
    assert!(ann_line.contains("Z,OPT_OUT,OPT_OUT"), "{csv}");

    // Resume now: mail flows again, with a `resume` event.
    save(&app, &token, &[("action", "resume"), ("lang", "en")]).await;
    assert_eq!(refused(&app, "ann@example.com").await, None);
    assert_eq!(events(&app, "resume").await.len(), 1);

    // A pause that ends comes back by itself: sending looks at the time at once, and
    // housekeeping clears it with its `resume` event.
    save(
        &app,
        &token,
        &[("action", "pause"), ("days", "90"), ("lang", "en")],
    )
    .await;
    assert!(refused(&app, "ann@example.com").await.is_some());
    let past = optbox::server::store::now_ms() - 1_000;
    common::raw_sql(
        &app.db.url,
        &[&format!("UPDATE contacts SET paused_until = {past}")],
    )
    .await;
    assert_eq!(refused(&app, "ann@example.com").await, None);
    assert_eq!(requests::housekeeping(&*app.store).await.unwrap(), 1);
    assert_eq!(
        contact(&app, &list, "ann@example.com")
            .await
            .unwrap()
            .paused_until,
        None
    );
    let resumed = events(&app, "resume").await;
    assert_eq!(resumed.len(), 2);
    assert!(resumed.iter().any(|e| e.detail.contains("\"ended\":true")));
    app.stop().await;
}

async fn manage_by_email_mails_known_addresses_only_and_changes_every_list(backend: &str) {
    let app = spawn_app_on(backend).await;
    let shop = seed_list(&app, "shop", false).await;
    let club = seed_list(&app, "club", false).await;
    add(&app, &shop, "ann@example.com").await;
    add(&app, &club, "ann@example.com").await;

    let r = app
        .client
        .get(app.url("/manage?lang=de"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let form = r.text().await.unwrap();
    assert!(form.contains("lang=\"de\"") && form.contains("Abonnements verwalten"));

    let known = post(
        &app,
        "/manage",
        &[("email", "ann@example.com"), ("lang", "en")],
    )
    .await;
    let (s1, b1) = (known.status(), known.text().await.unwrap());
    let unknown = post(
        &app,
        "/manage",
        &[("email", "nobody@example.com"), ("lang", "en")],
    )
    .await;
    let (s2, b2) = (unknown.status(), unknown.text().await.unwrap());
    assert_eq!(
        (s1, &b1),
        (s2, &b2),
        "the same answer whether or not the address is known"
    );
    assert!(b1.contains("Check your inbox"));
    let sent = mail_when(&app, 1).await;
    assert_eq!(sent.len(), 1, "only the known address is mailed");
    assert_eq!(sent[0].rcpt, "ann@example.com");
    let raw = String::from_utf8_lossy(&sent[0].data).to_string();
    assert!(!raw.contains("List-Unsubscribe"), "transactional: {raw}");
    let link = link_in(&sent[0], "m");

    // Opening it changes nothing and shows both lists.
    let page = app.get_text(&app.url(&link)).await;
    assert!(
        page.contains("id=\"list-shop\"") && page.contains("id=\"list-club\""),
        "{page}"
    );
    assert!(events(&app, "subscription").await.is_empty());

    // Each list's controls work from the one page.
    let r = post(
        &app,
        &link,
        &[
            ("list", "shop"),
            ("action", "save"),
            ("prefs[offers]", "on"),
            ("lang", "en"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let c = contact(&app, &shop, "ann@example.com").await.unwrap();
    assert_eq!(
        c.status_for(shop.topic("offers").unwrap()),
        SubscriptionStatus::OptIn
    );
    assert_eq!(
        c.status_for(shop.topic("news").unwrap()),
        SubscriptionStatus::OptOut
    );
    let ev = events(&app, "subscription").await;
    assert_eq!(ev[0].source.as_deref(), Some("ManagePage"));
    post(
        &app,
        &link,
        &[("list", "club"), ("action", "pause"), ("days", "90")],
    )
    .await;
    assert!(
        contact(&app, &club, "ann@example.com")
            .await
            .unwrap()
            .paused_until
            .is_some()
    );
    let r = post(
        &app,
        &link,
        &[("list", "club"), ("action", "pause"), ("days", "5")],
    )
    .await;
    assert_eq!(r.status(), 400, "a pause the list does not offer");
    // A list the address is not on, and no list at all: refused, nothing written.
    seed_list(&app, "other", false).await;
    let before = events(&app, "subscription").await.len();
    let r = post(
        &app,
        &link,
        &[("list", "other"), ("action", "unsubscribe_all")],
    )
    .await;
    assert_eq!(r.status(), 404, "not on this list");
    let r = post(
        &app,
        &link,
        &[("list", "nosuch"), ("action", "unsubscribe_all")],
    )
    .await;
    assert_eq!(r.status(), 400, "no such list");
    assert_eq!(events(&app, "subscription").await.len(), before);
    post(
        &app,
        &link,
        &[("list", "club"), ("action", "unsubscribe_all")],
    )
    .await;
    assert!(
        contact(&app, &club, "ann@example.com")
            .await
            .unwrap()
            .unsubscribe_all
    );

    // An opt-out does not stop this mail (it is what the person asked for) …
    post(&app, "/manage", &[("email", "ann@example.com")]).await;
    assert_eq!(mail_when(&app, 2).await.len(), 2);
    // … the per-address limit does (3 a day, however many clients ask, however the
    // address is spelled) …
    let r = post(&app, "/manage", &[("email", "ann@example.com")]).await;
    assert_eq!(r.status(), 200);
    let r = post(&app, "/manage", &[("email", "ANN@Example.com")]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Too many requests"));
    assert_eq!(mail_when(&app, 3).await.len(), 3);

    // … and a bounce suppression does, without saying so.
    let bob = EmailAddress::parse("bob@example.com").unwrap();
    add(&app, &shop, bob.as_str()).await;
    optbox::server::service::suppressions::put(
        &*app.store,
        bob.as_str(),
        SuppressionReason::Bounce,
        &Audit::new(Source::Api),
        None,
    )
    .await
    .unwrap();
    let r = post(&app, "/manage", &[("email", "bob@example.com")]).await;
    assert_eq!(r.text().await.unwrap(), b1);
    assert_eq!(
        mail_when(&app, 3).await.len(),
        3,
        "no mail to a suppressed address"
    );

    // Bad input: a clear page, nothing sent.
    let r = post(
        &app,
        "/manage",
        &[("email", "not an address"), ("lang", "ru")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Это не адрес электронной почты.")
    );
    let r = app.client.get(app.url("/m/forged")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let forged = format!("/m/{}", "A".repeat(43));
    let r = post(
        &app,
        &forged,
        &[("list", "shop"), ("action", "unsubscribe_all")],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert!(
        !contact(&app, &shop, "ann@example.com")
            .await
            .unwrap()
            .unsubscribe_all
    );
    // An expired link asks for a new one.
    common::raw_sql(
        &app.db.url,
        &["UPDATE recipient_requests SET expires_at = 1"],
    )
    .await;
    let r = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("/manage?lang="));

    // An erasure takes the address's links with it, in any spelling.
    let ann = EmailAddress::parse("Ann@Example.com").unwrap();
    let nobody = EmailAddress::parse("nobody@example.com").unwrap();
    assert_eq!(
        app.store.count_requests("manage", &ann, 0).await.unwrap(),
        3
    );
    app.store
        .erase_subject(&ann, &Audit::new(Source::Api))
        .await
        .unwrap();
    assert_eq!(
        app.store.count_requests("manage", &ann, 0).await.unwrap(),
        0
    );
    assert_eq!(
        app.store
            .count_requests("manage", &nobody, 0)
            .await
            .unwrap(),
        1
    );
    app.stop().await;
}

async fn a_subscription_waits_for_its_confirmation_and_a_scanner_confirms_nobody(backend: &str) {
    let app = spawn_with(backend, |s| s.limits.form_requests_per_minute = 6).await;
    let shop = seed_list(&app, "shop", true).await;
    seed_list(&app, "closed", false).await;
    add(&app, &shop, "ann@example.com").await;

    let r = app
        .client
        .get(app.url("/s/shop?lang=de"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let form = r.text().await.unwrap();
    assert!(
        form.contains("Die Nachrichten"),
        "topic names in the visitor's language"
    );
    assert!(form.contains("name=\"website\""), "the honeypot");
    for path in ["/s/closed", "/s/nothing", "/s/bad%20name"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }

    // Asking subscribes nobody; it mails a link.
    let r = post(
        &app,
        "/s/shop",
        &[
            ("email", "new@example.com"),
            ("topic", "offers"),
            ("website", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(contact(&app, &shop, "new@example.com").await.is_none());
    let sent = mail(&app).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rcpt, "new@example.com");
    let link = link_in(&sent[0], "c");

    // A link scanner's GET confirms nothing.
    let r = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Confirm my subscription"));
    assert!(contact(&app, &shop, "new@example.com").await.is_none());

    // The person's POST does, with the consent on record.
    let r = post(&app, &link, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("is confirmed"));
    let c = contact(&app, &shop, "new@example.com").await.unwrap();
    assert_eq!(
        c.status_for(shop.topic("offers").unwrap()),
        SubscriptionStatus::OptIn
    );
    let consent = events(&app, "subscription.confirmed").await;
    assert_eq!(consent.len(), 1);
    assert_eq!(consent[0].source.as_deref(), Some("SubscribeForm"));
    let d: serde_json::Value = serde_json::from_str(&consent[0].detail).unwrap();
    assert!(d["wording"].as_str().unwrap().contains("agree"));
    assert!(d["requestIpHash"].is_string() && d["requestedAt"].is_i64());
    assert!(consent[0].ip_hash.is_some());
    // Once only.
    post(&app, &link, &[]).await;
    assert_eq!(events(&app, "subscription.confirmed").await.len(), 1);

    // Someone who opted out comes back the same way, and only that way.
    let ann = EmailAddress::parse("ann@example.com").unwrap();
    let change = optbox::server::store::ContactChange {
        unsubscribe_all: Some(true),
        preferences: None,
        attributes: None,
    };
    app.store
        .update_contact(&shop, &ann, &change, &Audit::new(Source::LandingPage))
        .await
        .unwrap();
    post(&app, "/s/shop", &[("email", "ann@example.com")]).await;
    assert!(
        contact(&app, &shop, "ann@example.com")
            .await
            .unwrap()
            .unsubscribe_all
    );
    let link = link_in(
        mail(&app)
            .await
            .iter()
            .find(|m| m.rcpt == "ann@example.com")
            .unwrap(),
        "c",
    );
    post(&app, &link, &[]).await;
    let c = contact(&app, &shop, "ann@example.com").await.unwrap();
    assert!(!c.unsubscribe_all);
    assert_eq!(
        c.status_for(shop.topic("news").unwrap()),
        SubscriptionStatus::OptIn
    );

    // Bots: the honeypot gets the same answer and no mail.
    let before = mail(&app).await.len();
    let r = post(
        &app,
        "/s/shop",
        &[("email", "bot@example.com"), ("website", "http://spam")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(mail(&app).await.len(), before);
    // Bad addresses get the form again with the reason, in the visitor's language.
    let r = post(&app, "/s/shop", &[("email", "nope"), ("lang", "fr")]).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("pas une adresse e-mail valide.")
    );
    // One address gets at most three a day, whoever asks.
    for _ in 0..3 {
        post(&app, "/s/shop", &[("email", "target@example.com")]).await;
    }
    let r = post(&app, "/s/shop", &[("email", "target@example.com")]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let to_target = mail(&app)
        .await
        .iter()
        .filter(|m| m.rcpt == "target@example.com")
        .count();
    assert_eq!(to_target, 3);
    // One client gets its per-minute share (6 here), then 429 for any address.
    let r = post(&app, "/s/shop", &[("email", "other@example.com")]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Forged and expired confirmation links change nothing.
    let forged = format!("/c/{}", "B".repeat(43));
    assert_eq!(post(&app, &forged, &[]).await.status(), 404);
    app.stop().await;
}

async fn the_survey_after_an_unsubscribe_records_one_offered_answer_and_the_overview_counts_it(
    backend: &str,
) {
    let app = spawn_app_on(backend).await;
    let list = seed_list(&app, "shop", false).await;
    add(&app, &list, "ann@example.com").await;
    let ann = EmailAddress::parse("ann@example.com").unwrap();
    let url = recipient::url_for(&app.keys, &app.base, &list.name, None, &ann);
    let token = url.rsplit('/').next().unwrap().to_owned();

    // The one-click answer, in the browser's language, offers the built-in answers:
    // shown in German, sent in English so that every language counts together.
    let r = app
        .client
        .post(&url)
        .header("accept-language", "de-DE,de;q=0.9")
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"de\""), "{html}");
    assert!(html.contains("Sie sind abgemeldet"), "{html}");
    assert!(html.contains("id=\"survey-form\""), "{html}");
    assert!(
        html.contains("value=\"I get too many emails\" required><label for=\"reason-0\">Ich bekomme zu viele E-Mails</label>"),
        "{html}"
    );
    assert!(
        contact(&app, &list, "ann@example.com")
            .await
            .unwrap()
            .unsubscribe_all
    );

    // An answer the list does not offer is refused and records nothing.
    let r = save(
        &app,
        &token,
        &[("action", "reason"), ("reason", "Your CEO"), ("lang", "de")],
    )
    .await;
    assert!(r.contains("error=reason"));
    assert!(events(&app, "unsubscribe.reason").await.is_empty());

    // An offered one is kept with the free text, trimmed, without control characters
    // and cut to 500 characters.
    let long = format!("  weekly is enough\u{7}{}", "x".repeat(600));
    let r = save(
        &app,
        &token,
        &[
            ("action", "reason"),
            ("reason", "I get too many emails"),
            ("comment", &long),
            ("lang", "de"),
        ],
    )
    .await;
    let loc = r;
    assert!(loc.contains("thanks=1"), "{loc}");
    let ev = events(&app, "unsubscribe.reason").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].list_name.as_deref(), Some("shop"));
    assert_eq!(ev[0].contact_email.as_deref(), Some("ann@example.com"));
    let detail: serde_json::Value = serde_json::from_str(&ev[0].detail).unwrap();
    assert_eq!(detail["reason"], "I get too many emails");
    let comment = detail["comment"].as_str().unwrap();
    assert!(comment.starts_with("weekly is enoughxxx"), "{comment}");
    assert_eq!(comment.chars().count(), 500);
    let page = app.get_text(&app.url(&loc)).await;
    assert!(page.contains("Danke für Ihre Antwort."), "{page}");
    assert!(!page.contains("survey-form"), "asked once: {page}");

    // The page asks after a save that opts out of something, not after an opt-in.
    let r = save(&app, &token, &[("action", "save"), ("prefs[news]", "on")]).await;
    let page = app.get_text(&app.url(&r)).await;
    assert!(!page.contains("survey-form"), "{page}");
    let r = save(&app, &token, &[("action", "save")]).await;
    let page = app.get_text(&app.url(&r)).await;
    assert!(page.contains("survey-form"), "{page}");

    // A list with its own answers offers those; one that asks nothing shows no survey.
    let mut own = list.clone();
    own.branding.unsubscribe_reasons = Some(vec!["Too expensive".into()]);
    let def = |l: &ContactList| ListDefinition {
        description: l.description.clone(),
        topics: l.topics.clone(),
        tags: l.tags.clone(),
        branding: l.branding.clone(),
    };
    app.store.update_list("shop", &def(&own)).await.unwrap();
    let one_click = |u: String| {
        let c = app.client.clone();
        async move {
            c.post(u)
                .form(&[("List-Unsubscribe", "One-Click")])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let bob = EmailAddress::parse("bob@example.com").unwrap();
    add(&app, &list, "bob@example.com").await;
    let bob_url = recipient::url_for(&app.keys, &app.base, &list.name, None, &bob);
    // (A change through this store is seen at once, the list cache notwithstanding.)
    let html = one_click(bob_url.clone()).await;
    assert!(html.contains("value=\"Too expensive\""), "{html}");
    assert!(!html.contains("I get too many emails"), "{html}");
    own.branding.unsubscribe_reasons = Some(vec![]);
    app.store.update_list("shop", &def(&own)).await.unwrap();
    let html = one_click(bob_url).await;
    assert!(!html.contains("survey-form"), "{html}");
    assert!(html.contains("You are unsubscribed"), "{html}");

    // The overview counts the answer per list.
    let snap = app.state.overview.refresh(&app.store).await.unwrap();
    let s = snap
        .by_reason
        .iter()
        .find(|s| s.name == "shop: I get too many emails")
        .expect("a series for the answer");
    assert_eq!(s.total, 1);
    app.stop().await;
}
