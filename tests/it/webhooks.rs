//! Webhooks on SQLite and PostgreSQL, against a real HTTP receiver: the SES
//! `Subscription` payload and its signature, retries while the receiver is down, dead
//! letters and replay, event-log queries, a killed instance, and two instances sharing
//! one PostgreSQL outbox.
#![cfg(feature = "ssr")]

use crate::common;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use common::{TestApp, TestDb, spawn_with};
use hmac::{Hmac, Mac};
use optbox::domain::*;
use optbox::server::config::Settings;
use optbox::server::service::{recipient, webhooks as wh};
use optbox::server::store::*;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec-0123456789abcdef";

crate::common::on_each_backend!(
    multi_thread:
    events_arrive_signed_in_the_ses_subscription_shape,
    bounces_and_complaints_arrive_signed_in_the_ses_shapes,
    a_receiver_that_is_down_gets_every_event_once_it_is_back,
    deliveries_are_dead_lettered_after_the_window_and_replayable,
    the_event_log_filters_and_pages_by_list_topic_contact_type_and_time,
    a_killed_instance_loses_no_delivery,
    the_cli_adds_lists_tests_and_removes_webhooks,
    sigterm_lets_deliveries_in_flight_finish_and_records_them,
    private_addresses_are_refused_and_failures_do_not_say_why,
    configuration_sets_route_events_choose_suppressions_and_attribute_unsubscribes,
    configuration_changes_reach_only_webhooks_that_name_them,
);

// ---------------------------------------------------------------- the receiver

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Hit {
    event_id: String,
    body: Value,
    signature_ok: bool,
    /// What the receiver answered.
    status: u16,
}

