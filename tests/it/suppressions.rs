//! The account suppression list on SQLite and PostgreSQL: the store (put, get, filtered
//! and keyset-paged listings, delete, with their events), the SES v2 operations
//! (Put/Get/Delete/ListSuppressedDestinations and their errors), CreateImportJob with a
//! SuppressionListDestination, sending (SendEmail and SMTP accept a message for a
//! suppressed address, queue nothing for it and log a `bounce` event) and the
//! dashboard page. The real AWS CLI and boto3 drive the same operations in
//! `ses_compat.rs`.
#![cfg(feature = "ssr")]

use crate::common;

use common::dashboard::{form, sign_in};
use common::ses::{SesClient, label};
use common::{TestApp, TestDb, raw_sql, spawn_with};
use optbox::domain::SuppressionReason::{Bounce, Complaint};
use optbox::server::config::SmtpSettings;
use optbox::server::service::{api_keys, auth::Role};
use optbox::server::store::*;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

crate::common::on_each_backend!(
    multi_thread:
    the_store_puts_gets_lists_pages_and_deletes,
    the_ses_api_puts_gets_lists_and_deletes,
    send_email_accepts_a_suppressed_address_and_queues_nothing_for_it,
    smtp_accepts_a_suppressed_address_and_queues_nothing_for_it,
    import_jobs_put_and_delete_suppressions,
    the_dashboard_lists_searches_and_removes_with_a_reason,
    erasure_leaves_only_keyed_hashes_and_the_address_is_never_mailed_again,
    retention_prunes_old_bodies_and_events_and_keeps_what_is_queued,
    the_consent_history_proves_itself_against_a_signed_checkpoint,
);

fn api_audit() -> Audit {
    Audit::new(Source::Api).by("OBXTEST")
}

fn new(email: &str, reason: optbox::domain::SuppressionReason) -> NewSuppression<'_> {
    NewSuppression {
        email,
        reason,
        message_id: None,
        feedback_id: None,
    }
}

