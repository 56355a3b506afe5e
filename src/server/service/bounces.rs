//! Bounces, complaints and the relay's breaker: what a failed delivery or a feedback
//! report does to the suppression list and the event log.
//!
//! - A permanent failure that says the mailbox does not exist (`reports::says_no_mailbox`)
//!   suppresses the address (reason `BOUNCE`); every other failure writes a `bounce`
//!   event and suppresses nobody.
//! - A complaint about a message optbox can name suppresses the address (reason
//!   `COMPLAINT`), writes a `complaint` event, and opts the recipient out of the list the
//!   message was sent for.
//! - The breaker: when more than `relay_breaker_share` of the last
//!   `relay_breaker_window` deliveries failed permanently, the relay pauses (in the
//!   database, so every instance does) and no bounce suppresses anyone until an operator
//!   resumes it: a share that high says something is wrong on the way (a misconfigured
//!   upstream, a bad list), not with each address.

use super::ServiceResult;
use super::recipient::{self, Resolved};
use crate::domain::{Audit, EmailAddress, Source, SuppressionReason};
use crate::server::config::InboundSettings;
use crate::server::events::mail_object;
use crate::server::mail::relay::Observer;
use crate::server::mail::reports;
use crate::server::store::{
    ClaimedMail, DynStore, MailEvent, NewSuppression, SendRecord, StoreError, StoreResult,
    email_hash,
};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// How the pause flag is cached between database reads.
const PAUSE_CHECK_MS: i64 = 1000;

/// Bounce and complaint handling, shared by the relay worker and the inbound listener.
pub struct Bounces {
    store: DynStore,
    share: f64,
    window: usize,
    /// The last deliveries' outcomes (true: failed permanently).
    recent: Mutex<VecDeque<bool>>,
    paused: AtomicBool,
    checked_at: AtomicI64,
}

/// What a bounce is about and says.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub record: &'a SendRecord,
    /// The enhanced status code, when known.
    pub status: Option<&'a str>,
    /// The reply or `Diagnostic-Code` text.
    pub diagnostic: &'a str,
    pub permanent: bool,
    /// `relay` (the upstream's refusal) or `dsn` (a delivery status notification).
    pub via: &'static str,
}

impl Bounces {
    pub fn new(store: DynStore, s: &InboundSettings) -> Self {
        Self {
            store,
            share: s.relay_breaker_share,
            window: s.relay_breaker_window.max(10),
            recent: Mutex::new(VecDeque::new()),
            paused: AtomicBool::new(false),
            checked_at: AtomicI64::new(0),
        }
    }

    /// Whether the relay is paused (read from the database at most once a second).
    pub async fn is_paused(&self) -> bool {
        let now = crate::server::store::now_ms();
        if now - self.checked_at.load(Ordering::Relaxed) >= PAUSE_CHECK_MS {
            match self.store.relay_paused().await {
                Ok(p) => self.paused.store(p.is_some(), Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(error = %crate::server::service::chain(&e), "cannot read whether the relay is paused")
                }
            }
            self.checked_at.store(now, Ordering::Relaxed);
        }
        self.paused.load(Ordering::Relaxed)
    }

