//! The sending pipeline on a real store (SQLite and PostgreSQL): options from the API or
//! the header, suppression with a Reject event, auto-created contacts, the one-click
//! headers and link (one token per recipient), override/preserve, the single-recipient
//! rule and fan-out (a placeholder it cannot fill per recipient refuses the message),
//! transactional pass-through, and DKIM (RSA-2048 and Ed25519) verified by dkimpy with
//! both list headers in `h=`; a sender's own signature is kept, replaced by ours for its
//! domain, or the message refused, so that every signature that leaves verifies.

use crate::common;

use common::TestDb;
use optbox::domain::{EmailAddress, ListDefinition, SubscriptionStatus, Topic, TopicName};
use optbox::server::config::{ExistingHeaders, PipelineSettings, TokenKey};
use optbox::server::mail::options::ListOptions;
use optbox::server::service::sending::{
    Ctx, Processed, SendError, SignerCache, Submission, Via, process as process_with,
};
use optbox::server::service::{dkim, recipient};
use optbox::server::store::{Audit, ContactChange, DynStore, EventQuery, PrefMode, Source};
use std::path::PathBuf;

const BASE: &str = "https://optbox.example";

fn keys() -> Vec<TokenKey> {
    vec![TokenKey {
        id: "k1".into(),
        secret: b"0123456789abcdef0123456789abcdef".to_vec(),
    }]
}

async fn setup(backend: &str) -> (TestDb, DynStore) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let topic = |n: &str, d| Topic {
        name: TopicName::parse(n).unwrap(),
        display_name: n.into(),
        description: String::new(),
        default_status: d,
        hidden: false,
    };
    store
        .create_list(
            "news",
            &ListDefinition {
                topics: vec![
                    topic("weekly", SubscriptionStatus::OptIn),
                    topic("offers", SubscriptionStatus::OptOut),
                ],
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    (db, store)
}

fn msg(extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: News <news@example.com>\r\nTo: ann@example.org\r\nSubject: Hello\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn run(
    store: &DynStore,
    settings: &PipelineSettings,
    signers: &SignerCache,
    rcpts: &[&str],
    data: Vec<u8>,
    options: Option<ListOptions>,
) -> Result<Processed, SendError> {
    let k = keys();
    let ctx = Ctx {
        store: store.as_ref(),
        settings,
        token_keys: &k,
        public_base: BASE,
        signers,
        inbound_domain: None,
        require_identity: false,
    };
    let p = process_with(
        &ctx,
        Submission {
            mail_from: "bounces@example.com".into(),
            rcpts: rcpts.iter().map(|s| s.to_string()).collect(),
            data,
            options,
            via: Via::Smtp,
            key_id: None,
            configuration_set: None,
            tags: Vec::new(),
            scope: Default::default(),
        },
    )
    .await?;
    // As the edges do: the copies are queued, with the submission's events, in one
    // transaction.
    if !p.outgoing.is_empty() {
        optbox::server::mail::relay::enqueue(store, false, &p.outgoing)
            .await
            .expect("queue");
    }
    Ok(p)
}

fn header(data: &[u8], name: &str) -> Vec<String> {
    let s = String::from_utf8_lossy(data);
    let end = s.find("\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in s[..end].split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(c) = cur.as_mut() {
                c.push_str(line);
            }
            continue;
        }
        if let Some(c) = cur.take() {
            out.push(c);
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            cur = Some(v.trim().to_owned());
        }
    }
    if let Some(c) = cur.take() {
        out.push(c);
    }
    out
}

