//! Who made a change and why: recorded with the event every change writes.
//!
//! Every event says who acted ([`Actor`]: a recipient by link, one-click or mail; a
//! dashboard user; an API key; an import job; the CLI), through which surface
//! ([`Source`], the SES-shaped `source` of the webhooks), and which message caused it when
//! that is known (the SES `MessageId` of a send). What it is about (list, topic, contact)
//! and its kind-specific detail travel with the event itself.

use serde::{Deserialize, Serialize};

/// The surface a change came through; the `source` of the event log and the webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// RFC 8058 one-click POST.
    UnsubscribeHeader,
    /// The preference page.
    LandingPage,
    /// The SES API or `/v1/links`.
    Api,
    /// The dashboard.
    Admin,
    /// An import job (CLI, SES CreateImportJob, dashboard upload).
    Import,
    /// The sending pipeline (a recipient added because mail was sent to them).
    Send,
    /// The `optbox` command line.
    Cli,
    /// Mail to an unsubscribe address optbox issued (`List-Unsubscribe`'s mailto).
    Mailto,
    /// A report about a message: a delivery status notification, a feedback (complaint)
    /// report, or the upstream relay's refusal.
    Report,
    /// A subscription confirmed from the link its hosted form (`/s/{list}`) mailed.
    SubscribeForm,
    /// The page a manage link (`/manage`) opens.
    ManagePage,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::UnsubscribeHeader => "UnsubscribeHeader",
            Source::LandingPage => "LandingPage",
            Source::Api => "Api",
            Source::Admin => "Admin",
            Source::Import => "Import",
            Source::Send => "Send",
            Source::Cli => "Cli",
            Source::Mailto => "Mailto",
            Source::Report => "Report",
            Source::SubscribeForm => "SubscribeForm",
            Source::ManagePage => "ManagePage",
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// The recipient, by their link (the page or one-click).
    Recipient,
    /// A dashboard user (the id is the user's).
    User,
    /// A sender's API key (SES API, `/v1/links`, SMTP AUTH; the id is the access key id).
    ApiKey,
    /// An import job (the id is the job's).
    Import,
    /// The operator at the command line.
    Cli,
    /// A mail system: a bounce, or the upstream relay's refusal.
    MailSystem,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Recipient => "recipient",
            Actor::User => "user",
            Actor::ApiKey => "api_key",
            Actor::Import => "import",
            Actor::Cli => "cli",
            Actor::MailSystem => "mail_system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Actor::Recipient,
            Actor::User,
            Actor::ApiKey,
            Actor::Import,
            Actor::Cli,
            Actor::MailSystem,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    /// Who acts through `source` when nothing more is known.
    pub fn of(source: Source) -> Self {
        match source {
            Source::UnsubscribeHeader
            | Source::LandingPage
            | Source::Mailto
            | Source::SubscribeForm
            | Source::ManagePage => Actor::Recipient,
            Source::Report => Actor::MailSystem,
            Source::Api | Source::Send => Actor::ApiKey,
            Source::Admin => Actor::User,
            Source::Import => Actor::Import,
            Source::Cli => Actor::Cli,
        }
    }
}

/// Who made a change, for the event written in the same transaction.
#[derive(Debug, Clone)]
pub struct Audit {
    pub source: Source,
    pub actor: Actor,
    /// The actor's id: a dashboard user's id, an access key id, an import job id.
    pub actor_id: Option<String>,
    /// The message that caused the change, when known (its SES `MessageId`).
    pub message_id: Option<String>,
    /// The send record (one recipient's copy) that caused the change, when known: an
    /// unsubscribe made from that copy's link.
    pub send_id: Option<i64>,
    /// The SES configuration set of the message that caused the change: the event goes
    /// to that set's event destinations.
    pub configuration_set: Option<String>,
    /// A keyed hash of the client IP, never the IP itself.
    pub ip_hash: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP request that made the change (its `X-Request-Id`, as logged).
    pub request_id: Option<String>,
}

impl Audit {
    /// A change with no client behind it (the CLI, an import job, the sending pipeline).
    pub fn new(source: Source) -> Self {
        Self {
            source,
            actor: Actor::of(source),
            actor_id: None,
            message_id: None,
            send_id: None,
            configuration_set: None,
            ip_hash: None,
            user_agent: None,
            request_id: None,
        }
    }

    /// A change a client made: its keyed address hash and its `User-Agent`, cut to 256
    /// characters.
    pub fn from_client(source: Source, ip_hash: Option<String>, user_agent: Option<&str>) -> Self {
        Self {
            ip_hash,
            user_agent: user_agent.map(|s| s.chars().take(256).collect()),
            ..Self::new(source)
        }
    }

    /// The same change, made by the actor with this id.
    pub fn by(mut self, actor_id: impl Into<String>) -> Self {
        self.actor_id = Some(actor_id.into());
        self
    }

    /// The same change, caused by the message with this id.
    pub fn caused_by(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }

    /// The same change, about a message sent with this configuration set.
    pub fn in_set(mut self, configuration_set: Option<String>) -> Self {
        self.configuration_set = configuration_set;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_has_an_actor_and_actors_round_trip() {
        for s in [
            Source::UnsubscribeHeader,
            Source::LandingPage,
            Source::Api,
            Source::Admin,
            Source::Import,
            Source::Send,
            Source::Cli,
            Source::Mailto,
            Source::Report,
        ] {
            let a = Audit::new(s);
            assert_eq!(Actor::parse(a.actor.as_str()), Some(a.actor));
        }
        assert_eq!(Actor::of(Source::UnsubscribeHeader), Actor::Recipient);
        assert_eq!(Actor::of(Source::Admin), Actor::User);
        let a = Audit::from_client(Source::Api, None, Some(&"x".repeat(300)))
            .by("AKIA1")
            .caused_by("m-1");
        assert_eq!(a.user_agent.unwrap().len(), 256);
        assert_eq!(a.actor_id.as_deref(), Some("AKIA1"));
        assert_eq!(a.message_id.as_deref(), Some("m-1"));
    }
}
