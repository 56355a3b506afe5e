//! Mail from the internet to the inbound listener (the MX of `inbound_domain`): which
//! recipients it takes, and what a message to each does.
//!
//! | recipient | what a message does |
//! |---|---|
//! | `unsub-…` | unsubscribes the recipient of that send record, as its one-click link would; auto-replies and bounces do nothing |
//! | `bounce-…` (VERP) | a delivery status notification is a bounce of that send record; a feedback report a complaint about it |
//! | `abuse@`, `postmaster@`, `inbound_report_address` | a feedback report is a complaint about the message it includes, when that message carries an address optbox issued and can verify |
//!
//! Every other recipient is refused at RCPT, so the listener never relays. Nothing in a
//! report is believed on its own: the send record a verified address names says who the
//! recipient was and which list the message was for.

use super::ServiceError;
use super::bounces::{self, Bounces, Failure};
use crate::domain::{Audit, Source};
use crate::server::config::TokenKey;
use crate::server::mail::issued::{self, AddressError, Purpose};
use crate::server::mail::reports::{self, Report};
use crate::server::store::{DynStore, MailEvent, SendRecord, StoreError};
use serde_json::json;

/// What the listener needs.
pub struct Inbound<'a> {
    pub store: &'a DynStore,
    pub bounces: &'a Bounces,
    pub keys: &'a [TokenKey],
    /// `inbound_domain`, lower-cased.
    pub domain: &'a str,
    pub report_address: Option<&'a str>,
}

/// An accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// An address optbox issued: its purpose and send record.
    Issued(Purpose, i64),
    /// `abuse@`, `postmaster@` or the report address: mailboxes for reports.
    Reports(String),
}