#[derive(Default)]
struct Seen {
    hits: Vec<Hit>,
    in_flight: HashMap<String, u32>,
    /// Event ids that were being handled twice at the same moment.
    concurrent: Vec<String>,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    /// The status to answer with.
    answer: Arc<AtomicU16>,
    /// How long to take per request.
    delay_ms: Arc<AtomicU64>,
    addr: SocketAddr,
    server: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

fn verify(sig: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = sig.strip_prefix("t=").and_then(|s| s.split_once(",v1=")) else {
        return false;
    };
    let Ok(ts) = t.parse::<i64>() else {
        return false;
    };
    if (now_ms() / 1000 - ts).abs() > 300 {
        return false;
    }
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(format!("{t}.").as_bytes());
    m.update(body);
    let want: String = m
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    want == v1
}

async fn receive(State(r): State<Receiver>, req: Request) -> StatusCode {
    let sig = req
        .headers()
        .get("optbox-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let event_id = v["eventId"].as_str().unwrap_or("").to_owned();
    {
        let mut s = r.seen.lock().unwrap();
        let n = s.in_flight.entry(event_id.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.concurrent.push(event_id.clone());
        }
    }
    let delay = r.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = r.answer.load(Ordering::SeqCst);
    let mut s = r.seen.lock().unwrap();
    *s.in_flight.get_mut(&event_id).unwrap() -= 1;
    s.hits.push(Hit {
        event_id,
        signature_ok: verify(&sig, &body),
        body: v,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            seen: Default::default(),
            answer: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            addr: listener.local_addr().unwrap(),
            server: Default::default(),
        };
        r.serve(listener);
        r
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock().unwrap() = Some(h);
    }

    /// Stops listening: connections are refused until `up`.
    fn down(&self) {
        if let Some(h) = self.server.lock().unwrap().take() {
            h.abort();
        }
    }

    async fn up(&self) {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_reuseaddr(true).unwrap();
        let t = Instant::now();
        loop {
            match sock.bind(self.addr) {
                Ok(()) => break,
                Err(e) => {
                    assert!(t.elapsed() < Duration::from_secs(5), "rebind: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        self.serve(sock.listen(1024).unwrap());
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.seen.lock().unwrap().hits.clone()
    }

    /// Event ids answered with a 2xx, with how often.
    fn delivered(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for h in self.hits().iter().filter(|h| h.status < 300) {
            *m.entry(h.event_id.clone()).or_default() += 1;
        }
        m
    }

    /// Waits until every id in `ids` was answered with a 2xx.
    async fn wait_for(&self, ids: &[String], within: Duration) {
        let t = Instant::now();
        loop {
            let d = self.delivered();
            let missing: Vec<_> = ids.iter().filter(|i| !d.contains_key(*i)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                t.elapsed() < within,
                "not delivered within {within:?}: {} of {} missing, e.g. {:?}",
                missing.len(),
                ids.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

// ---------------------------------------------------------------- helpers

/// The receivers listen on 127.0.0.1: the tests opt in to private addresses.
fn fast(s: &mut Settings) {
    s.webhooks.webhook_allow_private = true;
    s.webhooks.webhook_timeout_ms = 1_000;
    s.webhooks.webhook_retry_base_ms = 100;
    s.webhooks.webhook_retry_max_ms = 400;
    s.webhooks.webhook_poll_ms = 20;
}

fn topic(name: &str) -> Topic {
    Topic {
        name: TopicName::parse(name).unwrap(),
        display_name: name.into(),
        description: String::new(),
        default_status: SubscriptionStatus::OptIn,
        hidden: false,
    }
}

async fn make_list(store: &dyn Store, name: &str) -> ContactList {
    let def = ListDefinition {
        topics: vec![topic("weekly"), topic("offers")],
        ..Default::default()
    };
    store.create_list(name, &def, None).await.unwrap()
}

async fn add_contact(store: &dyn Store, list: &ContactList, email: &str) -> Contact {
    let nc = NewContact {
        email: EmailAddress::parse(email).unwrap(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    store
        .create_contact(list, &nc, &Audit::new(Source::Api))
        .await
        .unwrap()
}

/// The ids of events of `kind` in the log, as webhook `eventId`s.
async fn event_ids(store: &dyn Store, kind: &str) -> Vec<String> {
    let q = EventQuery {
        kind: Some(kind.into()),
        limit: 1000,
        ..Default::default()
    };
    store
        .query_events(&q)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect()
}

async fn hook(app: &TestApp, r: &Receiver, events: &[&str], list: Option<&str>) -> i64 {
    let events: Vec<String> = events.iter().map(|s| s.to_string()).collect();
    wh::add(
        &*app.store,
        rules(),
        &r.url(),
        SECRET,
        &events,
        list,
        &common::setup(),
    )
    .await
    .unwrap()
    .id
}

// ---------------------------------------------------------------- tests

/// A configuration set named `name` with `suppressed` reasons (`None`: the account's).
async fn make_set(store: &dyn Store, name: &str, suppressed: Option<Vec<SuppressionReason>>) {
    use optbox::server::service::configuration_sets as sets;
    let set = ConfigurationSetRecord {
        name: name.into(),
        options: "{}".into(),
        tags: vec![],
        suppressed_reasons: suppressed,
        sending_enabled: true,
        created_at: 0,
    };
    sets::create(store, &set, &common::setup()).await.unwrap();
}

/// An event destination of `set` delivering `types` to webhook `id`.
async fn route(store: &dyn Store, set: &str, id: i64, types: &[&str]) {
    use optbox::server::service::configuration_sets as sets;
    let d = sets::Definition {
        enabled: true,
        event_types: types.iter().map(|t| t.to_string()).collect(),
        topic_arn: Some(format!(
            "arn:aws:sns:eu-central-1:123456789012:optbox-webhook-{id}"
        )),
        unsupported: vec![],
    };
    sets::put_destination(store, set, "hook", &d, true, &common::setup())
        .await
        .unwrap();
}

/// The events of `kind` that message `mid` caused, as webhook `eventId`s.
async fn ids_of(store: &dyn Store, kind: &str, mid: &str) -> Vec<String> {
    let q = EventQuery {
        kind: Some(kind.into()),
        limit: 1000,
        ..Default::default()
    };
    store
        .query_events(&q)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.message_id.as_deref() == Some(mid))
        .map(|e| e.id.to_string())
        .collect()
}

async fn configuration_sets_route_events_choose_suppressions_and_attribute_unsubscribes(
    backend: &str,
) {
    use optbox::server::service::sending::{Processed, Submission, Via};
    let app = spawn_with(backend, fast).await;
    let store = &*app.store;
    let (marketing, transactional, everything) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    make_list(store, "news").await;
    let m = hook(&app, &marketing, &[], None).await;
    let t = hook(&app, &transactional, &[], None).await;
    hook(&app, &everything, &[], None).await;
    make_set(store, "marketing", None).await;
    make_set(
        store,
        "transactional",
        Some(vec![SuppressionReason::Bounce]),
    )
    .await;
    route(store, "marketing", m, &["SEND", "SUBSCRIPTION"]).await;
    route(store, "transactional", t, &["SEND", "REJECT", "BOUNCE"]).await;
    // Ann once complained about a newsletter.
    let row = NewSuppression {
        email: "ann@example.com",
        reason: SuppressionReason::Complaint,
        message_id: None,
        feedback_id: None,
    };
    store
        .put_suppressions(&[row], &Audit::new(Source::Api), &[])
        .await
        .unwrap();
    let send = |set: &str, to: &str, list: bool| {
        Submission {
        mail_from: "news@example.com".into(),
        rcpts: vec![to.into()],
        data: format!(
            "From: news@example.com\r\nTo: {to}\r\nSubject: Hi\r\nX-SES-CONFIGURATION-SET: {set}\r\nX-SES-MESSAGE-TAGS: campaign=spring\r\n{}\r\nHello.\r\n",
            if list { "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n" } else { "" }
        )
        .into_bytes(),
        options: None,
        via: Via::Api,
        key_id: None,
        configuration_set: Some(set.into()),
        tags: vec![("campaign".into(), "spring".into())],
        scope: Default::default(),
    }
    };
    let newsletter: Processed = app
        .state
        .process_mail(send("marketing", "bob@example.com", true))
        .await
        .unwrap();
    app.state.enqueue_mail(&newsletter.outgoing).await.unwrap();
    // The complaint does not block a password reset (its set suppresses bounces only)...
    let reset = app
        .state
        .process_mail(send("transactional", "ann@example.com", false))
        .await
        .unwrap();
    assert_eq!(reset.outgoing.len(), 1, "{:?}", reset.suppressed);
    // SES's submission headers are optbox's, not the recipient's.
    for copy in [&newsletter.outgoing[0], &reset.outgoing[0]] {
        let text = String::from_utf8_lossy(&copy.data);
        assert!(!text.contains("X-SES-"), "{text}");
        assert!(text.contains("Subject: Hi"), "{text}");
    }
    // ...but does block the newsletter (its set leaves suppression to the account).
    let blocked = app
        .state
        .process_mail(send("marketing", "ann@example.com", false))
        .await
        .unwrap();
    assert!(blocked.outgoing.is_empty());
    assert_eq!(blocked.suppressed, vec!["ann@example.com".to_owned()]);
    // An unknown set is refused.
    let unknown = app
        .state
        .process_mail(send("nope", "bob@example.com", false))
        .await;
    assert!(
        matches!(
            unknown,
            Err(optbox::server::service::sending::SendError::UnknownConfigurationSet(_))
        ),
        "{unknown:?}"
    );

    // Bob unsubscribes with the link of the copy he got.
    let data = String::from_utf8_lossy(&newsletter.outgoing[0].data).into_owned();
    let at = data.find("/u/").expect("the copy has an unsubscribe link");
    let tok: String = data[at + 3..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let resp = app
        .client
        .post(format!("{}/u/{tok}", app.base))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Carol, who got the same campaign, leaves on the preference page opened from her
    // copy's link; the page save names her copy too.
    let carols: Processed = app
        .state
        .process_mail(send("marketing", "carol@example.com", true))
        .await
        .unwrap();
    app.state.enqueue_mail(&carols.outgoing).await.unwrap();
    let data = String::from_utf8_lossy(&carols.outgoing[0].data).into_owned();
    let at = data.find("/u/").expect("the copy has an unsubscribe link");
    let carol_tok: String = data[at + 3..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let resp = app
        .client
        .post(format!("{}/api/save_preferences", app.base))
        .header("accept", "text/html")
        .header("origin", "null")
        .form(&[
            ("token", carol_tok.as_str()),
            ("action", "unsubscribe_all"),
            ("lang", "en"),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let page_subs = ids_of(store, "subscription", &carols.message_id).await;
    assert_eq!(page_subs.len(), 1, "the page save names its message");
    let logged = store
        .query_events(&EventQuery {
            kind: Some("subscription".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let page_ev = logged
        .iter()
        .find(|e| e.id.to_string() == page_subs[0])
        .unwrap();
    assert_eq!(page_ev.source.as_deref(), Some("LandingPage"));

    let nid = newsletter.message_id.as_str();
    let mut want = ids_of(store, "send", nid).await;
    want.extend(ids_of(store, "send", &carols.message_id).await);
    want.extend(page_subs.clone());
    let subs = ids_of(store, "subscription", nid).await;
    assert_eq!(
        subs.len(),
        1,
        "the unsubscribe names its message in the log"
    );
    want.extend(subs.clone());
    marketing.wait_for(&want, Duration::from_secs(10)).await;
    let reset_sends = ids_of(store, "send", &reset.message_id).await;
    transactional
        .wait_for(&reset_sends, Duration::from_secs(10))
        .await;
    let mut all = want.clone();
    all.extend(reset_sends.clone());
    all.extend(ids_of(store, "bounce", &blocked.message_id).await);
    everything.wait_for(&all, Duration::from_secs(10)).await;

    let got =
        |r: &Receiver| -> Vec<String> { r.hits().iter().map(|h| h.event_id.clone()).collect() };
    // Each set's destination gets its own messages' events of the types it chose, and
    // nothing else: not the other set's, not the suppressed newsletter's bounce.
    let mut m_got = got(&marketing);
    m_got.sort();
    m_got.dedup();
    let mut m_want = want.clone();
    m_want.sort();
    assert_eq!(m_got, m_want);
    let mut t_got = got(&transactional);
    t_got.dedup();
    assert_eq!(t_got, reset_sends);

    let sub = marketing
        .hits()
        .into_iter()
        .find(|h| h.body["eventType"] == "Subscription" && h.body["mail"]["messageId"] == nid)
        .expect("Bob's one-click reaches the campaign's destination")
        .body;
    assert_eq!(sub["mail"]["destination"][0], "bob@example.com");
    assert_eq!(sub["mail"]["tags"]["campaign"][0], "spring");
    assert_eq!(sub["mail"]["tags"]["ses:configuration-set"][0], "marketing");
    assert_eq!(sub["subscription"]["source"], "UnsubscribeHeader");
    assert_eq!(sub["subscription"]["contactList"], "news");
    let page = marketing
        .hits()
        .into_iter()
        .find(|h| h.body["eventType"] == "Subscription" && h.body["mail"]["messageId"] != nid)
        .expect("the page save reaches the campaign's destination")
        .body;
    assert_eq!(page["mail"]["messageId"], carols.message_id.as_str());
    assert_eq!(page["mail"]["destination"][0], "carol@example.com");
    assert_eq!(page["mail"]["tags"]["campaign"][0], "spring");
    assert_eq!(page["subscription"]["source"], "UnsubscribeLandingPage");
    let sent = marketing
        .hits()
        .into_iter()
        .find(|h| h.body["eventType"] == "Send" && h.body["mail"]["messageId"] == nid)
        .expect("the newsletter's Send reaches the campaign's destination")
        .body;
    assert_eq!(sent["mail"]["tags"]["campaign"][0], "spring");
    assert!(
        everything
            .hits()
            .iter()
            .any(|h| h.body["bounce"]["bounceSubType"] == "OnAccountSuppressionList")
    );

    // `optbox webhooks list` says which webhooks only get what sets route to them.
    let out = cli(&app.db.url, &["webhooks", "list"]).await;
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |id: i64| {
        listing
            .lines()
            .find(|l| l.starts_with(&format!("{id}\t")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line(m).contains("events=configuration-sets:marketing/hook"),
        "{listing}"
    );
    assert!(
        line(t).contains("events=configuration-sets:transactional/hook"),
        "{listing}"
    );

    // The overview counts the unsubscribe under the message's tag.
    let snap = app.state.overview.refresh(&app.store).await.unwrap();
    let tag = snap
        .by_tag
        .iter()
        .find(|s| s.name == "campaign=spring")
        .expect("a series for the campaign");
    assert_eq!(tag.total, 2, "Bob's one-click and Carol's page save");
    app.stop().await;
}

async fn bounces_and_complaints_arrive_signed_in_the_ses_shapes(backend: &str) {
    use optbox::server::mail::issued::Purpose;
    use optbox::server::service::inbound::Recipient;
    use optbox::server::service::sending::{Submission, Via};
    let app = spawn_with(backend, |s| {
        fast(s);
        s.inbound.inbound_domain = Some("in.example.test".into());
    })
    .await;
    let r = Receiver::start().await;
    make_list(&*app.store, "news").await;
    make_set(&*app.store, "marketing", None).await;
    hook(&app, &r, &["bounce", "complaint"], None).await;
    let p = app
        .state
        .process_mail(Submission {
            mail_from: "news@example.com".into(),
            rcpts: vec!["ann@example.com".into()],
            data: b"From: news@example.com\r\nTo: ann@example.com\r\nSubject: Hi\r\nX-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n\r\nHello.\r\n".to_vec(),
            options: None,
            via: Via::Api,
            key_id: None,
            configuration_set: Some("marketing".into()),
            tags: vec![("campaign".into(), "dec".into())],
            scope: Default::default(),
        })
        .await
        .unwrap();
    let message_id = app.state.enqueue_mail(&p.outgoing).await.unwrap()[0].clone();
    let to = [Recipient::Issued(Purpose::Bounce, p.outgoing[0].send_id)];
    let report = |kind: &str, part: &str| {
        format!(
            "From: mailer-daemon@mx.example\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type={kind}; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nA report.\r\n\
             --b\r\nContent-Type: message/{kind}\r\n\r\n{part}\r\n--b--\r\n"
        )
    };
    let dsn = report(
        "delivery-status",
        "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; ann@example.com\r\n\
         Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
    );
    let arf = report(
        "feedback-report",
        "Feedback-Type: abuse\r\nUser-Agent: FBL/1\r\nVersion: 1\r\n",
    );
    let inbound = app.state.inbound("in.example.test");
    inbound.receive("", &to, dsn.as_bytes()).await.unwrap();
    inbound.receive("", &to, arf.as_bytes()).await.unwrap();
    let mut ids = event_ids(&*app.store, "bounce").await;
    ids.extend(event_ids(&*app.store, "complaint").await);
    assert_eq!(ids.len(), 2);
    r.wait_for(&ids, Duration::from_secs(10)).await;
    let hits = r.hits();
    assert!(hits.iter().all(|h| h.signature_ok));
    let of = |t: &str| {
        hits.iter()
            .find(|h| h.body["eventType"] == t)
            .unwrap_or_else(|| panic!("no {t} delivered: {hits:?}"))
            .body
            .clone()
    };
    let b = of("Bounce");
    assert_eq!(b["bounce"]["bounceType"], "Permanent");
    assert_eq!(b["bounce"]["bounceSubType"], "NoEmail");
    assert_eq!(
        b["bounce"]["bouncedRecipients"][0]["emailAddress"],
        "ann@example.com"
    );
    assert_eq!(b["bounce"]["bouncedRecipients"][0]["status"], "5.1.1");
    assert_eq!(b["mail"]["messageId"], message_id.as_str());
    assert_eq!(b["mail"]["destination"][0], "ann@example.com");
    assert_eq!(b["mail"]["tags"]["campaign"][0], "dec");
    assert_eq!(b["mail"]["tags"]["ses:configuration-set"][0], "marketing");
    let c = of("Complaint");
    assert_eq!(
        c["complaint"]["complainedRecipients"][0]["emailAddress"],
        "ann@example.com"
    );
    assert_eq!(c["complaint"]["complaintFeedbackType"], "abuse");
    assert_eq!(c["mail"]["messageId"], message_id.as_str());
    assert_eq!(c["optbox"]["actor"]["type"], "recipient");
    app.stop().await;
}

async fn events_arrive_signed_in_the_ses_subscription_shape(backend: &str) {
    let app = spawn_with(backend, fast).await;
    let r = Receiver::start().await;
    let other = Receiver::start().await;
    let store = &*app.store;
    let list = make_list(store, "news").await;
    make_list(store, "other").await;
    let all = hook(&app, &r, &[], None).await;
    // Only subscription changes of another list: must see nothing here.
    hook(&app, &other, &["subscription"], Some("other")).await;
    add_contact(store, &list, "ann@example.com").await;

    // A real RFC 8058 one-click POST for one topic.
    let email = EmailAddress::parse("ann@example.com").unwrap();
    let url = recipient::url_for(
        &app.keys,
        &app.base,
        &list.name,
        Some(TopicName::parse("weekly").unwrap()),
        &email,
    );
    let t = Instant::now();
    // A proxy's request id names the request in the log, and the event and each of its
    // deliveries name the request.
    let resp = app
        .client
        .post(&url)
        .header("x-request-id", "edge-one-click-1")
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let subs = event_ids(store, "subscription").await;
    assert_eq!(subs.len(), 1);
    r.wait_for(&subs, Duration::from_secs(5)).await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "lag {:?}",
        t.elapsed()
    );
    let created = event_ids(store, "contact.created").await;
    r.wait_for(&created, Duration::from_secs(5)).await;

    let hits = r.hits();
    assert!(
        hits.iter().all(|h| h.signature_ok),
        "every signature verifies"
    );
    let sub = &hits.iter().find(|h| h.event_id == subs[0]).unwrap().body;
    assert_eq!(sub["eventType"], "Subscription");
    assert_eq!(sub["optbox"]["requestId"], "edge-one-click-1");
    assert_eq!(sub["mail"]["destination"][0], "ann@example.com");
    let s = &sub["subscription"];
    assert_eq!(s["contactList"], "news");
    assert_eq!(s["source"], "UnsubscribeHeader");
    assert!(s["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s["oldTopicPreferences"]["unsubscribeAll"], false);
    assert_eq!(s["newTopicPreferences"]["unsubscribeAll"], false);
    assert_eq!(
        s["newTopicPreferences"]["topicSubscriptionStatus"][0],
        serde_json::json!({"topicName": "weekly", "subscriptionStatus": "OptOut"})
    );
    assert_eq!(
        s["oldTopicPreferences"]["topicSubscriptionStatus"],
        serde_json::json!([])
    );
    let created_body = &hits.iter().find(|h| h.event_id == created[0]).unwrap().body;
    assert_eq!(created_body["eventType"], "ContactCreated");
    assert!(
        created_body["optbox"]["requestId"].is_null(),
        "no request made it"
    );

    // The delivery log says delivered, once each.
    let log = wh::deliveries(store, all, None, None, 100).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1)
    );
    // `webhooks test` sends a signed sample straight away.
    assert_eq!(
        wh::test(store, &app_settings(), rules(), all)
            .await
            .unwrap(),
        200
    );
    let last = r.hits().pop().unwrap();
    assert!(last.event_id.starts_with("test-") && last.signature_ok);
    // The filtered destination saw nothing of list "news".
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(other.hits().is_empty());
    // Bad destinations are refused.
    assert!(
        wh::add(
            store,
            rules(),
            "ftp://x",
            SECRET,
            &[],
            None,
            &common::setup()
        )
        .await
        .is_err()
    );
    assert!(
        wh::add(
            store,
            rules(),
            &r.url(),
            "short",
            &[],
            None,
            &common::setup()
        )
        .await
        .is_err()
    );
    assert!(
        wh::add(
            store,
            rules(),
            &r.url(),
            SECRET,
            &["bogus".into()],
            None,
            &common::setup()
        )
        .await
        .is_err()
    );
    wh::remove(store, all, &common::setup()).await.unwrap();
    assert!(wh::list(store).await.unwrap().iter().all(|h| h.id != all));
    app.stop().await;
}

fn app_settings() -> optbox::server::config::WebhookSettings {
    let mut s = Settings::default();
    fast(&mut s);
    s.webhooks
}

/// The URL rules of a dev-mode instance that allows private addresses (as `fast`).
fn rules() -> optbox::server::events::UrlRules {
    let mut s = Settings::default();
    fast(&mut s);
    optbox::server::events::UrlRules::new(&s)
}

async fn a_receiver_that_is_down_gets_every_event_once_it_is_back(backend: &str) {
    let app = spawn_with(backend, fast).await;
    let r = Receiver::start().await;
    let store = &*app.store;
    let list = make_list(store, "news").await;
    hook(&app, &r, &["contact.created"], None).await;
    // First it answers 503, then it is not there at all, then it is back.
    r.answer.store(503, Ordering::SeqCst);
    for i in 0..20 {
        add_contact(store, &list, &format!("c{i}@example.com")).await;
    }
    let ids = event_ids(store, "contact.created").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    r.down();
    tokio::time::sleep(Duration::from_millis(700)).await;
    r.answer.store(200, Ordering::SeqCst);
    r.up().await;
    r.wait_for(&ids, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let hits = r.hits();
    assert!(hits.iter().any(|h| h.status == 503), "failures were seen");
    for id in &ids {
        let seq: Vec<u16> = hits
            .iter()
            .filter(|h| &h.event_id == id)
            .map(|h| h.status)
            .collect();
        // Failures, then exactly one success, never a success twice.
        assert_eq!(
            seq.iter().filter(|s| **s == 200).count(),
            1,
            "{id}: {seq:?}"
        );
        assert_eq!(*seq.last().unwrap(), 200, "{id}: {seq:?}");
    }
    let hook_id = wh::list(store).await.unwrap()[0].id;
    let log = wh::deliveries(store, hook_id, None, None, 100)
        .await
        .unwrap();
    assert_eq!(log.len(), 20);
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered));
    assert!(log.iter().all(|d| d.attempts >= 2), "each was retried");
    app.stop().await;
}

async fn deliveries_are_dead_lettered_after_the_window_and_replayable(backend: &str) {
    let app = spawn_with(backend, |s| {
        fast(s);
        s.webhooks.webhook_retry_window_secs = 1;
    })
    .await;
    let r = Receiver::start().await;
    let watcher = Receiver::start().await;
    let store = &*app.store;
    let list = make_list(store, "news").await;
    let id = hook(&app, &r, &["contact.created"], None).await;
    // A second destination told about failures of the others.
    hook(&app, &watcher, &["webhook.failed"], None).await;
    r.answer.store(500, Ordering::SeqCst);
    add_contact(store, &list, "ann@example.com").await;
    add_contact(store, &list, "bob@example.com").await;
    let t = Instant::now();
    loop {
        let dead = wh::deliveries(store, id, Some(DeliveryStatus::Dead), None, 10)
            .await
            .unwrap();
        if dead.len() == 2 {
            assert!(dead.iter().all(|d| d.attempts >= 2));
            assert_eq!(dead[0].last_status, Some(500));
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each dead letter is in the event log, and reaches the watcher (not the dead hook).
    let failed = event_ids(store, "webhook.failed").await;
    assert_eq!(failed.len(), 2);
    watcher.wait_for(&failed, Duration::from_secs(5)).await;
    let f = &watcher.hits()[0].body;
    assert_eq!(f["eventType"], "WebhookFailed");
    assert_eq!(f["optbox"]["detail"]["webhookId"], id);
    assert!(
        r.hits()
            .iter()
            .all(|h| h.body["eventType"] != "WebhookFailed")
    );

    r.answer.store(200, Ordering::SeqCst);
    let before = r.hits().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.hits().len(), before, "dead letters are not retried");
    assert_eq!(wh::replay(store, id, None).await.unwrap(), 2);
    let ids = event_ids(store, "contact.created").await;
    r.wait_for(&ids, Duration::from_secs(5)).await;
    app.stop().await;
}

async fn the_event_log_filters_and_pages_by_list_topic_contact_type_and_time(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let store = &*store;
    let a = make_list(store, "a").await;
    let b = make_list(store, "b").await;
    for i in 0..5 {
        add_contact(store, &a, &format!("a{i}@example.com")).await;
    }
    // Clear of the millisecond before and after, so the split is exact.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mid = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    add_contact(store, &b, "b0@example.com").await;
    let change = ContactChange {
        unsubscribe_all: None,
        preferences: Some((
            PrefMode::Merge,
            vec![(
                TopicName::parse("offers").unwrap(),
                SubscriptionStatus::OptOut,
            )],
        )),
        attributes: None,
    };
    let audit = Audit::new(Source::Admin);
    for e in ["a1@example.com", "a3@example.com"] {
        store
            .update_contact(&a, &EmailAddress::parse(e).unwrap(), &change, &audit)
            .await
            .unwrap();
    }
    let q = |f: fn(&mut EventQuery)| {
        let mut q = EventQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let by = |q: EventQuery| async move { store.query_events(&q).await.unwrap() };
    assert_eq!(by(q(|q| q.list = Some("a".into()))).await.len(), 7);
    assert_eq!(by(q(|q| q.list = Some("b".into()))).await.len(), 1);
    let offers = by(q(|q| q.topic = Some("offers".into()))).await;
    assert_eq!(offers.len(), 2);
    assert!(offers.iter().all(|e| e.kind == "subscription"
        && e.source.as_deref() == Some("Admin")
        && e.old_prefs.is_some()
        && e.new_prefs.is_some()));
    let ann = by(q(|q| q.contact = Some("a3@example.com".into()))).await;
    assert_eq!(
        ann.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["subscription", "contact.created"]
    );
    assert_eq!(
        by(q(|q| q.kind = Some("contact.created".into())))
            .await
            .len(),
        6
    );
    let mut late = q(|_| {});
    late.since_ms = Some(mid);
    assert_eq!(by(late).await.len(), 3);
    let mut early = q(|_| {});
    early.until_ms = Some(mid + 1);
    assert_eq!(by(early).await.len(), 5);
    let mut both = q(|q| q.list = Some("a".into()));
    both.kind = Some("subscription".into());
    assert_eq!(by(both).await.len(), 2);
    // Keyset pages of 3: newest first, disjoint, together everything.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .query_events(&EventQuery {
                before_id: before,
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.windows(2).all(|w| w[0].id > w[1].id));
        before = Some(page.last().unwrap().id);
        seen.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(seen.len(), 8);
    db.cleanup().await;
}

/// Without `webhook_allow_private` (the default) a webhook cannot reach loopback,
/// private or link-local addresses: IP literals are refused when saved, names are
/// resolved by a resolver that drops such addresses at every connection (here
/// `localhost`, which resolves to 127.0.0.1 where a receiver listens), and the failure
/// users see does not tell a listening port from a closed one.
async fn private_addresses_are_refused_and_failures_do_not_say_why(backend: &str) {
    let app = spawn_with(backend, |s| {
        fast(s);
        s.webhooks.webhook_allow_private = false;
        s.webhooks.webhook_retry_window_secs = 1;
    })
    .await;
    let rules = optbox::server::events::UrlRules::new(&app.state.settings);
    assert!(!rules.allow_private && !rules.require_https);
    let r = Receiver::start().await;
    let store = &*app.store;
    let list = make_list(store, "news").await;
    let port = r.addr.port();
    for url in [
        r.url(),
        format!("http://[::1]:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://10.0.0.1/hook".into(),
        "http://192.168.1.1/hook".into(),
    ] {
        let e = wh::add(store, rules, &url, SECRET, &[], None, &common::setup())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a public address"), "{url}: {e}");
        assert!(e.contains("webhook_allow_private"), "{url}: {e}");
    }
    assert!(wh::list(store).await.unwrap().is_empty());

    // A name is accepted when saved; it is checked when connecting.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let open_hook = wh::add(
        store,
        rules,
        &format!("http://localhost:{port}/hook"),
        SECRET,
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap()
    .id;
    let closed_hook = wh::add(
        store,
        rules,
        &format!("http://localhost:{closed}/hook"),
        SECRET,
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap()
    .id;
    let tested = wh::test(store, &app.state.settings.webhooks, rules, open_hook)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        tested.ends_with(&format!(
            "test delivery failed: {}",
            optbox::server::events::NO_ANSWER
        )),
        "{tested}"
    );
    let tested_closed = wh::test(store, &app.state.settings.webhooks, rules, closed_hook)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        tested, tested_closed,
        "a listening port looks like a closed one"
    );

    add_contact(store, &list, "ann@example.com").await;
    let t = Instant::now();
    let errors = loop {
        let mut errors = Vec::new();
        for id in [open_hook, closed_hook] {
            let log = wh::deliveries(store, id, None, None, 10).await.unwrap();
            // Attempts that ended: a claimed delivery counts its attempt before its
            // outcome is recorded.
            errors.extend(
                log.iter()
                    .filter(|d| {
                        d.attempts > 0 && (d.last_status.is_some() || d.last_error.is_some())
                    })
                    .map(|d| (d.last_status, d.last_error.clone())),
            );
        }
        if errors.len() == 2 {
            break errors;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no attempt: {errors:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for e in &errors {
        assert_eq!(
            e,
            &(None, Some(optbox::server::events::NO_ANSWER.to_owned())),
            "{errors:?}"
        );
    }
    assert!(r.hits().is_empty(), "the private receiver was reached");
    app.stop().await;
}

/// Production mode takes https webhook URLs only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_mode_requires_https_webhooks() {
    let db = TestDb::new("sqlite").await;
    let store = db.store().await;
    let prod = Settings {
        mode: optbox::server::config::Mode::Production,
        ..Default::default()
    };
    let rules = optbox::server::events::UrlRules::new(&prod);
    assert!(rules.require_https);
    let e = wh::add(
        &*store,
        rules,
        "http://hooks.example.com/optbox",
        SECRET,
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("https:// in production mode"), "{e}");
    wh::add(
        &*store,
        rules,
        "https://hooks.example.com/optbox",
        SECRET,
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap();
    db.cleanup().await;
}

// ---------------------------------------------------------------- real processes

struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_optbox(url: &str) -> Proc {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_optbox"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Port 0: tests start several instances at once.
        .env("OPTBOX_SMTP_LISTEN", "127.0.0.1:0")
        .env("OPTBOX_DATABASE_URL", url)
        .env("OPTBOX_LISTEN", &listen)
        .env("OPTBOX_WEBHOOK_TIMEOUT_MS", "1000")
        .env("OPTBOX_WEBHOOK_RETRY_BASE_MS", "100")
        .env("OPTBOX_WEBHOOK_RETRY_MAX_MS", "400")
        .env("OPTBOX_WEBHOOK_POLL_MS", "20")
        .env("OPTBOX_WEBHOOK_CONCURRENCY", "8")
        .env("OPTBOX_WEBHOOK_ALLOW_PRIVATE", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

async fn a_killed_instance_loses_no_delivery(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let r = Receiver::start().await;
    // Slow answers, so that requests are in flight when the process dies.
    r.delay_ms.store(150, Ordering::SeqCst);
    let list = make_list(&*store, "news").await;
    wh::add(
        &*store,
        rules(),
        &r.url(),
        SECRET,
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap();
    for i in 0..40 {
        add_contact(&*store, &list, &format!("c{i}@example.com")).await;
    }
    let ids = event_ids(&*store, "contact.created").await;
    let first = spawn_optbox(&db.url);
    let t = Instant::now();
    while r.hits().len() < 8 {
        assert!(t.elapsed() < Duration::from_secs(20), "no deliveries began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(first); // SIGKILL, mid-delivery
    let got_before = r.delivered().len();
    assert!(got_before < ids.len(), "killed before the end");
    let _second = spawn_optbox(&db.url);
    r.wait_for(&ids, Duration::from_secs(30)).await;
    assert!(r.hits().iter().all(|h| h.signature_ok));
    let t = Instant::now();
    let hook_id = wh::list(&*store).await.unwrap()[0].id;
    loop {
        let log = wh::deliveries(&*store, hook_id, None, None, 100)
            .await
            .unwrap();
        if log.iter().all(|d| d.status == DeliveryStatus::Delivered) {
            assert_eq!(log.len(), 40);
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "outbox not settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(_second);
    db.cleanup().await;
}

async fn sigterm_lets_deliveries_in_flight_finish_and_records_them(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let r = Receiver::start().await;
    r.delay_ms.store(300, Ordering::SeqCst);
    let list = make_list(&*store, "news").await;
    let id = wh::add(
        &*store,
        rules(),
        &r.url(),
        SECRET,
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap()
    .id;
    for i in 0..30 {
        add_contact(&*store, &list, &format!("c{i}@example.com")).await;
    }
    let mut p = spawn_optbox(&db.url);
    let t = Instant::now();
    while r.seen.lock().unwrap().in_flight.values().sum::<u32>() == 0 {
        assert!(t.elapsed() < Duration::from_secs(20), "no deliveries began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = p.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    // Every request that was answered is recorded as delivered; nothing was left claimed.
    let answered = r.delivered();
    assert!(!answered.is_empty());
    let log = wh::deliveries(&*store, id, None, None, 100).await.unwrap();
    let delivered: Vec<_> = log
        .iter()
        .filter(|d| d.status == DeliveryStatus::Delivered)
        .collect();
    assert_eq!(delivered.len(), answered.len(), "{log:?}");
    assert!(
        log.iter()
            .all(|d| d.status == DeliveryStatus::Delivered || d.attempts == 0),
        "a claimed delivery was abandoned: {log:?}"
    );
    db.cleanup().await;
}

async fn cli(url: &str, args: &[&str]) -> std::process::Output {
    let (url, args): (String, Vec<String>) =
        (url.to_owned(), args.iter().map(|s| s.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_optbox"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OPTBOX_DATABASE_URL", url)
            .env("OPTBOX_WEBHOOK_ALLOW_PRIVATE", "true")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn the_cli_adds_lists_tests_and_removes_webhooks(backend: &str) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    make_list(&*store, "news").await;
    let r = Receiver::start().await;
    let out = cli(
        &db.url,
        &[
            "webhooks",
            "add",
            "--url",
            &r.url(),
            "--secret",
            SECRET,
            "--events",
            "subscription,contact.deleted",
            "--list",
            "news",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let hook = store.get_webhook(id.parse().unwrap()).await.unwrap();
    assert_eq!(hook.event_types, ["subscription", "contact.deleted"]);
    assert_eq!(hook.list_name.as_deref(), Some("news"));

    let out = cli(&db.url, &["webhooks", "list"]).await;
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.starts_with(&format!("{id}\t{}", r.url())),
        "{listed}"
    );
    assert!(!listed.contains(SECRET), "secrets are never listed");

    let out = cli(&db.url, &["webhooks", "test", &id]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "delivered: HTTP 200"
    );
    let hit = r.hits().pop().unwrap();
    assert!(hit.signature_ok && hit.event_id.starts_with("test-"));
    assert_eq!(hit.body["subscription"]["contactList"], "news");

    let out = cli(&db.url, &["webhooks", "remove", &id]).await;
    assert!(out.status.success());
    let out = cli(&db.url, &["webhooks", "remove", &id]).await;
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim(),
        format!("optbox: error: no webhook with id {id}")
    );
    let out = cli(
        &db.url,
        &["webhooks", "add", "--url", "nope", "--secret", SECRET],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
    db.cleanup().await;
}

/// Several instances on one PostgreSQL: every event delivered, none by two instances at
/// the same moment (row locks plus leases).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_share_the_outbox() {
    let db = TestDb::new("postgres").await;
    let store = db.store().await;
    let r = Receiver::start().await;
    r.delay_ms.store(5, Ordering::SeqCst);
    let list = make_list(&*store, "news").await;
    wh::add(
        &*store,
        rules(),
        &r.url(),
        SECRET,
        &["contact.created".into()],
        None,
        &common::setup(),
    )
    .await
    .unwrap();
    let a = spawn_optbox(&db.url);
    let b = spawn_optbox(&db.url);
    for i in 0..300 {
        add_contact(&*store, &list, &format!("c{i}@example.com")).await;
    }
    let ids = event_ids(&*store, "contact.created").await;
    assert_eq!(ids.len(), 300);
    r.wait_for(&ids, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (concurrent, hits) = {
        let seen = r.seen.lock().unwrap();
        (seen.concurrent.clone(), seen.hits.clone())
    };
    assert!(
        concurrent.is_empty(),
        "delivered concurrently: {concurrent:?}"
    );
    let mut count: HashMap<&str, usize> = HashMap::new();
    for h in &hits {
        *count.entry(&h.event_id).or_default() += 1;
    }
    let dup: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dup.is_empty(), "delivered twice: {dup:?}");
    drop((a, b));
    db.cleanup().await;
}

/// Configuration events (`list.created`, `webhook.created`, …) are queued for a webhook
/// that names their kinds, never for one subscribed to every kind, and never for a
/// configuration-set event destination (they are about no message); a webhook limited to
/// a list gets that list's.
async fn configuration_changes_reach_only_webhooks_that_name_them(backend: &str) {
    use optbox::server::service::{configuration_sets as sets, lists};
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let store = &*store;
    let audit = Audit::new(Source::Admin).by("7");
    let add = |events: &[&str], list: Option<&'static str>| {
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        let audit = audit.clone();
        async move {
            wh::add(
                store,
                rules(),
                "https://hooks.example.com/optbox",
                SECRET,
                &events,
                list,
                &audit,
            )
            .await
            .unwrap()
            .id
        }
    };
    let all = add(&[], None).await;
    let named = add(&["list.created", "list.updated", "webhook.created"], None).await;
    let routed = add(&[], None).await;
    let set = ConfigurationSetRecord {
        name: "marketing".into(),
        options: "{}".into(),
        tags: vec![],
        suppressed_reasons: None,
        sending_enabled: true,
        created_at: 0,
    };
    sets::create(store, &set, &audit).await.unwrap();
    let d = sets::Definition {
        enabled: true,
        event_types: optbox::domain::events::SES_EVENT_TYPES
            .iter()
            .map(|t| t.to_string())
            .collect(),
        topic_arn: Some(format!("arn:aws:sns:eu-west-1:1:optbox-webhook-{routed}")),
        unsupported: vec![],
    };
    sets::put_destination(store, "marketing", "hook", &d, true, &audit)
        .await
        .unwrap();
    let limits = Limits::new(false);
    let def = ListDefinition {
        topics: vec![topic("weekly")],
        ..Default::default()
    };
    let news = lists::create(store, &limits, "news", &def, &audit)
        .await
        .unwrap();
    // A list-limited webhook naming the kind gets only its list's.
    let news_only = add(&["list.created", "list.updated"], Some("news")).await;
    lists::create(store, &limits, "other", &def, &audit)
        .await
        .unwrap();
    let def = ListDefinition {
        topics: vec![topic("weekly"), topic("daily")],
        ..Default::default()
    };
    lists::update(store, &limits, "news", &def, &audit)
        .await
        .unwrap();
    lists::update(store, &limits, "other", &def, &audit)
        .await
        .unwrap();
    add_contact(store, &news, "ann@example.com").await;

    let kinds_of = |id: i64| async move {
        let mut out = Vec::new();
        for d in store.list_deliveries(id, None, None, 100).await.unwrap() {
            let q = EventQuery {
                before_id: Some(d.event_id + 1),
                limit: 1,
                ..Default::default()
            };
            let e = store.query_events(&q).await.unwrap().remove(0);
            assert_eq!(e.id, d.event_id);
            out.push((e.kind, e.list_name));
        }
        out.sort();
        out
    };
    let contact = ("contact.created".to_owned(), Some("news".to_owned()));
    assert_eq!(kinds_of(all).await, [contact]);
    assert_eq!(kinds_of(routed).await, []);
    let l = |k: &str, n: &str| (k.to_owned(), Some(n.to_owned()));
    assert_eq!(
        kinds_of(named).await,
        [
            l("list.created", "news"),
            l("list.created", "other"),
            l("list.updated", "news"),
            l("list.updated", "other"),
            // Its own creation (written once it exists), `routed` and `news_only`.
            ("webhook.created".to_owned(), None),
            ("webhook.created".to_owned(), None),
            ("webhook.created".to_owned(), None),
        ]
    );
    assert_eq!(kinds_of(news_only).await, [l("list.updated", "news")]);

    // The payload: the kind in CamelCase, who acted, what changed; never a secret.
    let q = EventQuery {
        kind: Some("list.updated".into()),
        list: Some("news".into()),
        limit: 1,
        ..Default::default()
    };
    let e = store.query_events(&q).await.unwrap().remove(0);
    let body = optbox::server::events::payload(&e);
    assert_eq!(body["eventType"], "ListUpdated");
    assert_eq!(body["optbox"]["actor"]["type"], "user");
    assert_eq!(body["optbox"]["actor"]["id"], "7");
    assert_eq!(
        body["optbox"]["detail"]["topics_added"],
        serde_json::json!(["daily"])
    );
    assert_eq!(body["optbox"]["topicName"], "daily");
    let log = store
        .query_events(&EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!serde_json::to_string(&log).unwrap().contains(SECRET));
    drop(log);
    db.cleanup().await;
}