async fn events_of(store: &DynStore, kind: &str) -> Vec<EventRecord> {
    store
        .query_events(&EventQuery {
            kind: Some(kind.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// An event's detail without the SES `mail` object a send's events carry, which is
/// checked here: it names the event's message and recipient.
fn detail(e: &EventRecord) -> Value {
    let mut v: Value = serde_json::from_str(&e.detail).unwrap();
    if let Some(mail) = v.as_object_mut().and_then(|o| o.remove("mail")) {
        assert_eq!(mail["messageId"], v["messageId"], "{mail}");
        assert_eq!(mail["destination"][0], v["recipient"], "{mail}");
    }
    v
}

async fn the_store_puts_gets_lists_pages_and_deletes(backend: &str) {
    let db = TestDb::new(backend).await;
    let s = db.store().await;
    // Five entries, each a few ms after the one before (the listing is newest first).
    let all = [
        ("a@example.com", Bounce),
        ("b@example.com", Complaint),
        ("C@Example.com", Bounce),
        ("d@other.org", Complaint),
        ("e@other.org", Bounce),
    ];
    for (email, reason) in all {
        let ev = MailEvent {
            kind: "suppression.put",
            list_name: None,
            topic_name: None,
            contact_email: Some(email),
            detail: json!({"email": email, "reason": reason.as_str()}),
        };
        s.put_suppressions(&[new(email, reason)], &api_audit(), &[ev])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Lower-cased, found in any case.
    let c = s.get_suppression("c@EXAMPLE.COM").await.unwrap().unwrap();
    assert_eq!(c.email, "c@example.com");
    assert_eq!(c.reason, Bounce);
    assert!(s.get_suppression("zz@example.com").await.unwrap().is_none());
    let q = |reasons: Vec<_>| SuppressionQuery {
        reasons,
        limit: 100,
        ..Default::default()
    };
    let emails = |v: Vec<Suppression>| v.into_iter().map(|x| x.email).collect::<Vec<_>>();
    assert_eq!(
        emails(s.list_suppressions(&q(vec![])).await.unwrap()),
        [
            "e@other.org",
            "d@other.org",
            "c@example.com",
            "b@example.com",
            "a@example.com"
        ]
    );
    assert_eq!(
        emails(s.list_suppressions(&q(vec![Complaint])).await.unwrap()),
        ["d@other.org", "b@example.com"]
    );
    assert_eq!(
        s.list_suppressions(&q(vec![Bounce, Complaint]))
            .await
            .unwrap()
            .len(),
        5
    );
    // Search (a substring, LIKE wildcards taken literally) and dates.
    let found = s
        .list_suppressions(&SuppressionQuery {
            search: Some("other".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(emails(found), ["e@other.org", "d@other.org"]);
    let none = s
        .list_suppressions(&SuppressionQuery {
            search: Some("_".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    let b = s.get_suppression("b@example.com").await.unwrap().unwrap();
    let d = s.get_suppression("d@other.org").await.unwrap().unwrap();
    let between = s
        .list_suppressions(&SuppressionQuery {
            start: Some(b.updated_at),
            end: Some(d.updated_at),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        emails(between),
        ["d@other.org", "c@example.com", "b@example.com"]
    );
    // Keyset pages of two visit every entry once, in order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_suppressions(&SuppressionQuery {
                after: after.clone(),
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|x| (x.updated_at, x.email.clone()));
        seen.extend(emails(page));
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], "e@other.org");
    // Many at once.
    let among = s
        .suppressed_among(&[
            "A@example.com".into(),
            "nobody@example.com".into(),
            "e@other.org".into(),
        ])
        .await
        .unwrap();
    let mut got = emails(among);
    got.sort();
    assert_eq!(got, ["a@example.com", "e@other.org"]);
    // A second put changes the reason and the time.
    s.put_suppressions(&[new("a@example.com", Complaint)], &api_audit(), &[])
        .await
        .unwrap();
    let a = s.get_suppression("a@example.com").await.unwrap().unwrap();
    assert_eq!(a.reason, Complaint);
    assert!(a.updated_at > d.updated_at);
    // Delete: true once, then false; the event is written only when it was there.
    let ev = |email: &'static str| MailEvent {
        kind: "suppression.delete",
        list_name: None,
        topic_name: None,
        contact_email: Some(email),
        detail: json!({"email": email, "reason": "BOUNCE"}),
    };
    assert!(
        s.delete_suppression("C@example.com", &api_audit(), &[ev("c@example.com")])
            .await
            .unwrap()
    );
    assert!(
        !s.delete_suppression("c@example.com", &api_audit(), &[ev("c@example.com")])
            .await
            .unwrap()
    );
    assert!(s.get_suppression("c@example.com").await.unwrap().is_none());
    assert_eq!(events_of(&s, "suppression.put").await.len(), 5);
    let deletes = events_of(&s, "suppression.delete").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].actor.as_deref(), Some("api_key"));
    assert_eq!(deletes[0].actor_id.as_deref(), Some("OBXTEST"));
    assert_eq!(deletes[0].contact_email.as_deref(), Some("c@example.com"));
    db.cleanup().await;
}

async fn client(app: &TestApp) -> SesClient {
    let key = api_keys::create(&*app.store, &app.api_master, "supp", &common::setup())
        .await
        .unwrap();
    SesClient::new(&app.base, &key.access_key_id, &key.secret_access_key)
}

const ADDRESSES: &str = "/v2/email/suppression/addresses";

async fn the_ses_api_puts_gets_lists_and_deletes(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let ses = client(&app).await;
    let before = time::OffsetDateTime::now_utc().unix_timestamp() as f64 - 1.0;
    for (i, (email, reason)) in [
        ("ann+x@Example.com", "BOUNCE"),
        ("bob@example.com", "COMPLAINT"),
        ("cem@example.com", "BOUNCE"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = ses
            .put(ADDRESSES, json!({"EmailAddress": email, "Reason": reason}))
            .await;
        assert_eq!(r.ok(), &json!({}), "put {i}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Get: the address as the list keeps it, the reason, a numeric timestamp.
    let r = ses
        .get(&format!("{ADDRESSES}/{}", label("ann+x@example.com")))
        .await;
    let d = &r.ok()["SuppressedDestination"];
    assert_eq!(d["EmailAddress"], "ann+x@example.com");
    assert_eq!(d["Reason"], "BOUNCE");
    let t = d["LastUpdateTime"].as_f64().expect("epoch seconds");
    assert!(t >= before && t < before + 120.0, "{t}");
    assert!(d.get("Attributes").is_none(), "{d}");
    // An entry a bounce put there names its message and feedback.
    app.store
        .put_suppressions(
            &[NewSuppression {
                email: "dee@example.com",
                reason: Bounce,
                message_id: Some("0100019-abc"),
                feedback_id: Some("fb-1"),
            }],
            &api_audit(),
            &[],
        )
        .await
        .unwrap();
    let r = ses
        .get(&format!("{ADDRESSES}/{}", label("dee@example.com")))
        .await;
    assert_eq!(
        r.ok()["SuppressedDestination"]["Attributes"],
        json!({"MessageId": "0100019-abc", "FeedbackId": "fb-1"})
    );
    let mut partial = new("eve@example.com", Complaint);
    partial.message_id = Some("0100019-def");
    app.store
        .put_suppressions(&[partial], &api_audit(), &[])
        .await
        .unwrap();
    let r = ses
        .get(&format!("{ADDRESSES}/{}", label("eve@example.com")))
        .await;
    assert_eq!(
        r.ok()["SuppressedDestination"]["Attributes"],
        json!({"MessageId": "0100019-def"})
    );
    for gone in ["dee@example.com", "eve@example.com"] {
        app.store
            .delete_suppression(gone, &api_audit(), &[])
            .await
            .unwrap();
    }
    // Errors in SES's shapes.
    let r = ses
        .get(&format!("{ADDRESSES}/{}", label("nobody@example.com")))
        .await;
    let m = r.err(404, "NotFoundException");
    assert!(m.contains("nobody@example.com"), "{m}");
    let r = ses
        .put(
            ADDRESSES,
            json!({"EmailAddress": "x@example.com", "Reason": "SPAM"}),
        )
        .await;
    assert_eq!(
        r.err(400, "BadRequestException"),
        "1 validation error detected: Value 'SPAM' at 'reason' failed to satisfy constraint: Member must satisfy enum value set: [BOUNCE, COMPLAINT]"
    );
    let r = ses
        .put(
            ADDRESSES,
            json!({"EmailAddress": "not-an-address", "Reason": "BOUNCE"}),
        )
        .await;
    assert_eq!(
        r.err(400, "BadRequestException"),
        "EmailAddress <not-an-address> is invalid"
    );
    let r = ses.put(ADDRESSES, json!({"Reason": "BOUNCE"})).await;
    assert!(r.err(400, "BadRequestException").contains("emailAddress"));
    let r = ses
        .call("GET", ADDRESSES, &[("Reason", "NOPE")], None)
        .await;
    r.err(400, "BadRequestException");
    let r = ses
        .call("GET", ADDRESSES, &[("PageSize", "1001")], None)
        .await;
    r.err(400, "BadRequestException");
    let r = ses
        .call("GET", ADDRESSES, &[("StartDate", "last tuesday")], None)
        .await;
    r.err(400, "BadRequestException");
    let r = ses
        .call("GET", ADDRESSES, &[("NextToken", "garbage!")], None)
        .await;
    r.err(400, "InvalidNextTokenException");
    // List: newest first; a Reason filter; pages of one.
    let r = ses.get(ADDRESSES).await;
    let all: Vec<&str> = r.ok()["SuppressedDestinationSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["EmailAddress"].as_str().unwrap())
        .collect();
    assert_eq!(
        all,
        ["cem@example.com", "bob@example.com", "ann+x@example.com"]
    );
    assert!(r.json.get("NextToken").is_none());
    let r = ses
        .call("GET", ADDRESSES, &[("Reason", "COMPLAINT")], None)
        .await;
    let s = &r.ok()["SuppressedDestinationSummaries"];
    assert_eq!(s.as_array().unwrap().len(), 1);
    assert_eq!(s[0]["EmailAddress"], "bob@example.com");
    assert_eq!(s[0]["Reason"], "COMPLAINT");
    assert!(s[0]["LastUpdateTime"].is_number());
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut q = vec![
            ("PageSize", "1"),
            ("Reason", "BOUNCE"),
            ("Reason", "COMPLAINT"),
        ];
        if let Some(t) = &token {
            q.push(("NextToken", t.as_str()));
        }
        let r = ses.call("GET", ADDRESSES, &q, None).await;
        let v = r.ok();
        for x in v["SuppressedDestinationSummaries"].as_array().unwrap() {
            seen.push(x["EmailAddress"].as_str().unwrap().to_owned());
        }
        match v["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, all);
    // Dates: ISO 8601 (as botocore sends them) and epoch seconds.
    let future = "2100-01-01T00:00:00Z";
    let r = ses
        .call("GET", ADDRESSES, &[("StartDate", future)], None)
        .await;
    assert!(
        r.ok()["SuppressedDestinationSummaries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = ses
        .call(
            "GET",
            ADDRESSES,
            &[("EndDate", "2000-01-01T00:00:00Z")],
            None,
        )
        .await;
    assert!(
        r.ok()["SuppressedDestinationSummaries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let since = format!("{}", before as i64);
    let r = ses
        .call("GET", ADDRESSES, &[("StartDate", &since)], None)
        .await;
    assert_eq!(
        r.ok()["SuppressedDestinationSummaries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Delete, then it is gone; a second delete is NotFound.
    let path = format!("{ADDRESSES}/{}", label("bob@example.com"));
    assert_eq!(ses.delete(&path).await.ok(), &json!({}));
    ses.get(&path).await.err(404, "NotFoundException");
    ses.delete(&path).await.err(404, "NotFoundException");
    // Every change has its event, made by the key through the API.
    let puts = events_of(&app.store, "suppression.put").await;
    assert_eq!(puts.len(), 3);
    let deletes = events_of(&app.store, "suppression.delete").await;
    assert_eq!(deletes.len(), 1);
    let e = &deletes[0];
    assert_eq!(e.source.as_deref(), Some("Api"));
    assert_eq!(e.actor.as_deref(), Some("api_key"));
    assert_eq!(e.actor_id.as_deref(), Some(ses.key_id.as_str()));
    assert_eq!(
        detail(e),
        json!({"email": "bob@example.com", "reason": "COMPLAINT"})
    );
    app.stop().await;
}

async fn setup_list(ses: &SesClient) {
    ses.post(
        "/v2/email/contact-lists",
        json!({"ContactListName": "news", "Topics": [
            {"TopicName": "weekly", "DisplayName": "Weekly", "DefaultSubscriptionStatus": "OPT_IN"}
        ]}),
    )
    .await
    .ok();
}

fn simple(to: &[&str], list: Option<(&str, &str)>) -> Value {
    let mut v = json!({
        "FromEmailAddress": "sender@example.com",
        "Destination": {"ToAddresses": to},
        "Content": {"Simple": {
            "Subject": {"Data": "Hello"},
            "Body": {"Text": {"Data": "Hi there"}},
        }},
    });
    if let Some((l, t)) = list {
        v["ListManagementOptions"] = json!({"ContactListName": l, "TopicName": t});
    }
    v
}

/// The `bounce` events of a message, by recipient.
async fn bounces(store: &DynStore, message_id: &str) -> Vec<EventRecord> {
    events_of(store, "bounce")
        .await
        .into_iter()
        .filter(|e| detail(e)["messageId"] == message_id)
        .collect()
}

fn expected_bounce(message_id: &str, rcpt: &str, reason: &str) -> Value {
    json!({
        "messageId": message_id,
        "recipient": rcpt,
        "bounceType": "Permanent",
        "bounceSubType": "OnAccountSuppressionList",
        "suppressed": false,
        "via": "suppression",
        "reason": reason,
    })
}

async fn send_email_accepts_a_suppressed_address_and_queues_nothing_for_it(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let ses = client(&app).await;
    setup_list(&ses).await;
    for (email, reason) in [
        ("gone@example.org", "BOUNCE"),
        ("angry@example.org", "COMPLAINT"),
    ] {
        ses.put(ADDRESSES, json!({"EmailAddress": email, "Reason": reason}))
            .await
            .ok();
    }
    let outbound = "/v2/email/outbound-emails";
    // Transactional, to a suppressed address only (given in another case): 200 and a
    // MessageId, nothing queued, one bounce event.
    let r = ses
        .post(outbound, simple(&["Gone@Example.org"], None))
        .await;
    let mid = r.ok()["MessageId"].as_str().unwrap().to_owned();
    assert!(
        app.store
            .list_mail(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let b = bounces(&app.store, &mid).await;
    assert_eq!(b.len(), 1);
    assert_eq!(
        detail(&b[0]),
        expected_bounce(&mid, "Gone@Example.org", "BOUNCE")
    );
    assert_eq!(b[0].contact_email.as_deref(), Some("Gone@Example.org"));
    assert_eq!(b[0].list_name, None);
    assert_eq!(b[0].message_id.as_deref(), Some(mid.as_str()));
    // One suppressed and one deliverable recipient: only the second is queued.
    let r = ses
        .post(
            outbound,
            simple(&["angry@example.org", "fine@example.org"], None),
        )
        .await;
    let mid = r.ok()["MessageId"].as_str().unwrap().to_owned();
    let queued = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].rcpt, "fine@example.org");
    assert_eq!(queued[0].message_id, mid);
    let b = bounces(&app.store, &mid).await;
    assert_eq!(b.len(), 1);
    assert_eq!(
        detail(&b[0]),
        expected_bounce(&mid, "angry@example.org", "COMPLAINT")
    );
    // List-managed: the same, with the list and topic on the event.
    let r = ses
        .post(
            outbound,
            simple(&["gone@example.org"], Some(("news", "weekly"))),
        )
        .await;
    let mid = r.ok()["MessageId"].as_str().unwrap().to_owned();
    assert_eq!(app.store.list_mail(None, None, 10).await.unwrap().len(), 1);
    let b = bounces(&app.store, &mid).await;
    assert_eq!(b.len(), 1);
    assert_eq!(
        detail(&b[0]),
        expected_bounce(&mid, "gone@example.org", "BOUNCE")
    );
    assert_eq!(b[0].list_name.as_deref(), Some("news"));
    assert_eq!(b[0].topic_name.as_deref(), Some("weekly"));
    assert_eq!(b[0].contact_email.as_deref(), Some("gone@example.org"));
    // No send event for a message nobody gets.
    let sends = events_of(&app.store, "send").await;
    assert!(
        sends
            .iter()
            .all(|e| e.contact_email.as_deref() != Some("gone@example.org")),
        "{sends:?}"
    );
    // Off the list, the address gets mail again.
    ses.delete(&format!("{ADDRESSES}/{}", label("gone@example.org")))
        .await
        .ok();
    let r = ses
        .post(outbound, simple(&["gone@example.org"], None))
        .await;
    r.ok();
    let queued = app.store.list_mail(None, None, 10).await.unwrap();
    assert!(queued.iter().any(|m| m.rcpt == "gone@example.org"));
    app.stop().await;
}

/// One SMTP session over an in-memory pipe, the client's lines written at once.
async fn smtp_session(app: &TestApp, client: &str) -> String {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let ctx = optbox::server::smtp::Context::new(
        app.state.clone(),
        SmtpSettings::default(),
        "127.0.0.1:2525".parse().unwrap(),
        rx,
        optbox::server::smtp::Role::Submission,
    )
    .unwrap();
    let (mut c, s) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(async move {
        optbox::server::smtp::session::serve(&ctx, s, "127.0.0.1:40000".parse().unwrap())
            .await
            .unwrap();
    });
    c.write_all(client.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out))
        .await
        .expect("the session ends")
        .unwrap();
    server.await.unwrap();
    String::from_utf8(out).unwrap()
}

fn smtp_script(id: &str, secret: &str, rcpts: &[&str], headers: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("\0{id}\0{secret}"));
    let mut s =
        format!("EHLO client.example\r\nAUTH PLAIN {auth}\r\nMAIL FROM:<sender@example.com>\r\n");
    for r in rcpts {
        s.push_str(&format!("RCPT TO:<{r}>\r\n"));
    }
    s.push_str(&format!(
        "DATA\r\nFrom: sender@example.com\r\nSubject: hi\r\n{headers}\r\nbody\r\n.\r\nQUIT\r\n"
    ));
    s
}

fn queued_id(t: &str) -> String {
    t.lines()
        .find_map(|l| l.strip_prefix("250 2.0.0 Ok: queued as "))
        .unwrap_or_else(|| panic!("no 250 queued line: {t}"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn smtp_accepts_a_suppressed_address_and_queues_nothing_for_it(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let ses = client(&app).await;
    setup_list(&ses).await;
    ses.put(
        ADDRESSES,
        json!({"EmailAddress": "gone@example.org", "Reason": "BOUNCE"}),
    )
    .await
    .ok();
    let (id, secret) = (ses.key_id.clone(), ses.secret.clone());
    // Only a suppressed recipient: 250 (not refused at the protocol level), nothing queued.
    let t = smtp_session(&app, &smtp_script(&id, &secret, &["gone@example.org"], "")).await;
    assert!(!t.contains("\r\n5"), "no refusal: {t}");
    let mid = queued_id(&t);
    assert!(
        app.store
            .list_mail(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let b = bounces(&app.store, &mid).await;
    assert_eq!(b.len(), 1, "{t}");
    assert_eq!(
        detail(&b[0]),
        expected_bounce(&mid, "gone@example.org", "BOUNCE")
    );
    // With another recipient: that one is queued.
    let t = smtp_session(
        &app,
        &smtp_script(&id, &secret, &["gone@example.org", "fine@example.org"], ""),
    )
    .await;
    let mid = queued_id(&t);
    let queued = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].rcpt, "fine@example.org");
    assert_eq!(queued[0].message_id, mid);
    assert_eq!(bounces(&app.store, &mid).await.len(), 1);
    // List-managed (the options header): the same, the event names list and topic.
    let t = smtp_session(
        &app,
        &smtp_script(
            &id,
            &secret,
            &["gone@example.org"],
            "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n",
        ),
    )
    .await;
    let mid = queued_id(&t);
    assert_eq!(app.store.list_mail(None, None, 10).await.unwrap().len(), 1);
    let b = bounces(&app.store, &mid).await;
    assert_eq!(b.len(), 1, "{t}");
    assert_eq!(b[0].list_name.as_deref(), Some("news"));
    assert_eq!(b[0].topic_name.as_deref(), Some("weekly"));
    // An opted-out recipient is still refused as before.
    ses.post(
        "/v2/email/contact-lists/news/contacts",
        json!({"EmailAddress": "out@example.org", "UnsubscribeAll": true}),
    )
    .await
    .ok();
    let t = smtp_session(
        &app,
        &smtp_script(
            &id,
            &secret,
            &["out@example.org"],
            "X-SES-LIST-MANAGEMENT-OPTIONS: news\r\n",
        ),
    )
    .await;
    assert!(t.contains("550 5.7.1 <out@example.org>"), "{t}");
    app.stop().await;
}

/// Polls GetImportJob until the job has finished.
async fn finished_job(ses: &SesClient, job: &str) -> Value {
    for _ in 0..400 {
        let r = ses.get(&format!("/v2/email/import-jobs/{job}")).await;
        let v = r.ok().clone();
        if v["JobStatus"] == "COMPLETED" || v["JobStatus"] == "FAILED" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("import job {job} did not finish");
}

async fn import_jobs_put_and_delete_suppressions(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let ses = client(&app).await;
    let up = app.import_dir.join("uploads");
    std::fs::create_dir_all(&up).unwrap();
    let mut csv = String::from("emailAddress,reason\n");
    for i in 0..1500 {
        let reason = if i % 3 == 0 { "COMPLAINT" } else { "BOUNCE" };
        csv.push_str(&format!("User{i}@Example.com,{reason}\n"));
    }
    csv.push_str("broken,BOUNCE\nok@example.com,SPAM\n");
    std::fs::write(up.join("supp.csv"), csv).unwrap();
    let r = ses
        .post(
            "/v2/email/import-jobs",
            json!({
                "ImportDestination": {"SuppressionListDestination": {"SuppressionListImportAction": "PUT"}},
                "ImportDataSource": {"S3Url": "s3://uploads/supp.csv", "DataFormat": "CSV"},
            }),
        )
        .await;
    let put_job = r.ok()["JobId"].as_str().unwrap().to_owned();
    let v = finished_job(&ses, &put_job).await;
    assert_eq!(v["JobStatus"], "COMPLETED", "{v}");
    assert_eq!(v["ProcessedRecordsCount"], 1502, "{v}");
    assert_eq!(v["FailedRecordsCount"], 2, "{v}");
    assert_eq!(
        v["ImportDestination"],
        json!({"SuppressionListDestination": {"SuppressionListImportAction": "PUT"}})
    );
    assert_eq!(
        v["FailureInfo"]["FailedRecordsS3Url"],
        format!("s3://failures/{put_job}.csv")
    );
    let s = app
        .store
        .get_suppression("user3@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.reason, Complaint);
    let all = app
        .store
        .list_suppressions(&SuppressionQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1000, "a full page");
    // Through the API: the default page is 1,000, then a NextToken to the other 500.
    let r = ses.get(ADDRESSES).await;
    let v = r.ok();
    assert_eq!(
        v["SuppressedDestinationSummaries"]
            .as_array()
            .unwrap()
            .len(),
        1000
    );
    let token = v["NextToken"].as_str().expect("a second page").to_owned();
    let r = ses
        .call("GET", ADDRESSES, &[("NextToken", token.as_str())], None)
        .await;
    let v = r.ok();
    assert_eq!(
        v["SuppressedDestinationSummaries"]
            .as_array()
            .unwrap()
            .len(),
        500
    );
    assert!(v.get("NextToken").is_none());
    // The job's changes are events made by the job (the newest 1,000 of 1,500 here).
    let puts = events_of(&app.store, "suppression.put").await;
    assert_eq!(puts.len(), 1000, "a full page of events");
    assert_eq!(puts[0].actor.as_deref(), Some("import"));
    assert_eq!(puts[0].actor_id.as_deref(), Some(put_job.as_str()));
    assert_eq!(puts[0].source.as_deref(), Some("Import"));
    // DELETE from JSON lines: two on the list, one not.
    std::fs::write(
        up.join("gone.jsonl"),
        "{\"emailAddress\":\"user1@example.com\"}\n{\"emailAddress\":\"user2@example.com\",\"reason\":\"BOUNCE\"}\n{\"emailAddress\":\"never@example.com\"}\n",
    )
    .unwrap();
    let r = ses
        .post(
            "/v2/email/import-jobs",
            json!({
                "ImportDestination": {"SuppressionListDestination": {"SuppressionListImportAction": "DELETE"}},
                "ImportDataSource": {"S3Url": "s3://uploads/gone.jsonl", "DataFormat": "JSON"},
            }),
        )
        .await;
    let del_job = r.ok()["JobId"].as_str().unwrap().to_owned();
    let v = finished_job(&ses, &del_job).await;
    assert_eq!(v["JobStatus"], "COMPLETED", "{v}");
    assert_eq!(v["ProcessedRecordsCount"], 3, "{v}");
    assert_eq!(v["FailedRecordsCount"], 0, "{v}");
    for gone in ["user1@example.com", "user2@example.com"] {
        assert!(app.store.get_suppression(gone).await.unwrap().is_none());
    }
    assert!(
        app.store
            .get_suppression("user4@example.com")
            .await
            .unwrap()
            .is_some()
    );
    let deletes = events_of(&app.store, "suppression.delete").await;
    assert_eq!(deletes.len(), 2, "only addresses that were on the list");
    // ListImportJobs filters by destination type.
    let r = ses
        .post(
            "/v2/email/import-jobs/list",
            json!({"ImportDestinationType": "SUPPRESSION_LIST"}),
        )
        .await;
    let ids: Vec<&str> = r.ok()["ImportJobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["JobId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [del_job.as_str(), put_job.as_str()]);
    let r = ses
        .post(
            "/v2/email/import-jobs/list",
            json!({"ImportDestinationType": "CONTACT_LIST"}),
        )
        .await;
    assert!(r.ok()["ImportJobs"].as_array().unwrap().is_empty());
    // Refusals: a bad action, both destinations at once.
    let r = ses
        .post(
            "/v2/email/import-jobs",
            json!({
                "ImportDestination": {"SuppressionListDestination": {"SuppressionListImportAction": "MERGE"}},
                "ImportDataSource": {"S3Url": "s3://uploads/supp.csv", "DataFormat": "CSV"},
            }),
        )
        .await;
    r.err(400, "BadRequestException");
    let r = ses
        .post(
            "/v2/email/import-jobs",
            json!({
                "ImportDestination": {
                    "SuppressionListDestination": {"SuppressionListImportAction": "PUT"},
                    "ContactListDestination": {"ContactListName": "x", "ContactListImportAction": "PUT"},
                },
                "ImportDataSource": {"S3Url": "s3://uploads/supp.csv", "DataFormat": "CSV"},
            }),
        )
        .await;
    r.err(400, "BadRequestException");
    app.stop().await;
}

async fn the_dashboard_lists_searches_and_removes_with_a_reason(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let audit = api_audit();
    for i in 0..60 {
        let email = format!("user{i:02}@example.com");
        let reason = if i % 2 == 0 { Bounce } else { Complaint };
        app.store
            .put_suppressions(&[new(&email, reason)], &audit, &[])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sign_in(&app, Role::Admin).await;
    let page = "/admin/suppressions";
    let html = app.get_text(&app.url(page)).await;
    assert!(
        html.contains(r#"href="/admin/suppressions""#),
        "a nav entry: {html}"
    );
    assert!(html.contains(r#"<table id="suppressions""#), "{html}");
    let first = html.find("user59@example.com").expect("newest first");
    assert!(html.find("user58@example.com").unwrap() > first);
    assert!(!html.contains("user09@example.com"), "50 per page");
    assert!(html.contains(r#"id="next-page""#));
    let next = {
        let i = html.find(r#"id="next-page""#).unwrap();
        let h = html[..i].rfind("href=\"").unwrap();
        html[h + 6..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
    };
    let html = app.get_text(&app.url(&next)).await;
    assert!(html.contains("user09@example.com") && html.contains("user00@example.com"));
    assert!(!html.contains("user10@example.com"), "{html}");
    // Search and the reason filter.
    let html = app
        .get_text(&app.url(&format!("{page}?q=user1&reason=COMPLAINT")))
        .await;
    let rows = html.matches("<tr>").count() - 1;
    assert_eq!(rows, 5, "user11, 13, 15, 17, 19: {html}");
    // Remove: a reason is required; it is kept in the event.
    let loc = form(
        &app,
        "/api/remove_suppression",
        page,
        &[("email", "user11@example.com"), ("why", "  ")],
    )
    .await;
    assert!(loc.contains("__err="), "{loc}");
    assert!(
        app.store
            .get_suppression("user11@example.com")
            .await
            .unwrap()
            .is_some()
    );
    form(
        &app,
        "/api/remove_suppression",
        page,
        &[
            ("email", "user11@example.com"),
            ("why", "the recipient asked us by phone"),
        ],
    )
    .await;
    assert!(
        app.store
            .get_suppression("user11@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let deletes = events_of(&app.store, "suppression.delete").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        detail(&deletes[0]),
        json!({"email": "user11@example.com", "reason": "COMPLAINT", "why": "the recipient asked us by phone"})
    );
    assert_eq!(deletes[0].source.as_deref(), Some("Admin"));
    assert_eq!(deletes[0].actor.as_deref(), Some("user"));
    // The contact page says whether the address is suppressed.
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    for e in ["user12@example.com", "user11@example.com"] {
        app.store
            .create_contact(
                &list,
                &NewContact {
                    email: optbox::domain::EmailAddress::parse(e).unwrap(),
                    unsubscribe_all: false,
                    preferences: vec![],
                    attributes: String::new(),
                },
                &audit,
            )
            .await
            .unwrap();
    }
    let html = app
        .get_text(&app.url("/admin/lists/demo/contact?email=user12%40example.com"))
        .await;
    assert!(html.contains(r#"id="suppressed""#), "{html}");
    assert!(html.contains("BOUNCE"), "{html}");
    let html = app
        .get_text(&app.url("/admin/lists/demo/contact?email=user11%40example.com"))
        .await;
    assert!(!html.contains(r#"id="suppressed""#), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn viewers_see_the_list_but_cannot_remove() {
    let app = spawn_with("sqlite", |_| {}).await;
    app.store
        .put_suppressions(&[new("x@example.com", Bounce)], &api_audit(), &[])
        .await
        .unwrap();
    sign_in(&app, Role::Viewer).await;
    let html = app.get_text(&app.url("/admin/suppressions")).await;
    assert!(html.contains("x@example.com"), "{html}");
    assert!(
        !html.contains("remove-suppression"),
        "no remove form: {html}"
    );
    let r = app
        .client
        .post(app.url("/api/remove_suppression"))
        .header("origin", &app.base)
        .form(&[("email", "x@example.com"), ("why", "because")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        app.store
            .get_suppression("x@example.com")
            .await
            .unwrap()
            .is_some()
    );
    app.stop().await;
}

/// `optbox …` against the test's database, in its own process.
fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    cli_with(app, &[], args)
}

/// Every byte of the SQLite database's files (none on PostgreSQL).
fn sqlite_files(url: &str) -> Vec<u8> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Vec::new();
    };
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            all.extend(b);
        }
    }
    all
}

fn mentions(bytes: &[u8], needle: &str) -> bool {
    let hay = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    hay.contains(&needle.to_ascii_lowercase())
}

/// The right of access and the right to erasure: `optbox contacts show` lists all that
/// is stored about an address; `optbox contacts erase` leaves no copy of it (on SQLite,
/// not even in the database's files), keeps its opt-outs as hashes, logs the request,
/// and the address is never mailed again. Unknown and repeated erasures are one line.
async fn erasure_leaves_only_keyed_hashes_and_the_address_is_never_mailed_again(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let ses = client(&app).await;
    setup_list(&ses).await;
    ses.post(
        "/v2/email/contact-lists",
        json!({"ContactListName": "offers", "Topics": []}),
    )
    .await
    .ok();
    let who = "Erin.Erasable@Example.net";
    let contacts = "/v2/email/contact-lists/offers/contacts";
    ses.post(
        contacts,
        json!({"EmailAddress": who, "AttributesData": "{\"name\":\"Erin Q. Private\"}"}),
    )
    .await
    .ok();
    // An attribute change first: its old cell must not survive in the file either.
    ses.put(
        &format!("{contacts}/{}", label(who)),
        json!({"AttributesData": "{\"name\":\"Erin Q. Private\",\"city\":\"Zzyzx\"}"}),
    )
    .await
    .ok();
    let outbound = "/v2/email/outbound-emails";
    let mid = ses
        .post(outbound, simple(&[who], Some(("news", "weekly"))))
        .await
        .ok()["MessageId"]
        .as_str()
        .unwrap()
        .to_owned();
    ses.post(outbound, simple(&["other@example.net"], None))
        .await
        .ok();
    ses.put(
        ADDRESSES,
        json!({"EmailAddress": who, "Reason": "COMPLAINT"}),
    )
    .await
    .ok();

    // Access: everything, as JSON.
    let out = cli(&app, &["contacts", "show", "--email", who]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lists: Vec<&str> = report["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["list"].as_str().unwrap())
        .collect();
    assert_eq!(lists, ["news", "offers"], "{report}");
    assert!(
        report["contacts"][1]["attributes"]
            .as_str()
            .unwrap()
            .contains("Zzyzx")
    );
    assert_eq!(report["suppression"]["reason"], "COMPLAINT");
    assert_eq!(report["messages"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["messages"][0]["messageId"], mid.as_str());
    assert_eq!(report["sends"][0]["listName"], "news");
    assert!(report["events"].as_array().unwrap().len() >= 3, "{report}");
    assert!(report["erasedAt"].is_null());
    assert!(mentions(&sqlite_files(&app.db.url), who) || backend == "postgres");

    // Erasure.
    let out = cli(&app, &["contacts", "erase", "--email", who]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.starts_with(&format!("erased {who}: 2 contacts, "))
            && !said.contains(" 0 events")
            && said.contains("its suppression"),
        "{said}"
    );
    // Nothing readable names it any more: no contact, event, message, send record or
    // suppression (the other recipient's message stays).
    let report: Value =
        serde_json::from_slice(&cli(&app, &["contacts", "show", "--email", who]).stdout).unwrap();
    for key in ["contacts", "messages", "sends"] {
        assert_eq!(report[key].as_array().unwrap().len(), 0, "{key}: {report}");
    }
    // Its events stay (the log is whole), naming it by a keyed hash only.
    let events = report["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["contact_email"].is_null() && e["user_agent"].is_null())
    );
    assert!(!mentions(
        serde_json::to_string(events).unwrap().as_bytes(),
        who
    ));
    assert!(report["suppression"].is_null());
    assert!(report["erasedAt"].as_i64().is_some());
    // Its opt-outs stay, as hashes: both lists say unsubscribed from all.
    let opt_outs = report["optOuts"].as_array().unwrap();
    assert_eq!(opt_outs.len(), 2, "{report}");
    assert!(opt_outs.iter().all(|o| o["unsubscribeAll"] == true));
    // Keyed hashes only: no tombstone holds the address hash (of any spelling), which
    // anyone could compute from a guessed address; each list's holds its keyed hash.
    let rows = common::raw_tombstones(&app.db.url, "tombstones").await;
    for spelling in [who.to_owned(), who.to_ascii_lowercase()] {
        let plain = email_hash(&optbox::domain::EmailAddress::parse(&spelling).unwrap());
        assert!(
            rows.iter().all(|r| r.1 != plain),
            "a tombstone holds the address hash of {spelling}"
        );
    }
    let key = common::tombstone_keyer(&app.db.url).await;
    let mine = key(&email_hash(
        &optbox::domain::EmailAddress::parse(who).unwrap(),
    ));
    let lists: Vec<&str> = rows
        .iter()
        .filter(|r| r.1 == mine && r.2)
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(lists, ["news", "offers"], "{rows:?}");
    assert!(
        common::raw_tombstones(&app.db.url, "tombstones_unkeyed")
            .await
            .is_empty()
    );
    let q = EventQuery {
        limit: 1000,
        ..Default::default()
    };
    let all = app.store.query_events(&q).await.unwrap();
    let text = serde_json::to_string(&all).unwrap();
    assert!(!mentions(text.as_bytes(), who), "{text}");
    let erased: Vec<&EventRecord> = all.iter().filter(|e| e.kind == "contact.erased").collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0].actor.as_deref(), Some("cli"));
    let queued = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].rcpt, "other@example.net");
    if backend == "sqlite" {
        let bytes = sqlite_files(&app.db.url);
        assert!(
            !mentions(&bytes, who),
            "the address is left in the database files"
        );
        assert!(
            !mentions(&bytes, "Zzyzx"),
            "an attribute is left in the database files"
        );
    }

    // Never mailed again: accepted as SES accepts a suppressed address, nothing queued,
    // no contact made again, no event naming it.
    let r = ses
        .post(outbound, simple(&[who], Some(("news", "weekly"))))
        .await;
    r.ok();
    ses.post(outbound, simple(&[&who.to_lowercase()], None))
        .await
        .ok();
    let queued = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let list = app.store.get_list("news").await.unwrap();
    let addr = optbox::domain::EmailAddress::parse(who).unwrap();
    assert!(app.store.get_contact(&list, &addr).await.is_err());
    let text = serde_json::to_string(&app.store.query_events(&q).await.unwrap()).unwrap();
    assert!(!mentions(text.as_bytes(), who));

    // Again, and an address never seen: one line each, nothing changed.
    for (email, why) in [
        (who, "it was erased before"),
        (
            "nobody@example.net",
            "no list, event, message or suppression names it",
        ),
    ] {
        let out = cli(&app, &["contacts", "erase", "--email", email]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("nothing is stored about {email}: {why}")),
            "{err}"
        );
    }
    let erasures = app
        .store
        .query_events(&EventQuery {
            kind: Some("contact.erased".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(erasures.len(), 1, "a refused erasure logs nothing");
    let out = cli(&app, &["contacts", "show", "--email", "not an address"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
    app.stop().await;
}

/// Retention: message bodies no longer queued and events older than the cut-off go
/// (with their webhook deliveries); what is queued, tombstones and suppressions stay.
async fn retention_prunes_old_bodies_and_events_and_keeps_what_is_queued(backend: &str) {
    use optbox::server::config::RetentionSettings;
    use optbox::server::service::privacy;
    let app = spawn_with(backend, |_| {}).await;
    let ses = client(&app).await;
    setup_list(&ses).await;
    let outbound = "/v2/email/outbound-emails";
    ses.post(
        outbound,
        simple(&["keep@example.net"], Some(("news", "weekly"))),
    )
    .await
    .ok();
    ses.put(
        ADDRESSES,
        json!({"EmailAddress": "gone@example.net", "Reason": "BOUNCE"}),
    )
    .await
    .ok();
    let msg = NewMail {
        send_id: 424242,
        message_id: "queued@example.net".into(),
        mail_from: "news@example.com".into(),
        rcpt: "waiting@example.net".into(),
        data: b"Subject: x\r\n\r\nx\r\n".to_vec(),
        state: MailState::Queued,
        send: Default::default(),
    };
    app.store.enqueue_mail(&[msg]).await.unwrap();
    let events_before = app
        .store
        .query_events(&EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert!(events_before >= 2);
    // Off: nothing happens.
    let off = RetentionSettings::default();
    let far = optbox::server::store::now_ms() + 40 * 86_400_000;
    assert_eq!(
        privacy::prune(&*app.store, &off, far).await.unwrap(),
        Pruned::default()
    );
    // A month from now with 30-day retention: everything that is not queued goes.
    let on = RetentionSettings {
        retention_messages_days: Some(30),
        retention_events_days: Some(30),
    };
    let soon = optbox::server::store::now_ms() + 86_400_000;
    assert_eq!(
        privacy::prune(&*app.store, &on, soon).await.unwrap(),
        Pruned::default(),
        "nothing is 30 days old yet"
    );
    let p = privacy::prune(&*app.store, &on, far).await.unwrap();
    assert_eq!(p.messages, 1, "{p:?}");
    assert_eq!(p.events as usize, events_before, "{p:?}");
    let left = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].rcpt, "waiting@example.net");
    assert!(
        app.store
            .query_events(&EventQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.store
            .get_suppression("gone@example.net")
            .await
            .unwrap()
            .is_some()
    );
    app.stop().await;
}

fn cli_with(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_optbox"));
    cmd.args(args)
        .env("OPTBOX_DATABASE_URL", &app.db.url)
        .env("OPTBOX_IMPORT_DIR", &app.import_dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn one_line_failure(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("optbox: error: "), "{err}");
    err
}

/// Consent an operator can demonstrate: `optbox contacts history` gives each event about
/// a person with a proof that anyone can check with SHA-256 alone, `optbox events
/// checkpoint` signs the chain's head with a key outside the database, and `optbox events
/// verify` holds the database to it: an erasure keeps it intact, a changed event or a
/// history rewritten and sealed again does not.
async fn the_consent_history_proves_itself_against_a_signed_checkpoint(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let ses = client(&app).await;
    setup_list(&ses).await;
    let who = "Connie.Consent@example.net";
    let contacts = "/v2/email/contact-lists/news/contacts";
    ses.post(contacts, json!({"EmailAddress": who})).await.ok();
    ses.put(
        &format!("{contacts}/{}", label(who)),
        json!({"TopicPreferences": [{"TopicName": "weekly", "SubscriptionStatus": "OPT_OUT"}]}),
    )
    .await
    .ok();
    ses.post(contacts, json!({"EmailAddress": "bystander@example.net"}))
        .await
        .ok();

    // A key of the operator's, outside the database.
    let out = stdout(&cli(&app, &["events", "keygen"]));
    let key = out
        .lines()
        .next()
        .unwrap()
        .strip_prefix("OPTBOX_AUDIT_SIGNING_KEY=")
        .unwrap()
        .to_owned();
    let public = out
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("public key: ")
        .unwrap()
        .to_owned();
    let signed = [("OPTBOX_AUDIT_SIGNING_KEY", key.as_str())];
    let err = one_line_failure(&cli(&app, &["events", "checkpoint"]));
    assert!(err.contains("audit_signing_key is not set"), "{err}");
    let checkpoint = stdout(&cli_with(&app, &signed, &["events", "checkpoint"]));
    let cp: Value = serde_json::from_str(&checkpoint).unwrap();
    assert_eq!(cp["public_key"], public.as_str());
    let cp_file = app.import_dir.join("checkpoint-1.json");
    std::fs::write(&cp_file, &checkpoint).unwrap();
    let cp_path = cp_file.to_str().unwrap();

    // The history: who did what, each event provable with SHA-256 alone.
    let h: Value = serde_json::from_str(&stdout(&cli(
        &app,
        &["contacts", "history", "--email", who, "--json"],
    )))
    .unwrap();
    let events = h["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["contact.created", "subscription"], "{h}");
    for e in events {
        assert_eq!(e["actor"], "api_key", "{e}");
        assert!(e["actor_id"].as_str().unwrap().starts_with("OBX"), "{e}");
        let seal = &e["seal"];
        let content = seal["content"].as_str().unwrap();
        let fields: Value = serde_json::from_str(content).unwrap();
        assert_eq!(fields[0], e["id"], "the content is this event's");
        assert_eq!(fields[2], e["kind"]);
        let commitment = sha256(&[&unhex(seal["salt"].as_str().unwrap()), content.as_bytes()]);
        assert_eq!(commitment, unhex(seal["commitment"].as_str().unwrap()));
        let link = sha256(&[
            b"optbox-seal-v1",
            &unhex(seal["prev_link"].as_str().unwrap()),
            &seal["seq"].as_i64().unwrap().to_be_bytes(),
            &e["id"].as_i64().unwrap().to_be_bytes(),
            &commitment,
        ]);
        assert_eq!(link, unhex(seal["link"].as_str().unwrap()));
    }
    let text = stdout(&cli(&app, &["contacts", "history", "--email", who]));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("subscription\tnews\tApi\tapi_key:OBX"),
        "{text}"
    );

    // The database agrees with the checkpoint.
    let ok = stdout(&cli_with(
        &app,
        &[],
        &[
            "events",
            "verify",
            "--checkpoint",
            cp_path,
            "--public-key",
            &public,
        ],
    ));
    assert!(ok.starts_with("chain intact: "), "{ok}");
    assert!(ok.contains("1 checkpoints hold"), "{ok}");
    // Another key's checkpoint is not accepted.
    let other = stdout(&cli(&app, &["events", "keygen"]));
    let other = other
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("public key: ")
        .unwrap();
    let err = one_line_failure(&cli(
        &app,
        &[
            "events",
            "verify",
            "--checkpoint",
            cp_path,
            "--public-key",
            other,
        ],
    ));
    assert!(err.contains("signed by another key"), "{err}");

    // An erasure keeps the chain and the checkpoint intact.
    stdout(&cli(&app, &["contacts", "erase", "--email", who]));
    let ok = stdout(&cli_with(
        &app,
        &signed,
        &["events", "verify", "--checkpoint", cp_path],
    ));
    assert!(
        ok.contains("erased or pruned") && !ok.contains(" 0 erased"),
        "{ok}"
    );

    // A changed event is named (the bystander's, the newest at the checkpoint).
    let first = cp["seq"].as_i64().unwrap();
    let tamper = format!(
        "UPDATE events SET kind = 'subscription' WHERE id = (SELECT event_id FROM event_seals WHERE seq = {first})"
    );
    let untamper = format!(
        "UPDATE events SET kind = 'contact.created' WHERE id = (SELECT event_id FROM event_seals WHERE seq = {first})"
    );
    raw_sql(&app.db.url, &[&tamper]).await;
    let err = one_line_failure(&cli_with(&app, &signed, &["events", "verify"]));
    assert!(
        err.contains(&format!("broken at seal {first} ")) && err.contains("content"),
        "{err}"
    );
    raw_sql(&app.db.url, &[&untamper]).await;
    // A rewritten history, sealed again from scratch, verifies by itself but not
    // against the checkpoint.
    raw_sql(&app.db.url, &["DELETE FROM event_seals"]).await;
    raw_sql(&app.db.url, &["UPDATE events SET sealed = NULL"]).await;
    stdout(&cli_with(&app, &signed, &["events", "checkpoint"]));
    stdout(&cli_with(&app, &signed, &["events", "verify"]));
    let err = one_line_failure(&cli_with(
        &app,
        &signed,
        &["events", "verify", "--checkpoint", cp_path],
    ));
    assert!(err.contains("rewritten"), "{err}");
    let err = one_line_failure(&cli(
        &app,
        &["events", "verify", "--checkpoint", "/nonexistent.json"],
    ));
    assert!(err.contains("/nonexistent.json"), "{err}");
    app.stop().await;
}
