//! The MIME rewriter on a corpus of real-world-shaped messages: plain, alternative,
//! mixed with attachments, quoted-printable, base64, ISO-8859-1 / Windows-1251 / UTF-8
//! bodies, long folded headers, nested multiparts and an attached message. Attachments
//! must come out byte-identical; the placeholder is filled in text and HTML parts only,
//! at most twice per part, correctly under every transfer encoding.

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use optbox::server::mail::rewrite::{self, Plan};

const URL: &str = "https://optbox.example/u/AbC_d-123.xyz";

fn crlf(s: &str) -> Vec<u8> {
    rewrite::to_crlf(s.as_bytes()).into_owned()
}

fn plan() -> Plan {
    Plan {
        drop_headers: vec!["X-SES-LIST-MANAGEMENT-OPTIONS", "List-Unsubscribe"],
        add_headers: vec![
            ("List-Unsubscribe", format!("<{URL}>")),
            (
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ),
        ],
        url: Some(URL.to_owned()),
    }
}

fn b64_lines(data: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(data);
    enc.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Decoded body texts of the output's text/plain and text/html parts (raw bytes after
/// transfer decoding, in the part's own charset).
fn decoded_texts(msg: &[u8]) -> Vec<(String, Vec<u8>)> {
    let m = MessageParser::new().parse(msg).expect("output parses");
    m.parts
        .iter()
        .filter(|p| matches!(p.body, PartType::Text(_) | PartType::Html(_)))
        .map(|p| {
            let ct = p
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_else(|| "text/plain".into());
            (ct, p.contents().to_vec())
        })
        .collect()
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

fn headers_of(msg: &[u8]) -> String {
    let end = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    String::from_utf8_lossy(&msg[..end + 2]).into_owned()
}

#[test]
fn a_plain_message_gets_the_first_two_placeholders_and_the_headers() {
    let raw = crlf(
        "From: News <news@example.com>\nTo: ann@example.org\nSubject: Hello\n\
         X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\n\
         List-Unsubscribe: <https://old.example/unsub>\n\n\
         One {{amazonSESUnsubscribeUrl}}\nTwo {{amazonSESUnsubscribeUrl}}\nThree {{amazonSESUnsubscribeUrl}}\n",
    );
    let out = rewrite::rewrite(&raw, &plan()).unwrap();
    assert_eq!(out.replaced, 2);
    let s = String::from_utf8(out.data.clone()).unwrap();
    assert!(s.contains(&format!(
        "One {URL}\r\nTwo {URL}\r\nThree {{{{amazonSESUnsubscribeUrl}}}}"
    )));
    let h = headers_of(&out.data);
    assert!(
        !h.to_ascii_lowercase()
            .contains("x-ses-list-management-options")
    );
    assert!(!h.contains("old.example"));
    assert!(h.contains(&format!(
        "List-Unsubscribe: <{URL}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    )));
    // Untouched header fields keep their bytes and order.
    assert!(
        h.starts_with("From: News <news@example.com>\r\nTo: ann@example.org\r\nSubject: Hello\r\n")
    );
}

#[test]
fn quoted_printable_placeholders_split_by_soft_breaks_are_found_and_reencoded() {
    // The placeholder is cut by a soft line break, and the text has ISO-8859-1 bytes.
    let raw = crlf(
        "From: a@example.com\nTo: b@example.org\nSubject: QP\nMIME-Version: 1.0\n\
         Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n\
         Caf=E9 cr=E8me. Unsubscribe: {{amazonSES=\nUnsubscribeUrl}} -- voil=E0\n",
    );
    let out = rewrite::rewrite(&raw, &plan()).unwrap();
    assert_eq!(out.replaced, 1);
    // mail-parser decodes the output from ISO-8859-1: the charset is intact.
    let texts = decoded_texts(&out.data);
    assert_eq!(
        String::from_utf8_lossy(&texts[0].1),
        format!("Caf\u{e9} cr\u{e8}me. Unsubscribe: {URL} -- voil\u{e0}\r\n")
    );
    // Still quoted-printable, lines within 76 characters.
    let s = String::from_utf8(out.data).unwrap();
    assert!(s.contains("Content-Transfer-Encoding: quoted-printable"));
    let body_start = s.find("\r\n\r\n").unwrap() + 4;
    assert!(s[body_start..].split("\r\n").all(|l| l.len() <= 76));
}

#[test]
fn alternative_with_base64_html_and_windows_1251_text_is_filled_in_both_parts() {
    // Windows-1251 "Отписаться" as 8bit bytes.
    let cp1251: &[u8] = b"\xce\xf2\xef\xe8\xf1\xe0\xf2\xfc\xf1\xff";
    let html = "<html><body><a href=\"{{amazonSESUnsubscribeUrl}}\">Unsubscribe</a> \u{2014} \u{1F600}</body></html>";
    let mut raw = crlf(
        "From: a@example.com\nTo: b@example.org\nSubject: Alt\nMIME-Version: 1.0\n\
         Content-Type: multipart/alternative; boundary=\"ALT\"\n\n--ALT\n\
         Content-Type: text/plain; charset=windows-1251\nContent-Transfer-Encoding: 8bit\n\n",
    );
    raw.extend_from_slice(cp1251);
    raw.extend_from_slice(b": {{amazonSESUnsubscribeUrl}}\r\n\r\n--ALT\r\n");
    raw.extend_from_slice(
        &crlf(&format!(
            "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{}\n\n--ALT--\n",
            b64_lines(html.as_bytes())
        )),
    );
    let out = rewrite::rewrite(&raw, &plan()).unwrap();
    assert_eq!(out.replaced, 2);
    let texts = decoded_texts(&out.data);
    assert_eq!(texts.len(), 2, "{texts:?}");
    // The 8bit Windows-1251 bytes are spliced through, and decode as Cyrillic.
    let want: Vec<u8> = [cp1251, b": ", URL.as_bytes(), b"\r\n"].concat();
    assert_eq!(count(&out.data, &want), 1);
    assert_eq!(
        String::from_utf8_lossy(&texts[0].1),
        format!(
            "\u{41e}\u{442}\u{43f}\u{438}\u{441}\u{430}\u{442}\u{44c}\u{441}\u{44f}: {URL}\r\n"
        )
    );
    let html_out = String::from_utf8(texts[1].1.clone()).unwrap();
    assert_eq!(html_out, html.replace("{{amazonSESUnsubscribeUrl}}", URL));
    // Base64 stays base64 with 76-character lines.
    let s = String::from_utf8_lossy(&out.data);
    assert!(s.contains("Content-Transfer-Encoding: base64"));
}

#[test]
fn attachments_stay_byte_identical_and_attached_text_is_not_filled() {
    let pdf: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let pdf_b64 = b64_lines(&pdf);
    let attached_txt = "notes {{amazonSESUnsubscribeUrl}} stay as they are";
    let inner = "From: x@example.net\nSubject: fwd\n\nInner {{amazonSESUnsubscribeUrl}}\n";
    let raw = crlf(&format!(
        "From: a@example.com\nTo: b@example.org\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_und_eine_sehr_lange_Betreffzeile_die_gefaltet?=\n \
         =?UTF-8?Q?_werden_muss?=\nMIME-Version: 1.0\n\
         X-SES-LIST-MANAGEMENT-OPTIONS: contactListName=news;\n topicName=weekly\n\
         Content-Type: multipart/mixed; boundary=\"MIX\"\n\n\
         This is a multi-part message in MIME format.\n--MIX\n\
         Content-Type: multipart/related; boundary=\"REL\"\n\n--REL\n\
         Content-Type: multipart/alternative; boundary=\"ALT\"\n\n--ALT\n\
         Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{}\n--ALT\n\
         Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n\
         <p style=3D\"x\">Gr=C3=BC=C3=9Fe <a href=3D\"{{{{amazonSESUnsubscribeUrl}}}}\">unsubscribe</a></p>\n--ALT--\n\n--REL--\n\n--MIX\n\
         Content-Type: application/pdf; name=\"r.pdf\"\nContent-Disposition: attachment; filename=\"r.pdf\"\nContent-Transfer-Encoding: base64\n\n{pdf_b64}\n--MIX\n\
         Content-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; filename=\"notes.txt\"\n\n{attached_txt}\n--MIX\n\
         Content-Type: message/rfc822\n\n{inner}\n--MIX--\n",
        b64_lines("Grüße, abmelden: {{amazonSESUnsubscribeUrl}}".as_bytes())
    ));
    let ins = rewrite::inspect(&raw).unwrap();
    assert_eq!(
        ins.options,
        vec!["contactListName=news; topicName=weekly".to_owned()]
    );
    let out = rewrite::rewrite(&raw, &plan()).unwrap();
    assert_eq!(out.replaced, 2, "the text and the HTML body, nothing else");
    // The attachment's encoded bytes are present verbatim.
    let pdf_block = crlf(&pdf_b64);
    assert_eq!(count(&raw, &pdf_block), 1);
    assert_eq!(count(&out.data, &pdf_block), 1);
    let m = MessageParser::new().parse(&out.data).unwrap();
    let att = m
        .attachments()
        .find(|a| a.attachment_name() == Some("r.pdf"))
        .unwrap();
    assert_eq!(att.contents(), pdf.as_slice());
    // The attached text file and the attached message keep their placeholders.
    let s = String::from_utf8_lossy(&out.data);
    assert!(s.contains(attached_txt));
    assert!(s.contains("Inner {{amazonSESUnsubscribeUrl}}"));
    // Everything after the HTML part is byte-identical to the input.
    let tail_at = |b: &[u8]| {
        let i = b
            .windows(b"--REL--".len())
            .position(|w| w == b"--REL--")
            .unwrap();
        b[i..].to_vec()
    };
    assert_eq!(tail_at(&raw), tail_at(&out.data));
    // The folded options header is removed whole; the folded Subject is untouched.
    let h = headers_of(&out.data);
    assert!(!h.contains("topicName"));
    assert!(h.contains("=?UTF-8?Q?Gr=C3=BC=C3=9Fe_und_eine_sehr_lange_Betreffzeile_die_gefaltet?=\r\n =?UTF-8?Q?_werden_muss?=\r\n"));
    let texts = decoded_texts(&out.data);
    let plain = texts.iter().find(|t| t.0 == "text/plain").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&plain.1),
        format!("Grüße, abmelden: {URL}")
    );
    let html = texts.iter().find(|t| t.0 == "text/html").unwrap();
    assert!(String::from_utf8_lossy(&html.1).contains(&format!("href=\"{URL}\"")));
}

#[test]
fn html_gets_an_attribute_safe_url() {
    let url = "https://optbox.example/u/x?a=1&b=\"2\"";
    let raw = crlf(
        "From: a@example.com\nTo: b@example.org\nContent-Type: text/html\n\n<a href=\"{{amazonSESUnsubscribeUrl}}\">x</a>\n",
    );
    let out = rewrite::rewrite(
        &raw,
        &Plan {
            url: Some(url.into()),
            ..Default::default()
        },
    )
    .unwrap();
    let s = String::from_utf8(out.data).unwrap();
    assert!(s.contains("href=\"https://optbox.example/u/x?a=1&amp;b=&quot;2&quot;\""));
}

#[test]
fn a_message_without_placeholders_or_header_changes_is_returned_byte_for_byte() {
    let raw = crlf(
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; h=from:to;\n bh=abc; b=def\n\
         From: a@example.com\nTo: b@example.org\nSubject: x\n\nbody\n",
    );
    let ins = rewrite::inspect(&raw).unwrap();
    assert!(ins.dkim_signed);
    assert_eq!(ins.from_domain.as_deref(), Some("example.com"));
    let out = rewrite::rewrite(&raw, &Plan::default()).unwrap();
    assert_eq!(out.data, raw);
    assert_eq!(out.replaced, 0);
}

#[test]
fn malformed_messages_are_refused_with_a_reason_not_a_panic() {
    for bad in [&b""[..], b"no header separator", b"\r\nbody only"] {
        let e = rewrite::rewrite(bad, &plan()).unwrap_err();
        assert!(!e.0.is_empty());
    }
}
