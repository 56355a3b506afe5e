//! Pipeline benchmark: messages per second through the MIME part of the sending pipeline
//! (CRLF check, inspection, options parsing, a fresh unsubscribe token, header
//! rewrite, placeholder fill in a QP text part and a base64 HTML part, attachment
//! untouched) for a 20 KB multipart/mixed message, without DKIM, with Ed25519 and with
//! RSA-2048. One thread per measurement; the database steps (suppression lookup, event
//! writes) are not included (they are measured by the SES API benchmark's writes).
//!
//! cargo run --release --features ssr --example pipeline_bench [-- SECONDS]

use base64::Engine;
use optbox::domain::{EmailAddress, ListName, TopicName};
use optbox::server::config::TokenKey;
use optbox::server::mail::dkim::{self, Algorithm, Signer};
use optbox::server::mail::headers::{list_headers, public_host};
use optbox::server::mail::{options, rewrite};
use optbox::server::service::recipient;
use std::time::{Duration, Instant};

fn message() -> Vec<u8> {
    let text = "Dear reader, this week's news. Caf\u{e9} cr\u{e8}me. ".repeat(60);
    let qp_text: String = text
        .replace('\u{e9}', "=C3=A9")
        .replace('\u{e8}', "=C3=A8")
        .as_bytes()
        .chunks(70)
        .map(|c| format!("{}=\r\n", String::from_utf8_lossy(c)))
        .collect();
    let html = format!(
        "<html><body><p>{}</p><a href=\"{{{{amazonSESUnsubscribeUrl}}}}\">unsubscribe</a></body></html>",
        "News of the week. ".repeat(250)
    );
    let b64 = |d: &[u8]| -> String {
        base64::engine::general_purpose::STANDARD
            .encode(d)
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
            .collect()
    };
    let att: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
    format!(
        "From: News <news@example.com>\r\nTo: ann@example.org\r\nSubject: Weekly news\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@example.com>\r\nMIME-Version: 1.0\r\n\
         X-SES-LIST-MANAGEMENT-OPTIONS: contactListName=news; topicName=weekly\r\n\
         Content-Type: multipart/mixed; boundary=\"MIX\"\r\n\r\n--MIX\r\n\
         Content-Type: multipart/alternative; boundary=\"ALT\"\r\n\r\n--ALT\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         {qp_text}Unsubscribe: {{{{amazonSESUnsubscribeUrl}}}}\r\n--ALT\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--ALT--\r\n\r\n--MIX\r\n\
         Content-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Disposition: attachment\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--MIX--\r\n",
        b64(html.as_bytes()),
        b64(&att)
    )
    .into_bytes()
}

fn run(label: &str, secs: f64, msg: &[u8], signer: Option<&Signer>) {
    let keys = vec![TokenKey {
        id: "k1".into(),
        secret: b"0123456789abcdef0123456789abcdef".to_vec(),
    }];
    let list = optbox::domain::ContactList {
        id: 1,
        name: ListName::parse("news").unwrap(),
        description: String::new(),
        topics: vec![],
        tags: vec![],
        branding: Default::default(),
        created_at: 0,
        updated_at: 0,
    };
    let host = public_host("https://optbox.example");
    let start = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        let data = rewrite::to_crlf(msg);
        let ins = rewrite::inspect(&data).expect("inspect");
        let opts = options::parse(&ins.options[0]).expect("options");
        assert_eq!(opts.list, "news");
        let email = EmailAddress::parse(&format!("user{n}@example.org")).unwrap();
        let url = recipient::url_for(
            &keys,
            "https://optbox.example",
            &list.name,
            Some(TopicName::parse("weekly").unwrap()),
            &email,
        );
        let plan = rewrite::Plan {
            drop_headers: vec![
                options::OPTIONS_HEADER,
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "List-Id",
            ],
            add_headers: list_headers(&list, &url, None, &host),
            url: Some(url),
        };
        let out = rewrite::rewrite(&data, &plan).expect("rewrite");
        assert_eq!(out.replaced, 2);
        let out = match signer {
            Some(s) => s.sign(&out.data).expect("sign"),
            None => out.data,
        };
        bytes += out.len();
        n += 1;
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "{label:<22} {n:>8} messages in {el:.1} s = {:>8.0} msg/s ({:.1} KB each)",
        n as f64 / el,
        bytes as f64 / n as f64 / 1024.0
    );
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let msg = message();
    println!(
        "message: {} bytes, multipart/mixed (QP text, base64 HTML, attachment)",
        msg.len()
    );
    run("rewrite, no DKIM", secs, &msg, None);
    let ed = dkim::generate(Algorithm::Ed25519).unwrap();
    let ed = Signer::new(Algorithm::Ed25519, "example.com", "s1", &ed.private_der).unwrap();
    run("rewrite + Ed25519", secs, &msg, Some(&ed));
    let rsa = dkim::generate(Algorithm::Rsa).unwrap();
    let rsa = Signer::new(Algorithm::Rsa, "example.com", "s2", &rsa.private_der).unwrap();
    run("rewrite + RSA-2048", secs, &msg, Some(&rsa));
}