async fn events(store: &DynStore, kind: &str) -> Vec<optbox::server::store::EventRecord> {
    store
        .query_events(&EventQuery {
            kind: Some(kind.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn list_managed_mail_gets_headers_link_and_a_new_contact(backend: &str) {
    let (db, store) = setup(backend).await;
    let settings = PipelineSettings::default();
    let signers = SignerCache::default();
    let data = msg(
        "X-SES-LIST-MANAGEMENT-OPTIONS: contactListName=news; topicName=weekly\r\nList-Unsubscribe: <mailto:old@example.com>\r\n",
        "Unsubscribe: {{amazonSESUnsubscribeUrl}}",
    );
    let out = run(
        &store,
        &settings,
        &signers,
        &["Ann@Example.org"],
        data,
        None,
    )
    .await
    .unwrap();
    assert!(out.refused.is_empty());
    assert_eq!(out.outgoing.len(), 1);
    let o = &out.outgoing[0];
    assert_eq!(o.rcpt, "Ann@Example.org");
    assert_eq!(o.message_id, out.message_id);
    let lu = header(&o.data, "List-Unsubscribe");
    assert_eq!(lu.len(), 1, "the sender's header is replaced (override)");
    let url = lu[0].trim_matches(['<', '>']).to_owned();
    assert!(url.starts_with("https://optbox.example/u/"), "{url}");
    assert_eq!(
        header(&o.data, "List-Unsubscribe-Post"),
        vec!["List-Unsubscribe=One-Click".to_owned()]
    );
    assert_eq!(
        header(&o.data, "List-Id"),
        vec!["news <news.optbox.example>".to_owned()]
    );
    assert!(header(&o.data, "X-SES-LIST-MANAGEMENT-OPTIONS").is_empty());
    let body = String::from_utf8_lossy(&o.data);
    assert!(body.contains(&format!("Unsubscribe: {url}")));
    // The token names this list, topic and address.
    let tok = url.rsplit('/').next().unwrap();
    let r = recipient::resolve(store.as_ref(), &keys(), tok)
        .await
        .unwrap();
    assert_eq!(r.list.name.as_str(), "news");
    assert_eq!(r.topic.unwrap().name.as_str(), "weekly");
    let c = r.contact.expect("the recipient was added to the list");
    assert_eq!(
        c.email.key(),
        EmailAddress::parse("Ann@Example.org").unwrap().key()
    );
    assert!(
        c.preferences.is_empty() && !c.unsubscribe_all,
        "no explicit preferences (SES)"
    );
    let sends = events(&store, "send").await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].list_name.as_deref(), Some("news"));
    assert_eq!(sends[0].topic_name.as_deref(), Some("weekly"));
    // No DKIM key: one warning for the domain, not one per message.
    let warn = events(&store, "send.warning").await;
    assert_eq!(warn.len(), 1);
    assert!(warn[0].detail.contains("no DKIM key for example.com"));
    let again = msg("X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n", "x");
    run(
        &store,
        &settings,
        &signers,
        &["ann@example.org"],
        again,
        None,
    )
    .await
    .unwrap();
    assert_eq!(events(&store, "send.warning").await.len(), 1);
    db.cleanup().await;
}

async fn opted_out_recipients_are_refused_with_a_reject_event(backend: &str) {
    let (db, store) = setup(backend).await;
    let settings = PipelineSettings::default();
    let signers = SignerCache::default();
    let list = store.get_list("news").await.unwrap();
    let bob = EmailAddress::parse("bob@example.org").unwrap();
    optbox::server::service::contacts::ensure(
        store.as_ref(),
        &list,
        &bob,
        &Audit::new(Source::Api),
    )
    .await
    .unwrap();
    store
        .update_contact(
            &list,
            &bob,
            &ContactChange {
                unsubscribe_all: None,
                preferences: Some((
                    PrefMode::Merge,
                    vec![(
                        TopicName::parse("weekly").unwrap(),
                        SubscriptionStatus::OptOut,
                    )],
                )),
                attributes: None,
            },
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
    let opts = Some(ListOptions {
        list: "news".into(),
        topic: Some("weekly".into()),
    });
    let out = run(
        &store,
        &settings,
        &signers,
        &["bob@example.org"],
        msg("", "hi"),
        opts.clone(),
    )
    .await
    .unwrap();
    assert!(
        out.outgoing.is_empty(),
        "nothing is relayed to an opted-out recipient"
    );
    assert_eq!(out.refused.len(), 1);
    assert!(
        out.refused[0]
            .reason
            .contains("unsubscribed from topic weekly")
    );
    let rejects = events(&store, "reject").await;
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].contact_email.as_deref(), Some("bob@example.org"));
    // The same address on another topic (default OPT_OUT for "offers") is refused too;
    // without a topic only UnsubscribeAll counts, so it is sent.
    let offers = Some(ListOptions {
        list: "news".into(),
        topic: Some("offers".into()),
    });
    let out = run(
        &store,
        &settings,
        &signers,
        &["carol@example.org"],
        msg("", "hi"),
        offers,
    )
    .await
    .unwrap();
    assert_eq!(
        out.refused.len(),
        1,
        "topic default OPT_OUT suppresses a new contact"
    );
    let all = Some(ListOptions {
        list: "news".into(),
        topic: None,
    });
    let out = run(
        &store,
        &settings,
        &signers,
        &["bob@example.org"],
        msg("", "hi"),
        all,
    )
    .await
    .unwrap();
    assert_eq!(out.outgoing.len(), 1);
    // Unknown list and topic are refused whole, naming them.
    let e = run(
        &store,
        &settings,
        &signers,
        &["x@example.org"],
        msg("", "hi"),
        Some(ListOptions {
            list: "nope".into(),
            topic: None,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, SendError::UnknownList(ref m) if m.contains("nope")),
        "{e:?}"
    );
    let e = run(
        &store,
        &settings,
        &signers,
        &["x@example.org"],
        msg("", "hi"),
        Some(ListOptions {
            list: "news".into(),
            topic: Some("zzz".into()),
        }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, SendError::UnknownTopic(ref m) if m.contains("zzz")),
        "{e:?}"
    );
    let e = run(
        &store,
        &settings,
        &signers,
        &["x@example.org"],
        msg("X-SES-LIST-MANAGEMENT-OPTIONS: news; colour=red\r\n", "hi"),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SendError::BadRequest(_)), "{e:?}");
    db.cleanup().await;
}

async fn several_recipients_follow_the_ses_rule_or_fan_out(backend: &str) {
    let (db, store) = setup(backend).await;
    let signers = SignerCache::default();
    let data = msg(
        "X-SES-LIST-MANAGEMENT-OPTIONS: news\r\n",
        "Link: {{amazonSESUnsubscribeUrl}}",
    );
    let rcpts = ["a@example.org", "b@example.org"];
    // Without the placeholder, SES's rule: one copy for all, no list headers, a warning.
    let out = run(
        &store,
        &PipelineSettings::default(),
        &signers,
        &rcpts,
        msg("X-SES-LIST-MANAGEMENT-OPTIONS: news\r\n", "No link here."),
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.outgoing.len(), 2);
    for o in &out.outgoing {
        assert!(header(&o.data, "List-Unsubscribe").is_empty());
        assert!(header(&o.data, "X-SES-LIST-MANAGEMENT-OPTIONS").is_empty());
    }
    assert!(out.warnings.iter().any(|w| w.contains("fan_out is off")));
    let fan = PipelineSettings {
        fan_out: true,
        ..Default::default()
    };
    let out = run(&store, &fan, &signers, &rcpts, data, None)
        .await
        .unwrap();
    let urls: Vec<String> = out
        .outgoing
        .iter()
        .map(|o| header(&o.data, "List-Unsubscribe")[0].clone())
        .collect();
    assert_eq!(urls.len(), 2);
    assert_ne!(urls[0], urls[1], "one token per recipient");
    assert_eq!(out.outgoing[0].message_id, out.message_id);
    assert_eq!(out.outgoing[1].message_id, out.message_id);
    db.cleanup().await;
}

async fn preserve_keeps_the_senders_header_and_adds_no_post(backend: &str) {
    let (db, store) = setup(backend).await;
    let signers = SignerCache::default();
    // Without inbound_domain no mailto is ever advertised.
    let keep = PipelineSettings {
        existing_headers: ExistingHeaders::Preserve,
        ..Default::default()
    };
    let data = msg(
        "X-SES-LIST-MANAGEMENT-OPTIONS: news\r\nList-Unsubscribe: <https://sender.example/u/1>\r\n",
        "x",
    );
    let out = run(&store, &keep, &signers, &["a@example.org"], data, None)
        .await
        .unwrap();
    let d = &out.outgoing[0].data;
    assert_eq!(
        header(d, "List-Unsubscribe"),
        vec!["<https://sender.example/u/1>".to_owned()]
    );
    assert!(header(d, "List-Unsubscribe-Post").is_empty());
    // Without a sender header, preserve adds ours: the https link alone.
    let data = msg("X-SES-LIST-MANAGEMENT-OPTIONS: news\r\n", "x");
    let out = run(&store, &keep, &signers, &["a@example.org"], data, None)
        .await
        .unwrap();
    let lu = header(&out.outgoing[0].data, "List-Unsubscribe");
    assert_eq!(lu.len(), 1);
    assert!(lu[0].starts_with("<https://optbox.example/u/"));
    assert!(lu[0].ends_with('>') && !lu[0].contains(','), "{}", lu[0]);
    assert!(
        !String::from_utf8_lossy(&out.outgoing[0].data).contains("mailto:"),
        "no mailto anywhere"
    );
    // The same with override.
    let over = PipelineSettings::default();
    let data = msg("X-SES-LIST-MANAGEMENT-OPTIONS: news\r\n", "x");
    let out = run(&store, &over, &signers, &["a@example.org"], data, None)
        .await
        .unwrap();
    let lu = header(&out.outgoing[0].data, "List-Unsubscribe");
    assert_eq!(lu, vec![format!("<{}>", lu[0].trim_matches(['<', '>']))]);
    assert!(!String::from_utf8_lossy(&out.outgoing[0].data).contains("mailto:"));
    db.cleanup().await;
}

fn venv_python() -> PathBuf {
    let venv = std::env::var("OPTBOX_COMPAT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/compat-venv"));
    let p = venv.join("bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `make compat` (dkimpy is in tests/compat/requirements.txt)",
        p.display()
    );
    p
}