    /// Counts one delivery and trips the breaker when too many failed.
    async fn count(&self, failed: bool) {
        if self.share <= 0.0 {
            return;
        }
        let trip = {
            let Ok(mut r) = self.recent.lock() else {
                return;
            };
            r.push_back(failed);
            while r.len() > self.window {
                r.pop_front();
            }
            let failures = r.iter().filter(|f| **f).count();
            (r.len() >= self.window && failures as f64 > self.share * r.len() as f64)
                .then(|| (failures, r.len()))
        };
        let Some((failures, of)) = trip else {
            return;
        };
        let why = format!(
            "{failures} of the last {of} deliveries failed permanently (more than {:.0}%): \
             the relay is paused and bounces suppress nobody until an operator resumes it",
            self.share * 100.0
        );
        let ev = MailEvent {
            kind: "relay.paused",
            list_name: None,
            topic_name: None,
            contact_email: None,
            detail: json!({ "reason": why, "failures": failures, "deliveries": of }),
        };
        match self
            .store
            .set_relay_paused(Some(&why), &Audit::new(Source::Report), &[ev])
            .await
        {
            Ok(true) => tracing::error!(reason = %why, "relay paused by its breaker"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %crate::server::service::chain(&e), "cannot pause the relay")
            }
        }
        self.paused.store(true, Ordering::Relaxed);
        if let Ok(mut r) = self.recent.lock() {
            r.clear();
        }
    }

    /// Whether `reason` puts the recipient of `r` on the suppression list: the message's
    /// configuration set may choose the reasons (its SuppressionOptions); without one, or
    /// with a set that leaves it to the account, every reason does.
    async fn set_suppresses(&self, r: &SendRecord, reason: SuppressionReason) -> StoreResult<bool> {
        let Some(name) = &r.info.configuration_set else {
            return Ok(true);
        };
        match self.store.get_configuration_set(name).await {
            Ok(set) => Ok(set
                .suppressed_reasons
                .is_none_or(|reasons| reasons.contains(&reason))),
            Err(StoreError::NotFound) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Resumes a paused relay; false when it was not paused.
    pub async fn resume(&self, audit: &Audit) -> StoreResult<bool> {
        let ev = MailEvent {
            kind: "relay.resumed",
            list_name: None,
            topic_name: None,
            contact_email: None,
            detail: json!({}),
        };
        let changed = self.store.set_relay_paused(None, audit, &[ev]).await?;
        self.paused.store(false, Ordering::Relaxed);
        if let Ok(mut r) = self.recent.lock() {
            r.clear();
        }
        Ok(changed)
    }

    /// A failed delivery of one send record: a `bounce` event, and the address
    /// suppressed when the failure says the mailbox does not exist (and the breaker
    /// has not tripped).
    pub async fn bounce(&self, f: Failure<'_>) -> StoreResult<()> {
        let r = f.record;
        let no_mailbox = f.permanent && reports::says_no_mailbox(f.status, f.diagnostic);
        let paused = self.is_paused().await;
        let suppress =
            no_mailbox && !paused && self.set_suppresses(r, SuppressionReason::Bounce).await?;
        let sub_type = if no_mailbox { "NoEmail" } else { "General" };
        let detail = json!({
            "messageId": r.message_id,
            "sendId": r.id,
            "recipient": r.rcpt,
            "bounceType": if f.permanent { "Permanent" } else { "Transient" },
            "bounceSubType": sub_type,
            "status": f.status,
            "diagnosticCode": f.diagnostic,
            "suppressed": suppress,
            "via": f.via,
            "feedbackId": format!("bounce-{}", r.id),
            "mail": mail_object(r),
        });
        let ev = MailEvent {
            kind: "bounce",
            list_name: r.info.list_name.as_deref(),
            topic_name: r.info.topic_name.as_deref(),
            contact_email: Some(&r.rcpt),
            detail,
        };
        let audit = about(r);
        if suppress {
            let feedback = format!("bounce-{}", r.id);
            let row = NewSuppression {
                email: &r.rcpt,
                reason: SuppressionReason::Bounce,
                message_id: Some(&r.message_id),
                feedback_id: Some(&feedback),
            };
            self.store.put_suppressions(&[row], &audit, &[ev]).await
        } else {
            if no_mailbox {
                tracing::warn!(recipient = %r.rcpt, "hard bounce not suppressed: the relay is paused");
            }
            self.store.log_mail_events(&audit, &[ev]).await
        }
    }

    /// A complaint about send record `r`: suppression (`COMPLAINT`), a `complaint`
    /// event, and the recipient opted out of the list (and topic) the message was for.
    pub async fn complaint(&self, r: &SendRecord, feedback_type: &str) -> ServiceResult<()> {
        let audit = about(r);
        let mut as_recipient = audit.clone();
        as_recipient.actor = crate::domain::Actor::Recipient;
        let feedback = format!("complaint-{}", r.id);
        let suppress = self.set_suppresses(r, SuppressionReason::Complaint).await?;
        let ev = MailEvent {
            kind: "complaint",
            list_name: r.info.list_name.as_deref(),
            topic_name: r.info.topic_name.as_deref(),
            contact_email: Some(&r.rcpt),
            detail: json!({
                "messageId": r.message_id,
                "sendId": r.id,
                "recipient": r.rcpt,
                "complaintFeedbackType": feedback_type,
                "suppressed": suppress,
                "feedbackId": &feedback,
                "mail": mail_object(r),
            }),
        };
        let row = NewSuppression {
            email: &r.rcpt,
            reason: SuppressionReason::Complaint,
            message_id: Some(&r.message_id),
            feedback_id: Some(&feedback),
        };
        if suppress {
            self.store
                .put_suppressions(&[row], &as_recipient, &[ev])
                .await?;
        } else {
            self.store.log_mail_events(&as_recipient, &[ev]).await?;
        }
        opt_out(&self.store, r, as_recipient).await
    }
}

/// The audit of what a send record's mail system reports: the message, its send record
/// and its configuration set (whose event destinations get the event).
fn about(r: &SendRecord) -> Audit {
    let mut a = Audit::new(Source::Report)
        .caused_by(&r.message_id)
        .in_set(r.info.configuration_set.clone());
    a.send_id = Some(r.id);
    a
}

/// Opts the recipient of `r` out of its message's list: its topic, or the whole list
/// for a message without one; as the one-click POST does (durable when this returns).
pub async fn opt_out(store: &DynStore, r: &SendRecord, audit: Audit) -> ServiceResult<()> {
    let Some(list_name) = &r.info.list_name else {
        return Ok(());
    };
    let list = match store.get_list_cached(list_name).await {
        Ok(l) => l,
        // The list is gone: there is nothing left to unsubscribe from.
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let Ok(email) = EmailAddress::parse(&r.rcpt) else {
        return Ok(());
    };
    let topic = r
        .info
        .topic_name
        .as_deref()
        .and_then(|t| list.topic(t).cloned());
    let resolved = Resolved {
        list,
        topic,
        hash: email_hash(&email),
        contact: None,
        send_id: Some(r.id),
    };
    recipient::one_click(store.as_ref(), resolved, audit).await
}

#[async_trait::async_trait]
impl Observer for Bounces {
    async fn delivered(&self, m: &ClaimedMail, refused: Option<&str>) {
        self.count(refused.is_some()).await;
        let (Some(reply), Some(id)) = (refused, m.send_id) else {
            return;
        };
        let record = match self.store.get_send_record(id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %crate::server::service::chain(&e), send_id = id, "refused delivery without its send record");
                return;
            }
        };
        let status = reports::enhanced_status(reply);
        let f = Failure {
            record: &record,
            status: status.as_deref(),
            diagnostic: reply,
            permanent: true,
            via: "relay",
        };
        if let Err(e) = self.bounce(f).await {
            tracing::error!(error = %crate::server::service::chain(&e), send_id = id, "cannot record a refused delivery");
        }
    }

    async fn may_deliver(&self) -> bool {
        !self.is_paused().await
    }
}
