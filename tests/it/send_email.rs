//! SES v2 SendEmail (`POST /v2/email/outbound-emails`) with the real AWS CLI and boto3,
//! and `POST /v1/links`, on SQLite and PostgreSQL: SigV4, the MessageId answer, Simple /
//! Raw / Template content, ListManagementOptions, MessageRejected for opted-out
//! recipients, NotFound / BadRequest for unknown lists and topics; MessageRejected, with
//! nothing queued, for a placeholder that cannot be filled per recipient and for a DKIM
//! signature optbox would break.
#![cfg(feature = "ssr")]

use crate::common;

use common::ses::SesClient;
use common::{TestApp, spawn_with};
use optbox::domain::{EmailAddress, SubscriptionStatus};
use optbox::server::service::api_keys;
use optbox::server::store::EventQuery;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

fn venv_bin(name: &str) -> PathBuf {
    let dir = std::env::var("OPTBOX_COMPAT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/compat-venv"));
    let p = dir.join("bin").join(name);
    assert!(p.exists(), "{} is missing: run `make compat`", p.display());
    p
}

async fn setup(app: &TestApp, ses: &SesClient) {
    ses.post(
        "/v2/email/contact-lists",
        json!({"ContactListName": "news", "Topics": [
            {"TopicName": "weekly", "DisplayName": "Weekly", "DefaultSubscriptionStatus": "OPT_IN"}
        ]}),
    )
    .await
    .ok();
    ses.post(
        "/v2/email/contact-lists/news/contacts",
        json!({"EmailAddress": "out@example.org", "TopicPreferences": [
            {"TopicName": "weekly", "SubscriptionStatus": "OPT_OUT"}
        ]}),
    )
    .await
    .ok();
    let _ = app;
}

async fn client(app: &TestApp) -> (SesClient, api_keys::NewKey) {
    let key = api_keys::create(&*app.store, &app.api_master, "send", &common::setup())
        .await
        .unwrap();
    (
        SesClient::new(&app.base, &key.access_key_id, &key.secret_access_key),
        key,
    )
}

