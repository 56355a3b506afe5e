//! Reading the mail that comes back: delivery status notifications (RFC 3464, the
//! MIME structure by mail-parser, each field block unfolded by it), feedback reports
//! (RFC 5965 ARF, by mail-auth's parser), auto-replies, and which failures say that a
//! mailbox does not exist.

use mail_parser::{MessageParser, MimeHeaders};

/// One recipient block of a delivery status notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// `Final-Recipient` without its address type (`rfc822;`).
    pub final_recipient: Option<String>,
    /// `failed`, `delayed`, `delivered`, `relayed`, `expanded`.
    pub action: String,
    /// The enhanced status code, like `5.1.1`.
    pub status: Option<String>,
    /// `Diagnostic-Code` without its type (`smtp;`).
    pub diagnostic: Option<String>,
}

/// What a returning message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A delivery status notification, with its recipient blocks.
    Dsn(Vec<DsnRecipient>),
    /// A feedback report: its type (`abuse`, `fraud`, …) and the text of the original
    /// message or its headers, which is all optbox trusts in it.
    Feedback {
        feedback_type: &'static str,
        original: String,
        /// `Original-Mail-From`, when given.
        mail_from: Option<String>,
    },
    /// Anything else (a human reply, an auto-reply, a bounce in no standard form).
    Other,
}

fn value_after_type(v: &str) -> String {
    let v = v.trim();
    match v.split_once(';') {
        Some((_, rest)) => rest.trim().to_owned(),
        None => v.to_owned(),
    }
}

/// The recipient blocks of a `message/delivery-status` body.
fn dsn_fields(body: &[u8]) -> Vec<DsnRecipient> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let parser = MessageParser::new();
    let mut out = Vec::new();
    // The first block is about the message; the others are one per recipient.
    for block in text.split("\n\n").skip(1) {
        let block = format!("{}\r\n\r\n", block.trim_matches('\n').replace('\n', "\r\n"));
        let Some(m) = parser.parse_headers(block.as_bytes()) else {
            continue;
        };
        let field = |name: &str| {
            m.header_raw(name)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        let Some(action) = field("Action") else {
            continue;
        };
        out.push(DsnRecipient {
            final_recipient: field("Final-Recipient")
                .or_else(|| field("Original-Recipient"))
                .map(|v| value_after_type(&v)),
            action: action.trim().to_ascii_lowercase(),
            status: field("Status").map(|s| s.trim().split(' ').next().unwrap_or("").to_owned()),
            diagnostic: field("Diagnostic-Code").map(|v| value_after_type(&v)),
        });
    }
    out
}

