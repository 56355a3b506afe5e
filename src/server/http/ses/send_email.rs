//! SES v2 `SendEmail` (`POST /v2/email/outbound-emails`): Simple, Raw and Template (a
//! stored template by `TemplateName` or `TemplateArn`, or inline `TemplateContent`,
//! rendered as Handlebars; one that does not render is a `Rendering Failure` event) content, `Destination`, `ReplyToAddresses`, `EmailTags`,
//! `ConfigurationSetName` (kept with the send records) and `ListManagementOptions`. The message is
//! built (mail-builder), run through the list-management pipeline and queued for relay.

use super::{ApiError, ApiRequest};
use crate::server::mail::options::ListOptions;
use crate::server::service::sending::{SendError, Submission, Via};
use crate::server::service::templates::{self, RenderError};
use crate::server::store::TemplateContent;
use axum::http::StatusCode;
use base64::Engine;
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use serde::Deserialize;
use serde_json::json;

/// Largest SendEmail body: a 10 MB raw message, base64-encoded in JSON.
pub const BODY_LIMIT: usize = 14 * 1024 * 1024;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SendEmailIn {
    from_email_address: Option<String>,
    destination: Option<DestinationIn>,
    reply_to_addresses: Option<Vec<String>>,
    content: Option<ContentIn>,
    email_tags: Option<Vec<TagIn>>,
    configuration_set_name: Option<String>,
    list_management_options: Option<ListOptionsIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DestinationIn {
    to_addresses: Vec<String>,
    cc_addresses: Vec<String>,
    bcc_addresses: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContentIn {
    simple: Option<SimpleIn>,
    raw: Option<RawIn>,
    template: Option<TemplateIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContentPart {
    data: Option<String>,
    charset: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct BodyIn {
    text: Option<ContentPart>,
    html: Option<ContentPart>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct HeaderIn {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SimpleIn {
    subject: Option<ContentPart>,
    body: Option<BodyIn>,
    headers: Option<Vec<HeaderIn>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RawIn {
    data: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TemplateContentIn {
    subject: Option<String>,
    text: Option<String>,
    html: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TemplateIn {
    template_name: Option<String>,
    template_arn: Option<String>,
    template_content: Option<TemplateContentIn>,
    template_data: Option<String>,
    headers: Option<Vec<HeaderIn>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
struct TagIn {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListOptionsIn {
    contact_list_name: Option<String>,
    topic_name: Option<String>,
}

/// Header fields SES sets itself and refuses in Simple/Template `Headers`.
const RESERVED: &[&str] = &[
    "bcc",
    "cc",
    "content-disposition",
    "content-type",
    "date",
    "from",
    "message-id",
    "mime-version",
    "reply-to",
    "return-path",
    "subject",
    "to",
];

fn rejected(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "MessageRejected",
        message: message.into(),
    }
}

/// The addr-spec of `Name <a@b>` or `a@b`.
fn addr_spec(s: &str) -> &str {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim(),
        _ => s.trim(),
    }
}

/// Every header value taken from a request goes through this (or `check_headers`, whose
/// printable-ASCII rule excludes line breaks too): a CR or LF would end the header and
/// let the caller add its own (`Bcc:`, a second `From:`), past the pipeline's checks.
fn check_header_line(what: &str, v: &str) -> Result<(), ApiError> {
    if v.contains(['\r', '\n']) {
        return Err(ApiError::bad_request(format!(
            "{what} must not contain line breaks."
        )));
    }
    Ok(())
}

fn check_headers(headers: &[HeaderIn]) -> Result<Vec<(String, String)>, ApiError> {
    if headers.len() > 15 {
        return Err(ApiError::bad_request(
            "A maximum of 15 headers can be specified.",
        ));
    }
    let mut out = Vec::new();
    for h in headers {
        let name = h.name.as_deref().unwrap_or("");
        let value = h.value.as_deref().unwrap_or("");
        let name_ok = !name.is_empty()
            && name.len() <= 126
            && name
                .bytes()
                .all(|b| (b'!'..=b'~').contains(&b) && b != b':');
        if !name_ok {
            return Err(ApiError::bad_request(format!(
                "Header name {name:?} is invalid: 1-126 printable ASCII characters without ':'."
            )));
        }
        check_header_line(&format!("The value of header {name}"), value)?;
        if value.is_empty()
            || value.len() > 995
            || !value.bytes().all(|b| (b' '..=b'~').contains(&b))
        {
            return Err(ApiError::bad_request(format!(
                "The value of header {name} must be 1-995 printable ASCII characters."
            )));
        }
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(ApiError::bad_request(format!(
                "Header {name} is set by the service and cannot be specified."
            )));
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

struct Built {
    data: Vec<u8>,
    envelope_from: String,
    rcpts: Vec<String>,
    /// `ConfigurationSetName` and `EmailTags`, for the send records.
    configuration_set: Option<String>,
    tags: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
fn build(
    from: &str,
    dest: &DestinationIn,
    reply_to: &[String],
    subject: &str,
    text: Option<&str>,
    html: Option<&str>,
    headers: Vec<(String, String)>,
) -> Result<Vec<u8>, ApiError> {
    let mut b = MessageBuilder::new().header("From", Raw::new(from.to_owned()));
    if !dest.to_addresses.is_empty() {
        b = b.header("To", Raw::new(dest.to_addresses.join(", ")));
    }
    if !dest.cc_addresses.is_empty() {
        b = b.header("Cc", Raw::new(dest.cc_addresses.join(", ")));
    }
    if !reply_to.is_empty() {
        b = b.header("Reply-To", Raw::new(reply_to.join(", ")));
    }
    b = b.header("Subject", Text::new(subject.to_owned()));
    for (n, v) in headers {
        b = b.header(n, Raw::new(v));
    }
    match (text, html) {
        (None, None) => {
            return Err(ApiError::bad_request(
                "The message body must contain Text or Html content.",
            ));
        }
        (t, h) => {
            if let Some(t) = t {
                b = b.text_body(t.to_owned());
            }
            if let Some(h) = h {
                b = b.html_body(h.to_owned());
            }
        }
    }
    b.write_to_vec()
        .map_err(|e| ApiError::bad_request(format!("The message cannot be built: {e}")))
}

/// What a request asks for: a message to send, or a template that did not render.
enum Parsed {
    Ready(Built, Option<ListOptions>),
    RenderingFailed {
        template: String,
        error: String,
        configuration_set: Option<String>,
        /// The message's sender, recipients and tags, for the event's `mail` object.
        source: String,
        destination: Vec<String>,
        tags: Vec<(String, String)>,
    },
}

/// The stored template a request names, if it names one.
fn stored_template_name(body: &[u8]) -> Option<String> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Named {
        content: Option<NamedContent>,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct NamedContent {
        template: Option<NamedTemplate>,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct NamedTemplate {
        template_name: Option<String>,
        template_arn: Option<String>,
    }
    let n: Named = serde_json::from_slice(body).ok()?;
    let t = n.content?.template?;
    templates::name_of(t.template_name.as_deref(), t.template_arn.as_deref())
}

fn parse_input(
    api: &ApiRequest<'_>,
    stored: Option<(String, TemplateContent)>,
) -> Result<Parsed, ApiError> {
    let input: SendEmailIn = super::wire::parse(api.body)?;
    // SES's limits: a configuration set name of 1-64 letters, digits, '_' or '-', and at
    // most 50 tags (each kept with every recipient's send record).
    if let Some(c) = &input.configuration_set_name
        && (c.is_empty()
            || c.len() > 64
            || !c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(ApiError::bad_request(format!(
            "ConfigurationSetName {:?} is invalid: 1-64 ASCII letters, digits, '_' or '-'.",
            c.chars().take(80).collect::<String>()
        )));
    }
    if input.email_tags.as_ref().is_some_and(|t| t.len() > 50) {
        return Err(ApiError::bad_request("EmailTags can hold at most 50 tags."));
    }
    for t in input.email_tags.as_deref().unwrap_or_default() {
        for (what, v) in [("Name", &t.name), ("Value", &t.value)] {
            let v = v.as_deref().unwrap_or("");
            if v.is_empty()
                || v.len() > 256
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ApiError::bad_request(format!(
                    "EmailTags {what} {v:?} is invalid: 1-256 ASCII letters, digits, '_' or '-'."
                )));
            }
        }
    }
    let options = match &input.list_management_options {
        Some(o) => {
            let list = o.contact_list_name.clone().unwrap_or_default();
            if list.is_empty() {
                return Err(ApiError::bad_request("ContactListName can't be blank."));
            }
            Some(ListOptions {
                list,
                topic: o.topic_name.clone().filter(|t| !t.is_empty()),
            })
        }
        None => None,
    };
    let dest = input.destination.unwrap_or_default();
    let reply_to = input.reply_to_addresses.unwrap_or_default();
    for a in dest
        .to_addresses
        .iter()
        .chain(&dest.cc_addresses)
        .chain(&dest.bcc_addresses)
        .chain(&reply_to)
    {
        check_header_line("An address", a)?;
    }
    let mut rcpts: Vec<String> = dest
        .to_addresses
        .iter()
        .chain(&dest.cc_addresses)
        .chain(&dest.bcc_addresses)
        .map(|a| addr_spec(a).to_owned())
        .collect();
    let content = input
        .content
        .ok_or_else(|| ApiError::bad_request("Content is required."))?;
    let given = [
        content.simple.is_some(),
        content.raw.is_some(),
        content.template.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err(ApiError::bad_request(
            "Content must contain exactly one of Simple, Raw or Template.",
        ));
    }
    let from = input.from_email_address.clone();
    if let Some(f) = &from {
        check_header_line("FromEmailAddress", f)?;
    }
    let need_from = || {
        from.clone()
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("FromEmailAddress is required."))
    };
    let data = if let Some(s) = content.simple {
        let from = need_from()?;
        let subject = s
            .subject
            .and_then(|p| p.data)
            .ok_or_else(|| ApiError::bad_request("Subject is required."))?;
        check_header_line("Subject", &subject)?;
        let body = s.body.unwrap_or_default();
        let headers = check_headers(s.headers.as_deref().unwrap_or_default())?;
        build(
            &from,
            &dest,
            &reply_to,
            &subject,
            body.text.as_ref().and_then(|p| p.data.as_deref()),
            body.html.as_ref().and_then(|p| p.data.as_deref()),
            headers,
        )?
    } else if let Some(t) = content.template {
        let from = need_from()?;
        let (template, tc) = match stored {
            Some(named) => named,
            None if t.template_name.is_some() || t.template_arn.is_some() => {
                return Err(ApiError::bad_request(
                    "Template names a stored template that could not be loaded.",
                ));
            }
            None => {
                let tc = t.template_content.ok_or_else(|| {
                    ApiError::bad_request(
                        "Template needs TemplateName, TemplateArn or TemplateContent.",
                    )
                })?;
                (
                    "(inline)".to_owned(),
                    TemplateContent {
                        subject: tc.subject.unwrap_or_default(),
                        text: tc.text,
                        html: tc.html,
                    },
                )
            }
        };
        let data = super::templates::template_data(t.template_data.as_deref())?;
        let headers = check_headers(t.headers.as_deref().unwrap_or_default())?;
        let r = match templates::render(&tc, &data) {
            Ok(r) => r,
            // A value can bring a line break: refused like every other header value.
            Err(RenderError::LineBreak) => {
                return Err(ApiError::bad_request(
                    "Subject must not contain line breaks.",
                ));
            }
            // SES accepts the message and reports a Rendering Failure event.
            Err(RenderError::Failure(error)) => {
                return Ok(Parsed::RenderingFailed {
                    template,
                    error,
                    configuration_set: input.configuration_set_name.clone(),
                    source: addr_spec(&from).to_owned(),
                    destination: rcpts.clone(),
                    tags: input
                        .email_tags
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| (t.name.unwrap_or_default(), t.value.unwrap_or_default()))
                        .collect(),
                });
            }
        };
        build(
            &from,
            &dest,
            &reply_to,
            &r.subject,
            r.text.as_deref(),
            r.html.as_deref(),
            headers,
        )?
    } else {
        let raw = content.raw.unwrap_or_default();
        let b64 = raw
            .data
            .ok_or_else(|| ApiError::bad_request("Raw Data is required."))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::bad_request("Raw Data is not valid base64."))?
    };
    if rcpts.is_empty() {
        // Raw messages may name their recipients in the header only.
        if let Some(m) = crate::server::mail::rewrite::parse_message(&data) {
            for a in [m.to(), m.cc(), m.bcc()].into_iter().flatten() {
                for x in a.iter() {
                    if let Some(e) = x.address() {
                        rcpts.push(e.to_owned());
                    }
                }
            }
        }
    }
    if rcpts.is_empty() {
        return Err(ApiError::bad_request(
            "Destination must name at least one recipient.",
        ));
    }
    let envelope_from = match &from {
        Some(f) => addr_spec(f).to_owned(),
        None => crate::server::mail::rewrite::parse_message(&data)
            .and_then(|m| {
                m.from()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .map(str::to_owned)
            })
            .ok_or_else(|| {
                ApiError::bad_request("FromEmailAddress is required when the message has no From.")
            })?,
    };
    Ok(Parsed::Ready(
        Built {
            data,
            envelope_from,
            rcpts,
            configuration_set: input.configuration_set_name,
            tags: input
                .email_tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.name.unwrap_or_default(), t.value.unwrap_or_default()))
                .collect(),
        },
        options,
    ))
}

/// A template that did not render: SES answers with a MessageId and publishes a
/// `Rendering Failure` event; nothing is sent.
async fn rendering_failure(
    api: &ApiRequest<'_>,
    template: &str,
    error: &str,
    info: crate::server::store::SendInfo,
    source: &str,
    destination: &[String],
) -> Result<String, ApiError> {
    if let Some(name) = &info.configuration_set {
        crate::server::service::configuration_sets::get(api.state.store.as_ref(), name).await?;
    }
    let message_id = crate::server::mail::relay::new_message_id();
    let to: Vec<&str> = destination.iter().map(String::as_str).collect();
    let mail = crate::server::events::mail_object_of(
        &message_id,
        crate::server::store::now_ms(),
        Some(source),
        &to,
        &info,
    );
    let ev = crate::server::store::MailEvent {
        kind: "rendering.failure",
        list_name: None,
        topic_name: None,
        contact_email: None,
        detail: json!({
            "messageId": message_id,
            "templateName": template,
            "errorMessage": error,
            "mail": mail,
        }),
    };
    let audit = api
        .audit
        .clone()
        .caused_by(&message_id)
        .in_set(info.configuration_set.clone());
    api.state
        .store
        .log_mail_events(&audit, &[ev])
        .await
        .map_err(|e| ApiError::from(crate::server::service::ServiceError::from(e)))?;
    Ok(json!({ "MessageId": message_id }).to_string())
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        use crate::server::service::ServiceError;
        match e {
            SendError::UnknownList(m) | SendError::UnknownConfigurationSet(m) => {
                ApiError::not_found(m)
            }
            SendError::SendingPaused(m) => ApiError {
                status: axum::http::StatusCode::BAD_REQUEST,
                code: "SendingPausedException",
                message: m,
            },
            SendError::UnknownTopic(m) | SendError::BadRequest(m) => ApiError::bad_request(m),
            SendError::Unpersonalised(m)
            | SendError::DkimWouldBreak(m)
            | SendError::NotVerified(m) => rejected(m),
            SendError::AccessDenied(m) => ServiceError::Forbidden(m).into(),
            SendError::Unavailable(m) => ServiceError::Unavailable(m).into(),
            SendError::Internal(cause) => ServiceError::Internal(cause).into(),
        }
    }
}

/// `POST /v2/email/outbound-emails`.
pub async fn send(api: &ApiRequest<'_>) -> Result<String, ApiError> {
    let stored = match stored_template_name(api.body) {
        Some(name) => {
            let t = templates::get(api.state.store.as_ref(), &name).await?;
            Some((t.name, t.content))
        }
        None => None,
    };
    let (built, options) = match parse_input(api, stored)? {
        Parsed::Ready(b, o) => (b, o),
        Parsed::RenderingFailed {
            template,
            error,
            configuration_set,
            source,
            destination,
            tags,
        } => {
            let info = crate::server::store::SendInfo {
                configuration_set,
                tags,
                ..Default::default()
            };
            return rendering_failure(api, &template, &error, info, &source, &destination).await;
        }
    };
    let out = api
        .state
        .process_mail(Submission {
            mail_from: built.envelope_from,
            rcpts: built.rcpts,
            data: built.data,
            options,
            via: Via::Api,
            key_id: api.audit.actor_id.clone(),
            configuration_set: built.configuration_set,
            tags: built.tags,
            scope: api.scope.clone(),
        })
        .await?;
    // A recipient on the suppression list is accepted and dropped (SES answers with a
    // MessageId and reports the bounce later); only refusals alone reject the message.
    if out.outgoing.is_empty() && out.suppressed.is_empty() {
        let reasons: Vec<&str> = out.refused.iter().map(|r| r.reason.as_str()).collect();
        return Err(rejected(format!(
            "Message rejected: {}",
            if reasons.is_empty() {
                "no recipient left".to_owned()
            } else {
                reasons.join("; ")
            }
        )));
    }
    if !out.outgoing.is_empty() {
        api.state
            .enqueue_mail(&out.outgoing)
            .await
            .map_err(|e| ApiError::from(crate::server::service::ServiceError::from(e)))?;
    }
    Ok(json!({ "MessageId": out.message_id }).to_string())
}