/// dkimpy's verdict on every signature of `message`: true when there is one at least
/// and all verify, with the TXT records given as (name, value).
fn dkimpy_verify(message: &[u8], record_name: &str, txt: &str) -> (bool, String) {
    dkimpy_verify_all(message, &[(record_name, txt)])
}

fn dkimpy_verify_all(message: &[u8], records: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.eml");
    std::fs::write(&f, message).unwrap();
    let out = std::process::Command::new(venv_python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat/dkim_verify.py"))
        .arg(&f)
        .args(records.iter().map(|(n, t)| format!("{n}={t}")))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn dkim_signatures_verify_with_dkimpy_and_cover_both_list_headers(backend: &str) {
    let (db, store) = setup(backend).await;
    let settings = PipelineSettings::default();
    for (alg, domain) in [("rsa", "example.com"), ("ed25519", "ed.example.com")] {
        let key = dkim::generate(store.as_ref(), domain, "s1", alg, &common::setup())
            .await
            .unwrap();
        assert!(key.txt.starts_with(&format!("v=DKIM1; k={alg}; p=")));
        let signers = SignerCache::default();
        // A message with QP and an attachment.
        let data = format!(
            "From: News <news@{domain}>\r\nTo: ann@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\
             X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
             Gr=C3=BC=C3=9Fe {{{{amazonSESUnsubscribeUrl}}}}\r\n--b1\r\n\
             Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b1--\r\n"
        )
        .into_bytes();
        let out = run(
            &store,
            &settings,
            &signers,
            &["ann@example.org"],
            data,
            None,
        )
        .await
        .unwrap();
        let signed = &out.outgoing[0].data;
        assert!(
            signed.starts_with(b"DKIM-Signature:"),
            "our signature comes first"
        );
        let sig = header(signed, "DKIM-Signature")[0].to_ascii_lowercase();
        assert!(sig.contains(&format!("d={domain}")), "{sig}");
        let h = sig
            .split(';')
            .map(str::trim)
            .find(|t| t.starts_with("h="))
            .unwrap()
            .replace([' ', '\t'], "");
        let names: Vec<&str> = h[2..].split(':').collect();
        assert!(names.contains(&"list-unsubscribe"), "{h}");
        assert!(names.contains(&"list-unsubscribe-post"), "{h}");
        let (ok, said) = dkimpy_verify(signed, &key.record_name, &key.txt);
        assert!(ok, "dkimpy ({alg}): {said}");
        // A changed List-Unsubscribe breaks it (the header really is covered).
        let s = String::from_utf8_lossy(signed)
            .replace("List-Unsubscribe: <https://", "List-Unsubscribe: <http://");
        let (ok, _) = dkimpy_verify(s.as_bytes(), &key.record_name, &key.txt);
        assert!(
            !ok,
            "tampering with List-Unsubscribe must fail verification ({alg})"
        );
    }
    // Transactional mail (no options) is signed and otherwise untouched.
    let signers = SignerCache::default();
    let data = msg("", "Your receipt {{amazonSESUnsubscribeUrl}}");
    let out = run(
        &store,
        &settings,
        &signers,
        &["ann@example.org"],
        data.clone(),
        None,
    )
    .await
    .unwrap();
    let o = &out.outgoing[0].data;
    assert!(o.ends_with(&data), "only a DKIM-Signature is prepended");
    assert!(o.starts_with(b"DKIM-Signature:"));
    let keys = dkim::list(store.as_ref()).await.unwrap();
    assert_eq!(keys.len(), 2);
    let (ok, said) = dkimpy_verify(
        o,
        &keys
            .iter()
            .find(|k| k.domain == "example.com")
            .unwrap()
            .record_name,
        &keys.iter().find(|k| k.domain == "example.com").unwrap().txt,
    );
    assert!(ok, "{said}");
    db.cleanup().await;
}

/// Opts `email` out of topic `weekly` of `news`.
async fn opt_out(store: &DynStore, email: &str) {
    let list = store.get_list("news").await.unwrap();
    let e = EmailAddress::parse(email).unwrap();
    optbox::server::service::contacts::ensure(store.as_ref(), &list, &e, &Audit::new(Source::Api))
        .await
        .unwrap();
    store
        .update_contact(
            &list,
            &e,
            &ContactChange {
                unsubscribe_all: None,
                preferences: Some((
                    PrefMode::Merge,
                    vec![(
                        TopicName::parse("weekly").unwrap(),
                        SubscriptionStatus::OptOut,
                    )],
                )),
                attributes: None,
            },
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
}

fn b64_folded(s: &str) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD.encode(s);
    e.as_bytes()
        .chunks(16)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A list-managed message (topic weekly) with one body part.
fn part_msg(content_type: &str, cte: &str, body: &str) -> Vec<u8> {
    let cte = if cte.is_empty() {
        String::new()
    } else {
        format!("Content-Transfer-Encoding: {cte}\r\n")
    };
    format!(
        "From: News <news@example.com>\r\nTo: ann@example.org\r\nSubject: Hello\r\nMIME-Version: 1.0\r\n\
         X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\nContent-Type: {content_type}\r\n{cte}\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The placeholder in each form a text/plain or text/html body part can carry it.
fn placeholder_forms() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "literal",
            part_msg(
                "text/plain; charset=utf-8",
                "",
                "Leave: {{amazonSESUnsubscribeUrl}}",
            ),
        ),
        (
            "html href",
            part_msg(
                "text/html; charset=utf-8",
                "",
                "<a href=\"{{amazonSESUnsubscribeUrl}}\">Unsubscribe</a>",
            ),
        ),
        (
            "percent-encoded",
            part_msg(
                "text/html; charset=utf-8",
                "",
                "<a href=\"%7B%7BamazonSESUnsubscribeUrl%7D%7D\">Unsubscribe</a>",
            ),
        ),
        (
            "percent-encoded, lower-case hex",
            part_msg(
                "text/plain; charset=utf-8",
                "",
                "Leave: %7b%7bamazonSESUnsubscribeUrl%7d%7d",
            ),
        ),
        (
            "quoted-printable soft line break",
            part_msg(
                "text/plain; charset=utf-8",
                "quoted-printable",
                "Leave: {{amazonSESUn=\r\nsubscribeUrl}}",
            ),
        ),
        (
            "base64",
            part_msg(
                "text/html; charset=utf-8",
                "base64",
                &b64_folded("<a href=\"{{amazonSESUnsubscribeUrl}}\">Unsubscribe</a>"),
            ),
        ),
    ]
}

const UNPERSONALISED: &str = "list-managed message with {{amazonSESUnsubscribeUrl}} to 2 recipients: send one message per recipient or set fan_out = true";

async fn a_placeholder_that_cannot_be_filled_per_recipient_refuses_the_message(backend: &str) {
    let (db, store) = setup(backend).await;
    let signers = SignerCache::default();
    let off = PipelineSettings::default();
    let fan = PipelineSettings {
        fan_out: true,
        ..Default::default()
    };
    let rcpts = ["a@example.org", "b@example.org"];
    for (form, data) in placeholder_forms() {
        let e = run(&store, &off, &signers, &rcpts, data.clone(), None)
            .await
            .unwrap_err();
        match e {
            SendError::Unpersonalised(m) => assert_eq!(m, UNPERSONALISED, "{form}"),
            other => panic!("{form}: {other:?}"),
        }
        // With fan-out every copy gets its own link, in place of every form.
        let out = run(&store, &fan, &signers, &rcpts, data, None)
            .await
            .unwrap();
        assert_eq!(out.outgoing.len(), 2, "{form}");
        for o in &out.outgoing {
            assert!(
                !optbox::server::mail::rewrite::has_placeholder(&o.data).unwrap(),
                "{form}: {}",
                String::from_utf8_lossy(&o.data)
            );
            let url = header(&o.data, "List-Unsubscribe")[0]
                .trim_matches(['<', '>'])
                .to_owned();
            let text = String::from_utf8_lossy(&o.data).replace("=\r\n", "");
            let decoded = if form == "base64" {
                use base64::Engine;
                // From the raw bytes: a line of base64 may end in `=` padding, which the
                // soft-break removal above would take for a soft break.
                let raw = String::from_utf8_lossy(&o.data);
                let b = raw.split("\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .unwrap(),
                )
                .unwrap()
            } else {
                text
            };
            assert!(decoded.contains(&url), "{form}: {decoded}");
            assert!(!decoded.contains("amazonSESUnsubscribeUrl"), "{form}");
        }
    }
    // Refused messages were not logged as sent; the fan-out copies were.
    assert_eq!(
        events(&store, "send").await.len(),
        2 * placeholder_forms().len()
    );
    // N counts the recipients left after suppression: with one of two opted out, the
    // other gets a personalised copy; with two of three left, the message is refused.
    opt_out(&store, "out@example.org").await;
    let data = placeholder_forms().remove(0).1;
    let out = run(
        &store,
        &off,
        &signers,
        &["out@example.org", "a@example.org"],
        data.clone(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.outgoing.len(), 1);
    assert_eq!(out.refused.len(), 1);
    assert!(!optbox::server::mail::rewrite::has_placeholder(&out.outgoing[0].data).unwrap());
    let e = run(
        &store,
        &off,
        &signers,
        &["out@example.org", "a@example.org", "b@example.org"],
        data,
        None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, SendError::Unpersonalised(ref m) if m == UNPERSONALISED),
        "{e:?}"
    );
    db.cleanup().await;
}

/// A sender's own DKIM key (Ed25519, selector `sender`), not known to optbox.
struct SenderKey {
    der: Vec<u8>,
    domain: String,
    record_name: String,
    txt: String,
}

impl SenderKey {
    fn new(domain: &str) -> Self {
        use optbox::server::mail::dkim::{Algorithm, generate, txt_record};
        let g = generate(Algorithm::Ed25519).unwrap();
        Self {
            txt: txt_record(Algorithm::Ed25519, &g.public),
            der: g.private_der,
            domain: domain.into(),
            record_name: format!("sender._domainkey.{domain}"),
        }
    }

    /// `message` with the sender's DKIM-Signature (covering `h`) prepended.
    fn sign(&self, message: &[u8], h: &[&str]) -> Vec<u8> {
        use mail_auth::common::crypto::Ed25519Key;
        use mail_auth::common::headers::HeaderWriter;
        use mail_auth::dkim::DkimSigner;
        let key = Ed25519Key::from_pkcs8_der(&self.der).unwrap();
        let sig = DkimSigner::from_key(key)
            .domain(self.domain.as_str())
            .selector("sender")
            .headers(h.iter().copied())
            .sign(message)
            .unwrap()
            .to_header();
        let mut out = sig.into_bytes();
        out.extend_from_slice(message);
        out
    }

    fn record(&self) -> (&str, &str) {
        (&self.record_name, &self.txt)
    }
}

/// The DKIM-Signature fields of a message as (d=, s=), in order.
fn signatures(data: &[u8]) -> Vec<(String, String)> {
    header(data, "DKIM-Signature")
        .iter()
        .map(|v| {
            let tag = |t: &str| {
                v.split(';')
                    .map(|x| x.trim())
                    .find_map(|x| x.strip_prefix(&format!("{t}=")))
                    .unwrap_or("")
                    .to_owned()
            };
            (tag("d"), tag("s"))
        })
        .collect()
}

fn pair(d: &str, s: &str) -> (String, String) {
    (d.to_owned(), s.to_owned())
}

const SENDER_H: &[&str] = &["From", "To", "Subject", "Date", "Message-ID"];

async fn a_senders_signature_that_our_changes_leave_intact_stays_next_to_ours(backend: &str) {
    let (db, store) = setup(backend).await;
    let ours = dkim::generate(
        store.as_ref(),
        "example.com",
        "s1",
        "ed25519",
        &common::setup(),
    )
    .await
    .unwrap();
    let sender = SenderKey::new("example.com");
    let data = sender.sign(
        &msg(
            "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n",
            "No link in this body.",
        ),
        SENDER_H,
    );
    let senders_field = data[..data.windows(2).position(|w| w == b"\r\n").unwrap()].to_vec();
    let out = run(
        &store,
        &PipelineSettings::default(),
        &SignerCache::default(),
        &["ann@example.org"],
        data,
        None,
    )
    .await
    .unwrap();
    let o = &out.outgoing[0].data;
    assert_eq!(
        signatures(o),
        vec![pair("example.com", "s1"), pair("example.com", "sender")],
        "ours first, the sender's kept"
    );
    assert!(
        o.windows(senders_field.len()).any(|w| w == senders_field),
        "the sender's field is byte-identical"
    );
    assert_eq!(header(o, "List-Unsubscribe").len(), 1);
    let (ok, said) = dkimpy_verify_all(o, &[(&ours.record_name, &ours.txt), sender.record()]);
    assert!(ok, "both signatures verify: {said}");
    assert_eq!(said.matches("pass").count(), 2, "{said}");
    assert!(
        !out.warnings
            .iter()
            .any(|w| w.contains("already DKIM-signed")),
        "{:?}",
        out.warnings
    );
    db.cleanup().await;
}

async fn a_senders_signature_our_changes_would_break_is_replaced_by_ours_for_its_domain(
    backend: &str,
) {
    let (db, store) = setup(backend).await;
    let from_key = dkim::generate(
        store.as_ref(),
        "example.com",
        "s1",
        "ed25519",
        &common::setup(),
    )
    .await
    .unwrap();
    let partner_key = dkim::generate(
        store.as_ref(),
        "partner.example",
        "s1",
        "ed25519",
        &common::setup(),
    )
    .await
    .unwrap();
    let records = |sender: &SenderKey| {
        vec![
            (from_key.record_name.clone(), from_key.txt.clone()),
            (partner_key.record_name.clone(), partner_key.txt.clone()),
            (sender.record_name.clone(), sender.txt.clone()),
        ]
    };
    let verify = |o: &[u8], sender: &SenderKey| {
        let r = records(sender);
        let r: Vec<(&str, &str)> = r.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        dkimpy_verify_all(o, &r)
    };
    // Signed by partner.example over List-Unsubscribe, with a placeholder in the body:
    // the sender's signature goes, ours for partner.example and for the From domain come.
    let partner = SenderKey::new("partner.example");
    let data = partner.sign(
        &msg(
            "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n",
            "Leave: {{amazonSESUnsubscribeUrl}}",
        ),
        &["From", "To", "Subject", "List-Unsubscribe"],
    );
    let out = run(
        &store,
        &PipelineSettings::default(),
        &SignerCache::default(),
        &["ann@example.org"],
        data,
        None,
    )
    .await
    .unwrap();
    let o = &out.outgoing[0].data;
    let mut sigs = signatures(o);
    sigs.sort();
    assert_eq!(
        sigs,
        vec![pair("example.com", "s1"), pair("partner.example", "s1")],
        "the sender's signature is replaced"
    );
    let (ok, said) = verify(o, &partner);
    assert!(ok, "every signature verifies: {said}");
    assert!(String::from_utf8_lossy(o).contains("Leave: https://optbox.example/u/"));
    // Signed by the From domain over List-Unsubscribe: re-signed once with its key.
    let own = SenderKey::new("example.com");
    let data = own.sign(
        &msg("X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n", "x"),
        &["From", "To", "List-Unsubscribe", "List-Unsubscribe-Post"],
    );
    let out = run(
        &store,
        &PipelineSettings::default(),
        &SignerCache::default(),
        &["ann@example.org"],
        data,
        None,
    )
    .await
    .unwrap();
    let o = &out.outgoing[0].data;
    assert_eq!(
        signatures(o),
        vec![pair("example.com", "s1")],
        "one signature per key"
    );
    let (ok, said) = verify(o, &own);
    assert!(ok, "{said}");
    // The options header optbox drops, covered by a partner signature, on a message to
    // two recipients without fan-out: replaced too.
    let data = partner.sign(
        &msg("X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n", "x"),
        &["From", "X-SES-LIST-MANAGEMENT-OPTIONS"],
    );
    let out = run(
        &store,
        &PipelineSettings::default(),
        &SignerCache::default(),
        &["ann@example.org", "bea@example.org"],
        data,
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.outgoing.len(), 2);
    let mut sigs = signatures(&out.outgoing[0].data);
    sigs.sort();
    assert_eq!(
        sigs,
        vec![pair("example.com", "s1"), pair("partner.example", "s1")]
    );
    let (ok, said) = verify(&out.outgoing[0].data, &partner);
    assert!(ok, "{said}");
    db.cleanup().await;
}

async fn a_signature_optbox_would_break_without_a_key_refuses_the_message(backend: &str) {
    let (db, store) = setup(backend).await;
    let partner = SenderKey::new("partner.example");
    let settings = PipelineSettings::default();
    let refused = |e: SendError| match e {
        SendError::DkimWouldBreak(m) => m,
        other => panic!("{other:?}"),
    };
    // The placeholder changes the signed body.
    let data = partner.sign(
        &msg(
            "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n",
            "Leave: {{amazonSESUnsubscribeUrl}}",
        ),
        SENDER_H,
    );
    let m = refused(
        run(
            &store,
            &settings,
            &SignerCache::default(),
            &["ann@example.org"],
            data,
            None,
        )
        .await
        .unwrap_err(),
    );
    assert!(
        m.contains("the DKIM signature of partner.example would break"),
        "{m}"
    );
    assert!(
        m.contains("the unsubscribe link changes the signed body"),
        "{m}"
    );
    assert!(m.contains("sign after optbox"), "{m}");
    assert!(
        m.contains("optbox dkim generate --domain partner.example"),
        "{m}"
    );
    // h= covers a list header optbox adds, or the options header it drops.
    for (h, named) in [
        ("List-Unsubscribe", "h= covers List-Unsubscribe"),
        ("List-Id", "h= covers List-Id"),
        (
            "X-SES-LIST-MANAGEMENT-OPTIONS",
            "h= covers X-SES-LIST-MANAGEMENT-OPTIONS",
        ),
    ] {
        let data = partner.sign(
            &msg("X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n", "x"),
            &["From", h],
        );
        let m = refused(
            run(
                &store,
                &settings,
                &SignerCache::default(),
                &["ann@example.org"],
                data,
                None,
            )
            .await
            .unwrap_err(),
        );
        assert!(m.contains(named), "{m}");
        assert!(m.contains("leave List-Unsubscribe"), "{m}");
    }
    // A key for the From domain does not help a signature of another domain; and our
    // added signature is a change to a signature that covers DKIM-Signature.
    dkim::generate(
        store.as_ref(),
        "example.com",
        "s1",
        "ed25519",
        &common::setup(),
    )
    .await
    .unwrap();
    let data = partner.sign(
        &msg(
            "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n",
            "Leave: {{amazonSESUnsubscribeUrl}}",
        ),
        SENDER_H,
    );
    refused(
        run(
            &store,
            &settings,
            &SignerCache::default(),
            &["ann@example.org"],
            data,
            None,
        )
        .await
        .unwrap_err(),
    );
    let data = partner.sign(&msg("", "A receipt."), &["From", "DKIM-Signature"]);
    let m = refused(
        run(
            &store,
            &settings,
            &SignerCache::default(),
            &["ann@example.org"],
            data,
            None,
        )
        .await
        .unwrap_err(),
    );
    assert!(m.contains("h= covers DKIM-Signature"), "{m}");
    assert!(events(&store, "send").await.is_empty(), "nothing was sent");
    db.cleanup().await;
}

async fn without_any_key_a_senders_intact_signature_is_relayed_as_it_is(backend: &str) {
    let (db, store) = setup(backend).await;
    let partner = SenderKey::new("partner.example");
    let data = partner.sign(
        &msg(
            "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n",
            "No link in this body.",
        ),
        SENDER_H,
    );
    let out = run(
        &store,
        &PipelineSettings::default(),
        &SignerCache::default(),
        &["ann@example.org"],
        data.clone(),
        None,
    )
    .await
    .unwrap();
    let o = &out.outgoing[0].data;
    assert_eq!(signatures(o), vec![pair("partner.example", "sender")]);
    assert!(header(o, "List-Unsubscribe")[0].starts_with("<https://optbox.example/u/"));
    assert_eq!(
        header(o, "List-Unsubscribe-Post"),
        vec!["List-Unsubscribe=One-Click".to_owned()]
    );
    let (ok, said) = dkimpy_verify_all(o, &[partner.record()]);
    assert!(ok, "the sender's signature still verifies: {said}");
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("no DKIM key for example.com")),
        "{:?}",
        out.warnings
    );
    assert!(
        !out.warnings
            .iter()
            .any(|w| w.contains("already DKIM-signed")),
        "{:?}",
        out.warnings
    );
    db.cleanup().await;
}

