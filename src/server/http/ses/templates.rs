//! SES v2 stored email templates under `/v2/email/templates`: CreateEmailTemplate,
//! GetEmailTemplate, UpdateEmailTemplate, DeleteEmailTemplate, ListEmailTemplates and
//! TestRenderEmailTemplate. (SendEmail renders them: `send_email.rs`.)

use super::paging::{decode_token, encode_token, page_size, query_page_size, ts};
use super::wire::{self, Violations};
use super::{ApiError, ApiRequest};
use crate::server::service::templates;
use crate::server::store::TemplateContent;
use mail_builder::MessageBuilder;
use serde::Deserialize;
use serde_json::json;

type OpResult = Result<String, ApiError>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct ContentIn {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl ContentIn {
    pub fn into_content(self) -> TemplateContent {
        TemplateContent {
            subject: self.subject.unwrap_or_default(),
            text: self.text,
            html: self.html,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateIn {
    template_name: Option<String>,
    template_content: Option<ContentIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UpdateIn {
    template_content: Option<ContentIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RenderIn {
    template_data: Option<String>,
}

fn content_json(c: &TemplateContent) -> serde_json::Value {
    let mut o = json!({ "Subject": c.subject });
    if let Some(t) = &c.text {
        o["Text"] = json!(t);
    }
    if let Some(h) = &c.html {
        o["Html"] = json!(h);
    }
    o
}

/// `POST /v2/email/templates`.
pub async fn create(api: &ApiRequest<'_>) -> OpResult {
    let input: CreateIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let name = v.required("templateName", &input.template_name).cloned();
    let content = v
        .required("templateContent", &input.template_content)
        .is_some();
    v.finish()?;
    let (Some(name), true) = (name, content) else {
        return Err(ApiError::bad_request(
            "TemplateName and TemplateContent are required.",
        ));
    };
    let c = input.template_content.unwrap_or_default().into_content();
    templates::create(api.state.store.as_ref(), &name, &c, &api.audit).await?;
    Ok("{}".into())
}

/// `GET /v2/email/templates/{TemplateName}`.
pub async fn get(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let t = templates::get(api.state.store.as_ref(), name).await?;
    Ok(json!({
        "TemplateName": t.name,
        "TemplateContent": content_json(&t.content),
    })
    .to_string())
}

/// `PUT /v2/email/templates/{TemplateName}`.
pub async fn update(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let input: UpdateIn = wire::parse(api.body)?;
    let Some(c) = input.template_content else {
        return Err(ApiError::bad_request("TemplateContent is required."));
    };
    templates::update(
        api.state.store.as_ref(),
        name,
        &c.into_content(),
        &api.audit,
    )
    .await?;
    Ok("{}".into())
}

/// `DELETE /v2/email/templates/{TemplateName}`.
pub async fn delete(api: &ApiRequest<'_>, name: &str) -> OpResult {
    templates::delete(api.state.store.as_ref(), name, &api.audit).await?;
    Ok("{}".into())
}

/// `GET /v2/email/templates`: by name, paged.
pub async fn list(api: &ApiRequest<'_>) -> OpResult {
    let size = page_size(query_page_size(api)?)?.min(100);
    let after = api.query_one("NextToken").map(decode_token).transpose()?;
    let mut page = templates::list(api.state.store.as_ref(), after.as_deref(), size + 1).await?;
    let more = page.len() > size as usize;
    page.truncate(size as usize);
    let mut out = json!({
        "TemplatesMetadata": page.iter().map(|t| json!({
            "TemplateName": t.name,
            "CreatedTimestamp": ts(t.created_at),
        })).collect::<Vec<_>>(),
    });
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(encode_token(&last.name));
    }
    Ok(out.to_string())
}

/// The rendered parts as one MIME message (TestRenderEmailTemplate's answer).
pub(super) fn mime(r: &templates::Rendered) -> Vec<u8> {
    let mut b = MessageBuilder::new().subject(r.subject.as_str());
    if let Some(t) = &r.text {
        b = b.text_body(t.as_str());
    }
    if let Some(h) = &r.html {
        b = b.html_body(h.as_str());
    }
    b.write_to_vec().unwrap_or_default()
}

/// Parses `TemplateData` (a JSON object in a string; empty is no data).
pub(super) fn template_data(raw: Option<&str>) -> Result<serde_json::Value, ApiError> {
    match raw {
        None | Some("") => Ok(json!({})),
        Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(v @ serde_json::Value::Object(_)) => Ok(v),
            _ => Err(ApiError::bad_request("TemplateData must be a JSON object.")),
        },
    }
}

/// `POST /v2/email/templates/{TemplateName}/render`.
pub async fn test_render(api: &ApiRequest<'_>, name: &str) -> OpResult {
    let input: RenderIn = wire::parse(api.body)?;
    let Some(raw) = input.template_data else {
        return Err(ApiError::bad_request("TemplateData is required."));
    };
    let data = template_data(Some(&raw))?;
    let t = templates::get(api.state.store.as_ref(), name).await?;
    let r = templates::render(&t.content, &data)
        .map_err(|e| ApiError::bad_request(format!("Template {name} cannot be rendered: {e}")))?;
    Ok(json!({ "RenderedTemplate": String::from_utf8_lossy(&mime(&r)) }).to_string())
}