/// Why a message could not be taken now (the sender should try again), with its cause.
#[derive(Debug, thiserror::Error)]
#[error("the message could not be taken now")]
pub struct Unavailable(#[source] super::Cause);

impl From<StoreError> for Unavailable {
    fn from(e: StoreError) -> Self {
        Unavailable(Box::new(e))
    }
}

impl From<ServiceError> for Unavailable {
    fn from(e: ServiceError) -> Self {
        Unavailable(Box::new(e))
    }
}

impl Inbound<'_> {
    /// Whether the listener takes mail for `address`; the SMTP reply when it does not.
    pub fn accept(&self, address: &str) -> Result<Recipient, &'static str> {
        let a = address.trim().to_ascii_lowercase();
        match issued::parse(self.keys, self.domain, &a) {
            Ok((p, id)) => return Ok(Recipient::Issued(p, id)),
            Err(AddressError::Forged) => {
                return Err("550 5.1.1 No such recipient (an address optbox did not issue)");
            }
            Err(AddressError::Foreign) => {}
        }
        let (local, domain) = a.rsplit_once('@').unwrap_or((a.as_str(), ""));
        let ours = domain == self.domain;
        if (ours && matches!(local, "abuse" | "postmaster"))
            || self.report_address.is_some_and(|r| r.eq_ignore_ascii_case(&a))
            // RFC 5321 4.5.1: `postmaster` without a domain is always taken.
            || a == "postmaster"
        {
            return Ok(Recipient::Reports(a));
        }
        if ours {
            Err("550 5.1.1 No such recipient")
        } else {
            Err("550 5.7.1 Relaying denied: this server takes mail for its own addresses only")
        }
    }

    /// Acts on one message (after DATA); `Ok` only when what it does is durable. The
    /// returned lines say what it did (for the log).
    pub async fn receive(
        &self,
        mail_from: &str,
        rcpts: &[Recipient],
        data: &[u8],
    ) -> Result<Vec<String>, Unavailable> {
        let mut done = Vec::new();
        for r in rcpts {
            let note = match r {
                Recipient::Issued(Purpose::Unsubscribe, id) => {
                    self.unsubscribe(mail_from, *id, data).await?
                }
                Recipient::Issued(Purpose::Bounce, id) => self.returned(*id, data).await?,
                Recipient::Reports(to) => self.report(mail_from, to, data).await?,
            };
            done.push(note);
        }
        Ok(done)
    }

    async fn record(&self, id: i64) -> Result<Option<SendRecord>, Unavailable> {
        match self.store.get_send_record(id).await {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Mail to an unsubscribe address.
    async fn unsubscribe(
        &self,
        mail_from: &str,
        id: i64,
        data: &[u8],
    ) -> Result<String, Unavailable> {
        if mail_from.is_empty() {
            return Ok(format!(
                "unsubscribe address {id}: a bounce (null sender), ignored"
            ));
        }
        if reports::is_auto_reply(data) {
            return Ok(format!("unsubscribe address {id}: an auto-reply, ignored"));
        }
        let Some(rec) = self.record(id).await? else {
            return Ok(format!(
                "unsubscribe address {id}: no such send record, ignored"
            ));
        };
        if rec.info.list_name.is_none() {
            return Ok(format!(
                "unsubscribe address {id}: not a list-managed message, ignored"
            ));
        }
        let audit = Audit::new(Source::Mailto).caused_by(&rec.message_id);
        bounces::opt_out(self.store, &rec, audit).await?;
        Ok(format!(
            "unsubscribe address {id}: {} unsubscribed",
            rec.rcpt
        ))
    }

    /// Mail to a VERP address: a bounce or a complaint about that send record.
    async fn returned(&self, id: i64, data: &[u8]) -> Result<String, Unavailable> {
        let Some(rec) = self.record(id).await? else {
            return Ok(format!("bounce address {id}: no such send record, ignored"));
        };
        match reports::read(data) {
            Report::Dsn(blocks) => {
                let block = blocks
                    .iter()
                    .find(|b| {
                        b.final_recipient
                            .as_deref()
                            .is_some_and(|f| f.eq_ignore_ascii_case(&rec.rcpt))
                    })
                    .or_else(|| {
                        blocks
                            .iter()
                            .find(|b| b.action == "failed" || b.action == "delayed")
                    });
                let Some(b) = block else {
                    return Ok(format!(
                        "bounce address {id}: a DSN without a failure, ignored"
                    ));
                };
                if b.action != "failed" && b.action != "delayed" {
                    return Ok(format!(
                        "bounce address {id}: a DSN saying {}, ignored",
                        b.action
                    ));
                }
                let permanent =
                    b.action == "failed" && b.status.as_deref().is_none_or(|s| s.starts_with('5'));
                let diagnostic = b.diagnostic.clone().unwrap_or_default();
                self.bounces
                    .bounce(Failure {
                        record: &rec,
                        status: b.status.as_deref(),
                        diagnostic: &diagnostic,
                        permanent,
                        via: "dsn",
                    })
                    .await?;
                Ok(format!(
                    "bounce address {id}: a bounce of {} ({})",
                    rec.rcpt,
                    b.status.as_deref().unwrap_or("no status")
                ))
            }
            Report::Feedback { feedback_type, .. } => {
                self.bounces.complaint(&rec, feedback_type).await?;
                Ok(format!(
                    "bounce address {id}: a complaint about {}",
                    rec.rcpt
                ))
            }
            Report::Other => Ok(format!(
                "bounce address {id}: neither a DSN nor a feedback report, ignored"
            )),
        }
    }

    /// Mail to `abuse@`, `postmaster@` or the report address.
    async fn report(&self, mail_from: &str, to: &str, data: &[u8]) -> Result<String, Unavailable> {
        match reports::read(data) {
            Report::Feedback {
                feedback_type,
                original,
                mail_from: original_from,
            } => {
                let text = format!("{}\n{original}", original_from.unwrap_or_default());
                let Some(rec) = self.named_record(&text).await? else {
                    return Ok(format!(
                        "{to}: a feedback report about a message optbox cannot verify it sent, ignored"
                    ));
                };
                self.bounces.complaint(&rec, feedback_type).await?;
                Ok(format!("{to}: a complaint about {}", rec.rcpt))
            }
            _ => {
                // Mail for people (or a report in no standard form): kept as an event
                // for the operator, never acted on.
                let subject = mail_parser::MessageParser::new()
                    .parse_headers(data)
                    .and_then(|m| m.subject().map(|s| s.chars().take(200).collect::<String>()));
                let ev = MailEvent {
                    kind: "inbound.message",
                    list_name: None,
                    topic_name: None,
                    contact_email: None,
                    detail: json!({ "to": to, "from": mail_from, "subject": subject, "size": data.len() }),
                };
                self.store
                    .log_mail_events(&Audit::new(Source::Report), &[ev])
                    .await?;
                Ok(format!("{to}: a message for the operator, logged"))
            }
        }
    }

    /// The send record named by the first address optbox issued that appears in `text`
    /// and verifies.
    async fn named_record(&self, text: &str) -> Result<Option<SendRecord>, Unavailable> {
        for address in issued_in(text, self.domain) {
            if let Ok((_, id)) = issued::parse(self.keys, self.domain, &address)
                && let Some(r) = self.record(id).await?
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

/// Candidate addresses under `domain` in a text (the headers of an included message).
fn issued_in(text: &str, domain: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let needle = format!("@{domain}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(&needle) {
        let at = from + at;
        let start = lower[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map(|i| i + 1)
            .unwrap_or(0);
        if start < at {
            out.push(format!("{}{needle}", &lower[start..at]));
        }
        from = at + needle.len();
        if out.len() >= 20 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_addresses_are_found_in_headers() {
        let t = "Return-Path: <bounce-abc@in.example>\r\nList-Unsubscribe: <https://x/u/1>, <mailto:UNSUB-XYZ@IN.example?subject=unsubscribe>\r\nTo: ann@example.org";
        assert_eq!(
            issued_in(t, "in.example"),
            vec![
                "bounce-abc@in.example".to_owned(),
                "unsub-xyz@in.example".to_owned()
            ]
        );
        assert!(issued_in("nothing here", "in.example").is_empty());
    }
}