/// An opt-out an older version kept (a tombstone under the address hash itself) still
/// refuses the address once the store has keyed it at opening: the address comes back as
/// a contact unsubscribed from the list, and nothing is relayed to it.
async fn an_older_versions_tombstone_still_refuses_once_keyed(backend: &str) {
    let db = TestDb::new(backend).await;
    common::migrate_up_to(&db.url, 20261210000200).await;
    let gone = EmailAddress::parse("gone@example.org").unwrap();
    let hash = optbox::server::store::email_hash(&gone);
    common::insert_raw_tombstones(&db.url, "tombstones", &[("news", &hash, true, "[]", 1)]).await;
    let store = db.store().await;
    let key = common::tombstone_keyer(&db.url).await;
    let rows = common::raw_tombstones(&db.url, "tombstones").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, key(&hash), "kept under its keyed hash");
    store
        .create_list("news", &ListDefinition::default(), None)
        .await
        .unwrap();
    let out = run(
        &store,
        &PipelineSettings::default(),
        &SignerCache::default(),
        &["gone@example.org"],
        msg("", "hi"),
        Some(ListOptions {
            list: "news".into(),
            topic: None,
        }),
    )
    .await
    .unwrap();
    assert!(out.outgoing.is_empty(), "nothing is relayed to it");
    assert_eq!(out.refused.len(), 1);
    assert!(
        out.refused[0]
            .reason
            .contains("has unsubscribed from list news"),
        "{}",
        out.refused[0].reason
    );
    let list = store.get_list("news").await.unwrap();
    assert!(
        store
            .get_contact(&list, &gone)
            .await
            .unwrap()
            .unsubscribe_all
    );
    assert_eq!(events(&store, "reject").await.len(), 1);
    drop(store);
    db.cleanup().await;
}

crate::common::on_each_backend!(
    list_managed_mail_gets_headers_link_and_a_new_contact,
    opted_out_recipients_are_refused_with_a_reject_event,
    several_recipients_follow_the_ses_rule_or_fan_out,
    preserve_keeps_the_senders_header_and_adds_no_post,
    dkim_signatures_verify_with_dkimpy_and_cover_both_list_headers,
    a_placeholder_that_cannot_be_filled_per_recipient_refuses_the_message,
    a_senders_signature_that_our_changes_leave_intact_stays_next_to_ours,
    a_senders_signature_our_changes_would_break_is_replaced_by_ours_for_its_domain,
    a_signature_optbox_would_break_without_a_key_refuses_the_message,
    without_any_key_a_senders_intact_signature_is_relayed_as_it_is,
    an_older_versions_tombstone_still_refuses_once_keyed
);