async fn the_aws_cli_and_boto3_send_through_the_pipeline(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let (ses, key) = client(&app).await;
    setup(&app, &ses).await;
    let python = venv_bin("python");
    let aws = venv_bin("aws");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat/send_email_compat.py");
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("OPTBOX_ENDPOINT", base)
            .env("AWS_ACCESS_KEY_ID", &key.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &key.secret_access_key)
            .env("AWS_DEFAULT_REGION", "eu-central-1")
            .env("AWS_CLI", aws)
            .env("AWS_CONFIG_FILE", "/nonexistent/optbox-compat-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/optbox-compat-credentials",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .expect("run the SendEmail suite")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SendEmail suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    // Every accepted send is in the event log with its list; the refusal too.
    let sends = app
        .store
        .query_events(&EventQuery {
            kind: Some("send".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let to: Vec<&str> = sends
        .iter()
        .filter_map(|e| e.contact_email.as_deref())
        .collect();
    for who in ["ann@example.org", "bea@example.org", "cem@example.org"] {
        assert!(to.contains(&who), "{who} in {to:?}");
    }
    let rejects = app
        .store
        .query_events(&EventQuery {
            kind: Some("reject".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        rejects
            .iter()
            .all(|e| e.contact_email.as_deref() == Some("out@example.org"))
    );
    assert!(!rejects.is_empty());
    // What reached the relay queue (the dev outbox: no relay_url here): one message per
    // accepted recipient, under the MessageId the client got, with the one-click headers
    // and the placeholder filled.
    let ids: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["MessageId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 3, "{stdout}");
    let queued = app.store.list_mail(None, None, 100).await.unwrap();
    assert_eq!(queued.len(), 3, "{queued:?}");
    for m in &queued {
        assert!(
            ids.contains(&m.message_id),
            "{} not among {ids:?}",
            m.message_id
        );
        assert_ne!(m.rcpt, "out@example.org");
        let full = app.store.get_mail(m.id).await.unwrap();
        let text = String::from_utf8_lossy(&full.data);
        assert!(text.contains("\r\nList-Unsubscribe: <http://"), "{text}");
        assert!(text.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(!text.contains("{{amazonSESUnsubscribeUrl}}"), "{text}");
        assert!(
            !text
                .to_ascii_lowercase()
                .contains("x-ses-list-management-options")
        );
    }
    // The recipients were added to the list with no explicit preferences.
    let list = app.store.get_list("news").await.unwrap();
    let bea = app
        .store
        .get_contact(&list, &EmailAddress::parse("bea@example.org").unwrap())
        .await
        .unwrap();
    assert!(bea.preferences.is_empty());
    app.stop().await;
}

async fn links_answer_the_url_and_exact_header_lines(backend: &str) {
    // Without inbound_domain the only link is the https one.
    let app = spawn_with(backend, |s| {
        s.public_url = Some("https://optbox.example".into());
    })
    .await;
    let (ses, _) = client(&app).await;
    setup(&app, &ses).await;
    let r = ses
        .post(
            "/v1/links",
            json!({"list": "news", "topic": "weekly", "email": "dan@example.org"}),
        )
        .await;
    let v = r.ok().clone();
    let url = v["url"].as_str().unwrap();
    assert!(url.starts_with("https://optbox.example/u/"), "{url}");
    let lu = format!("<{url}>");
    assert_eq!(v["headers"]["List-Unsubscribe"], lu.as_str());
    assert_eq!(
        v["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(
        v["headerLines"],
        format!("List-Unsubscribe: {lu}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
            .as_str()
    );
    // The link works: a one-click POST opts dan out of the topic.
    let path = url.trim_start_matches("https://optbox.example");
    let resp = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list = app.store.get_list("news").await.unwrap();
    let dan = app
        .store
        .get_contact(&list, &EmailAddress::parse("dan@example.org").unwrap())
        .await
        .unwrap();
    assert_eq!(dan.explicit("weekly"), Some(SubscriptionStatus::OptOut));
    // Errors in the SES shape.
    ses.post(
        "/v1/links",
        json!({"list": "nope", "email": "a@example.org"}),
    )
    .await
    .err(404, "NotFoundException");
    let m = ses
        .post(
            "/v1/links",
            json!({"list": "news", "topic": "zzz", "email": "a@example.org"}),
        )
        .await
        .err(400, "BadRequestException")
        .to_owned();
    assert!(m.contains("zzz"), "{m}");
    ses.post("/v1/links", json!({"list": "news"}))
        .await
        .err(400, "BadRequestException");
    // Unsigned requests are refused.
    let resp = app
        .client
        .post(app.url("/v1/links"))
        .header("content-type", "application/json")
        .body(r#"{"list":"news","email":"a@example.org"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    app.stop().await;
}

/// Every recipient of a relayed message gets a send record under the SendEmail answer's
/// MessageId: list and topic for list-managed mail, the From domain as identity, and the
/// configuration set and tags the sender gave; a refused recipient gets none.
async fn every_relayed_recipient_gets_a_send_record(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let (ses, _) = client(&app).await;
    setup(&app, &ses).await;
    ses.post(
        "/v2/email/configuration-sets",
        json!({"ConfigurationSetName": "marketing"}),
    )
    .await
    .ok();
    let body = |to: Vec<&str>, list: bool| {
        let mut b = json!({
            "FromEmailAddress": "News <news@example.com>",
            "Destination": {"ToAddresses": to},
            "Content": {"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello."}}}},
            "ConfigurationSetName": "marketing",
            "EmailTags": [{"Name": "campaign", "Value": "dec-1"}]
        });
        if list {
            b["ListManagementOptions"] = json!({"ContactListName": "news", "TopicName": "weekly"});
        }
        b
    };
    let listed = ses
        .post(
            "/v2/email/outbound-emails",
            body(vec!["ann@example.org"], true),
        )
        .await
        .ok()["MessageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let recs = app.store.send_records_of(&listed).await.unwrap();
    assert_eq!(recs.len(), 1, "{backend}");
    let r = &recs[0];
    assert_eq!(r.rcpt, "ann@example.org");
    assert_eq!(r.info.list_name.as_deref(), Some("news"));
    assert_eq!(r.info.topic_name.as_deref(), Some("weekly"));
    assert_eq!(r.info.identity.as_deref(), Some("example.com"));
    assert_eq!(r.info.configuration_set.as_deref(), Some("marketing"));
    assert_eq!(r.info.tags, [("campaign".to_owned(), "dec-1".to_owned())]);
    assert_eq!(app.store.get_send_record(r.id).await.unwrap(), *r);
    // Transactional, to two recipients: two records without a list.
    let plain = ses
        .post(
            "/v2/email/outbound-emails",
            body(vec!["ann@example.org", "bea@example.org"], false),
        )
        .await
        .ok()["MessageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let recs = app.store.send_records_of(&plain).await.unwrap();
    let rcpts: Vec<&str> = recs.iter().map(|r| r.rcpt.as_str()).collect();
    assert_eq!(rcpts, ["ann@example.org", "bea@example.org"]);
    assert!(recs.iter().all(|r| r.info.list_name.is_none() && r.id > 0));
    assert_ne!(recs[0].id, recs[1].id);
    // The opted-out contact is refused: no record for them.
    let both = ses
        .post(
            "/v2/email/outbound-emails",
            json!({
                "FromEmailAddress": "news@example.com",
                "Destination": {"ToAddresses": ["out@example.org"]},
                "Content": {"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "x"}}}},
                "ListManagementOptions": {"ContactListName": "news", "TopicName": "weekly"}
            }),
        )
        .await
        .err(400, "MessageRejected")
        .to_owned();
    assert!(both.contains("out@example.org"), "{both}");
    assert!(matches!(
        app.store.get_send_record(9_999_999).await,
        Err(optbox::server::store::StoreError::NotFound)
    ));
    // What would be kept with every record is bounded as SES bounds it.
    let mut long = body(vec!["ann@example.org"], false);
    long["ConfigurationSetName"] = json!("x".repeat(65));
    let m = ses
        .post("/v2/email/outbound-emails", long)
        .await
        .err(400, "BadRequestException")
        .to_owned();
    assert!(m.contains("ConfigurationSetName"), "{m}");
    let mut many = body(vec!["ann@example.org"], false);
    many["EmailTags"] = json!(
        (0..51)
            .map(|i| json!({"Name": format!("t{i}"), "Value": "v"}))
            .collect::<Vec<_>>()
    );
    ses.post("/v2/email/outbound-emails", many)
        .await
        .err(400, "BadRequestException");
    app.stop().await;
}

async fn messages_optbox_cannot_send_whole_are_rejected_and_nothing_is_queued(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let (ses, _) = client(&app).await;
    setup(&app, &ses).await;
    let send = |to: Vec<&str>, text: &str| {
        json!({
            "FromEmailAddress": "news@example.com",
            "Destination": {"ToAddresses": to},
            "Content": {"Simple": {
                "Subject": {"Data": "Hello"},
                "Body": {
                    "Text": {"Data": text},
                    "Html": {"Data": "<a href=\"%7B%7BamazonSESUnsubscribeUrl%7D%7D\">Unsubscribe</a>"}
                }
            }},
            "ListManagementOptions": {"ContactListName": "news", "TopicName": "weekly"}
        })
    };
    // The placeholder (percent-encoded in the HTML part) to two recipients, fan_out off.
    let m = ses
        .post(
            "/v2/email/outbound-emails",
            send(vec!["ann@example.org", "bea@example.org"], "Hello."),
        )
        .await
        .err(400, "MessageRejected")
        .to_owned();
    assert_eq!(
        m,
        "list-managed message with {{amazonSESUnsubscribeUrl}} to 2 recipients: send one message per recipient or set fan_out = true"
    );
    // Signed by a domain optbox has no key for, over a header it adds.
    let raw = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=partner.example; s=x; h=From:To:List-Unsubscribe; bh=AAAA; b=BBBB\r\n\
               From: news@example.com\r\nTo: ann@example.org\r\nSubject: Hi\r\n\r\nHello.\r\n";
    use base64::Engine;
    let m = ses
        .post(
            "/v2/email/outbound-emails",
            json!({
                "Destination": {"ToAddresses": ["ann@example.org"]},
                "Content": {"Raw": {"Data": base64::engine::general_purpose::STANDARD.encode(raw)}},
                "ListManagementOptions": {"ContactListName": "news", "TopicName": "weekly"}
            }),
        )
        .await
        .err(400, "MessageRejected")
        .to_owned();
    assert!(
        m.contains(
            "the DKIM signature of partner.example would break (h= covers List-Unsubscribe)"
        ),
        "{m}"
    );
    assert!(
        m.contains("optbox dkim generate --domain partner.example"),
        "{m}"
    );
    assert!(
        app.store
            .list_mail(None, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    // One recipient: sent, with its own link in place of the placeholder.
    ses.post(
        "/v2/email/outbound-emails",
        send(vec!["ann@example.org"], "Hello."),
    )
    .await
    .ok();
    let queued = app.store.list_mail(None, None, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    let full = app.store.get_mail(queued[0].id).await.unwrap();
    let text = String::from_utf8_lossy(&full.data);
    assert!(!text.contains("amazonSESUnsubscribeUrl"), "{text}");
    app.stop().await;
}

crate::common::on_each_backend!(
    multi_thread:
    the_aws_cli_and_boto3_send_through_the_pipeline,
    every_relayed_recipient_gets_a_send_record,
    links_answer_the_url_and_exact_header_lines,
    messages_optbox_cannot_send_whole_are_rejected_and_nothing_is_queued
);

// ---------------------------------------------------------------- header injection

/// A SendEmail body whose `field` carries a line break followed by a header of the
/// caller's own; every other field is clean.
fn injected(field: &str) -> serde_json::Value {
    const EVIL: &str = "x\r\nBcc: victim@example.net";
    let addr = |f: &str| {
        if f == field {
            format!("ann@example.org{EVIL}")
        } else {
            "ann@example.org".to_owned()
        }
    };
    let mut dest = json!({"ToAddresses": [addr("To")]});
    if field == "Cc" {
        dest["CcAddresses"] = json!([addr("Cc")]);
    }
    if field == "Bcc" {
        dest["BccAddresses"] = json!([addr("Bcc")]);
    }
    let header_value = if field.ends_with("Header") {
        format!("v{EVIL}")
    } else {
        "v".to_owned()
    };
    let content = if field.starts_with("Template") {
        json!({"Template": {
            "TemplateContent": {"Subject": "Hello {{name}}", "Text": "Hi {{name}}."},
            "TemplateData": json!({
                "name": if field == "TemplateSubject" { format!("Ann{EVIL}") } else { "Ann".into() }
            }).to_string(),
            "Headers": [{"Name": "X-Campaign", "Value": header_value}],
        }})
    } else {
        json!({"Simple": {
            "Subject": {"Data": if field == "Subject" { format!("Hello{EVIL}") } else { "Hello".into() }},
            "Body": {"Text": {"Data": "Hi."}},
            "Headers": [{"Name": "X-Campaign", "Value": header_value}],
        }})
    };
    let mut body = json!({
        "FromEmailAddress": if field == "From" { format!("news@example.com{EVIL}") } else { "news@example.com".into() },
        "Destination": dest,
        "Content": content,
    });
    if field == "ReplyTo" {
        body["ReplyToAddresses"] = json!([format!("help@example.com{EVIL}")]);
    }
    body
}

/// Each header field a request fills is refused with a line break in it, as SES's
/// BadRequestException, and nothing is queued; the same message without it is sent.
async fn a_line_break_is_refused_in(field: &str, what: &str) {
    let app = spawn_with("sqlite", |_| {}).await;
    let (ses, _) = client(&app).await;
    let clean = ses
        .post("/v2/email/outbound-emails", injected("none"))
        .await;
    assert!(clean.ok()["MessageId"].is_string());
    let before = app.store.list_mail(None, None, 10).await.unwrap().len();
    for evil in [
        injected(field),
        // A lone LF (or CR) ends a header line for many parsers too.
        serde_json::from_str(&injected(field).to_string().replace("\\r\\n", "\\n")).unwrap(),
    ] {
        let reply = ses.post("/v2/email/outbound-emails", evil).await;
        let m = reply.err(400, "BadRequestException");
        assert!(m.contains(what), "{field}: {m}");
        assert!(m.contains("line breaks"), "{field}: {m}");
    }
    assert_eq!(
        app.store.list_mail(None, None, 10).await.unwrap().len(),
        before,
        "nothing was queued"
    );
    app.stop().await;
}

macro_rules! line_break_tests {
    ($($name:ident: $field:literal => $what:literal),* $(,)?) => {
        mod header_injection {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::a_line_break_is_refused_in($field, $what).await
                }
            )*
        }
    };
}

line_break_tests!(
    simple_subject: "Subject" => "Subject",
    template_subject_after_template_data: "TemplateSubject" => "Subject",
    from_email_address: "From" => "FromEmailAddress",
    to_addresses: "To" => "address",
    cc_addresses: "Cc" => "address",
    bcc_addresses: "Bcc" => "address",
    reply_to_addresses: "ReplyTo" => "address",
    simple_headers_value: "SimpleHeader" => "X-Campaign",
    template_headers_value: "TemplateHeader" => "X-Campaign",
);