/// Reads a returning message.
pub fn read(message: &[u8]) -> Report {
    let Some(m) = MessageParser::new().parse(message) else {
        return Report::Other;
    };
    let report_type = m
        .content_type()
        .filter(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|ct| ct.attribute("report-type"))
        .map(|t| t.to_ascii_lowercase());
    match report_type.as_deref() {
        Some("delivery-status") => {
            let blocks = m
                .parts
                .iter()
                .filter(|p| {
                    p.content_type().is_some_and(|ct| {
                        ct.ctype().eq_ignore_ascii_case("message")
                            && ct.subtype().is_some_and(|s| {
                                s.eq_ignore_ascii_case("delivery-status")
                                    || s.eq_ignore_ascii_case("global-delivery-status")
                            })
                    })
                })
                .flat_map(|p| dsn_fields(p.contents()))
                .collect();
            Report::Dsn(blocks)
        }
        Some("feedback-report") => match mail_auth::report::Feedback::parse_rfc5322(message) {
            Ok(f) => {
                use mail_auth::report::FeedbackType as T;
                let feedback_type = match f.feedback_type() {
                    T::Abuse => "abuse",
                    T::AuthFailure => "auth-failure",
                    T::Fraud => "fraud",
                    T::NotSpam => "not-spam",
                    T::Virus => "virus",
                    T::Other => "other",
                };
                let original = [f.message(), f.headers()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("\n");
                Report::Feedback {
                    feedback_type,
                    original,
                    mail_from: f.original_mail_from().map(str::to_owned),
                }
            }
            Err(_) => Report::Other,
        },
        _ => Report::Other,
    }
}

/// An automatic reply (RFC 3834 `Auto-Submitted` other than `no`, `Precedence:
/// auto_reply`, bulk or junk): it never unsubscribes anyone. (A null envelope sender is
/// the caller's to check.)
pub fn is_auto_reply(message: &[u8]) -> bool {
    let Some(m) = MessageParser::new().parse_headers(message) else {
        return false;
    };
    let field = |n: &str| m.header_raw(n).map(|v| v.trim().to_ascii_lowercase());
    let auto = field("Auto-Submitted").is_some_and(|v| !v.starts_with("no"));
    let precedence = field("Precedence")
        .is_some_and(|v| matches!(v.as_str(), "auto_reply" | "bulk" | "junk" | "list"));
    auto || precedence || m.header_raw("X-Autoreply").is_some()
}

/// The enhanced status code (`5.1.1`) in a reply or diagnostic text, if any.
pub fn enhanced_status(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && (1..=3).contains(&parts[1].len())
                && (1..=3).contains(&parts[2].len())
                && parts[1..]
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

/// Plain-text forms of "this mailbox does not exist" from servers that send no
/// enhanced status code.
const NO_MAILBOX: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "unknown recipient",
    "mailbox not found",
    "mailbox does not exist",
    "mailbox unavailable or does not exist",
    "address does not exist",
    "does not exist",
    "recipient not found",
    "account does not exist",
    "account has been disabled",
    "mailbox is disabled",
    "invalid recipient",
    "user not found",
];

/// Whether a permanent failure says that the mailbox does not exist (`5.1.1`,
/// `5.1.10`, `5.2.1`, or their plain-text equivalents): only such a failure suppresses
/// the address. Policy refusals (`5.7.x`: spam, blocklists, DMARC) and temporary
/// failures (`4.x.x`) never do, whatever their text says.
pub fn says_no_mailbox(status: Option<&str>, text: &str) -> bool {
    match status {
        Some("5.1.1" | "5.1.10" | "5.2.1") => true,
        Some(s) if s.starts_with("4.") || s.starts_with("2.") || s.starts_with("5.7.") => false,
        _ => {
            let t = text.to_ascii_lowercase();
            NO_MAILBOX.iter().any(|p| t.contains(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_are_found_in_replies() {
        assert_eq!(
            enhanced_status("permanent error (550): 5.1.1 <a@b>: Recipient address rejected")
                .as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            enhanced_status("550 5.1.10 RESOLVER.ADR.RecipientNotFound").as_deref(),
            Some("5.1.10")
        );
        assert_eq!(enhanced_status("550 no such user").as_deref(), None);
        assert_eq!(enhanced_status("version 1.2.3.4 here").as_deref(), None);
    }

    #[test]
    fn only_a_missing_mailbox_suppresses() {
        assert!(says_no_mailbox(Some("5.1.1"), ""));
        assert!(says_no_mailbox(Some("5.1.10"), ""));
        assert!(says_no_mailbox(Some("5.2.1"), ""));
        assert!(says_no_mailbox(
            None,
            "550 Requested action not taken: User unknown"
        ));
        assert!(says_no_mailbox(Some("5.0.0"), "No such user here"));
        assert!(!says_no_mailbox(Some("5.7.1"), "user unknown (policy)"));
        assert!(!says_no_mailbox(Some("5.7.26"), "DMARC policy"));
        assert!(!says_no_mailbox(Some("4.2.2"), "mailbox full"));
        assert!(!says_no_mailbox(None, "550 blocked by Spamhaus"));
        assert!(!says_no_mailbox(Some("5.2.2"), "mailbox full"));
    }

    #[test]
    fn auto_replies_are_recognised() {
        assert!(is_auto_reply(
            b"Auto-Submitted: auto-replied\r\nSubject: x\r\n\r\nhi"
        ));
        assert!(is_auto_reply(b"Precedence: auto_reply\r\n\r\nhi"));
        assert!(!is_auto_reply(
            b"Auto-Submitted: no\r\nSubject: x\r\n\r\nhi"
        ));
        assert!(!is_auto_reply(b"Subject: unsubscribe\r\n\r\n"));
    }

    #[test]
    fn a_dsn_gives_its_recipient_blocks() {
        let dsn = b"From: MAILER-DAEMON@mx.example\r\nTo: bounce-x@in.example\r\nSubject: failure\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n\
Final-Recipient: rfc822; ann@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <ann@example.org>:\r\n  user unknown\r\n\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: news@example.com\r\n\r\n--b--\r\n";
        let Report::Dsn(r) = read(dsn) else {
            panic!("{:?}", read(dsn))
        };
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].final_recipient.as_deref(), Some("ann@example.org"));
        assert_eq!(r[0].action, "failed");
        assert_eq!(r[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            r[0].diagnostic.as_deref(),
            Some("550 5.1.1 <ann@example.org>: user unknown")
        );
        assert_eq!(read(b"Subject: hi\r\n\r\nplain"), Report::Other);
        assert_eq!(read(b"\x00\x01garbage"), Report::Other);
    }
}
