//! SES stored email templates: checks, storage, and rendering as SES does (Handlebars:
//! `{{var}}`, nested fields, `{{#if}}`, `{{#each}}`; a variable the data lacks is a
//! rendering failure, not an empty string). `{{amazonSESUnsubscribeUrl}}` is reserved:
//! rendering leaves it for the sending pipeline, which fills in each recipient's link.

use super::{ServiceError, ServiceResult};
use crate::domain::Audit;
use crate::server::store::{Store, StoreError, TemplateContent, TemplateRecord};
use handlebars::Handlebars;
use serde_json::Value;

/// SES's limits: the templates of an account, and the size of one.
pub const MAX_TEMPLATES: u32 = 10_000;
pub const MAX_TEMPLATE_BYTES: usize = 500 * 1024;
/// The reserved name rendering leaves as it is.
pub const UNSUBSCRIBE_URL: &str = "amazonSESUnsubscribeUrl";

/// A rendered template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Checks a template name: 1-64 letters, digits, `_` or `-`.
pub fn check_name(name: &str) -> ServiceResult<()> {
    super::check_name("Template", name)
}

fn engine(escape_html: bool) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    if !escape_html {
        h.register_escape_fn(handlebars::no_escape);
    }
    h
}

/// Checks a template's content: a subject without line breaks, a text or HTML part, the
/// size limit, and Handlebars that parses.
pub fn check_content(c: &TemplateContent) -> ServiceResult<()> {
    if c.subject.contains(['\r', '\n']) {
        return Err(ServiceError::BadRequest(
            "The template Subject must not contain line breaks.".into(),
        ));
    }
    if c.text.is_none() && c.html.is_none() {
        return Err(ServiceError::BadRequest(
            "A template needs a Text or an Html part.".into(),
        ));
    }
    let size = c.subject.len()
        + c.text.as_deref().map_or(0, str::len)
        + c.html.as_deref().map_or(0, str::len);
    if size > MAX_TEMPLATE_BYTES {
        return Err(ServiceError::BadRequest(format!(
            "The template is {size} bytes; the limit is {MAX_TEMPLATE_BYTES}."
        )));
    }
    for (what, part) in [
        ("Subject", Some(c.subject.as_str())),
        ("Text", c.text.as_deref()),
        ("Html", c.html.as_deref()),
    ] {
        if let Some(p) = part
            && let Err(e) = handlebars::Template::compile(p)
        {
            return Err(ServiceError::BadRequest(format!(
                "The template {what} part cannot be parsed: {}",
                e.reason()
            )));
        }
    }
    Ok(())
}

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// What SES reports as a rendering failure: a variable the data lacks, a helper's
    /// error, data that is not an object.
    #[error("{0}")]
    Failure(String),
    /// The data put a line break into the Subject (a header injection).
    #[error("the rendered Subject contains a line break")]
    LineBreak,
}

/// Renders `c` with `data` (a JSON object): the subject and text parts as they are, the
/// HTML part with values HTML-escaped.
pub fn render(c: &TemplateContent, data: &Value) -> Result<Rendered, RenderError> {
    let mut data = match data {
        Value::Object(m) => Value::Object(m.clone()),
        Value::Null => Value::Object(Default::default()),
        _ => {
            return Err(RenderError::Failure(
                "TemplateData must be a JSON object".into(),
            ));
        }
    };
    data[UNSUBSCRIBE_URL] = Value::String(format!("{{{{{UNSUBSCRIBE_URL}}}}}"));
    let plain = engine(false);
    let html = engine(true);
    let run = |h: &Handlebars<'_>, t: &str| {
        h.render_template(t, &data)
            .map_err(|e| RenderError::Failure(e.reason().to_string()))
    };
    let subject = run(&plain, &c.subject)?;
    if subject.contains(['\r', '\n']) {
        return Err(RenderError::LineBreak);
    }
    Ok(Rendered {
        subject,
        text: c.text.as_deref().map(|t| run(&plain, t)).transpose()?,
        html: c.html.as_deref().map(|t| run(&html, t)).transpose()?,
    })
}

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("Template {name} does not exist."))
}

/// The `template.*` event of a change to the template `name` (its name only).
async fn record(store: &dyn Store, audit: &Audit, kind: &str, name: &str) -> ServiceResult<()> {
    let detail = serde_json::json!({ "name": name });
    Ok(store.record_change(audit, kind, None, None, detail).await?)
}

/// Stores a template; a `template.created` event says who did.
pub async fn create(
    store: &dyn Store,
    name: &str,
    c: &TemplateContent,
    audit: &Audit,
) -> ServiceResult<()> {
    check_name(name)?;
    check_content(c)?;
    match store.create_template(name, c, MAX_TEMPLATES).await {
        Err(StoreError::Conflict) => Err(ServiceError::AlreadyExists(format!(
            "Template {name} already exists."
        ))),
        Err(StoreError::LimitReached) => Err(ServiceError::LimitExceeded(format!(
            "An account can hold at most {MAX_TEMPLATES} templates."
        ))),
        other => {
            other?;
            record(store, audit, "template.created", name).await
        }
    }
}

pub async fn get(store: &dyn Store, name: &str) -> ServiceResult<TemplateRecord> {
    match store.get_template(name).await {
        Err(StoreError::NotFound) => Err(not_found(name)),
        other => Ok(other?),
    }
}

/// Replaces a template's content; a `template.updated` event says who did.
pub async fn update(
    store: &dyn Store,
    name: &str,
    c: &TemplateContent,
    audit: &Audit,
) -> ServiceResult<()> {
    check_content(c)?;
    match store.update_template(name, c).await {
        Err(StoreError::NotFound) => Err(not_found(name)),
        other => {
            other?;
            record(store, audit, "template.updated", name).await
        }
    }
}

/// Removes a template; a `template.deleted` event says who did.
pub async fn delete(store: &dyn Store, name: &str, audit: &Audit) -> ServiceResult<()> {
    if store.delete_template(name).await? {
        record(store, audit, "template.deleted", name).await
    } else {
        Err(not_found(name))
    }
}

pub async fn list(
    store: &dyn Store,
    after: Option<&str>,
    limit: u32,
) -> ServiceResult<Vec<TemplateRecord>> {
    Ok(store.list_templates(after, limit).await?)
}

/// The template a SendEmail names by `TemplateName` or `TemplateArn`
/// (`arn:aws:ses:REGION:ACCOUNT:template/NAME`).
pub fn name_of(name: Option<&str>, arn: Option<&str>) -> Option<String> {
    name.map(str::to_owned)
        .or_else(|| arn.map(|a| a.rsplit_once("template/").map_or(a, |(_, n)| n).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content(subject: &str, text: &str, html: &str) -> TemplateContent {
        TemplateContent {
            subject: subject.into(),
            text: Some(text.into()),
            html: Some(html.into()),
        }
    }

    #[test]
    fn renders_as_handlebars_and_keeps_the_unsubscribe_placeholder() {
        let c = content(
            "Hi {{name}}",
            "{{#if vip}}VIP {{/if}}{{#each items}}[{{this}}]{{/each}} {{user.city}} {{amazonSESUnsubscribeUrl}}",
            "<p>{{name}}</p><a href=\"{{amazonSESUnsubscribeUrl}}\">x</a>",
        );
        let r = render(
            &c,
            &json!({"name": "Ann & <Bo>", "vip": true, "items": [1, 2], "user": {"city": "Oslo"}}),
        )
        .unwrap();
        assert_eq!(r.subject, "Hi Ann & <Bo>");
        assert_eq!(
            r.text.unwrap(),
            "VIP [1][2] Oslo {{amazonSESUnsubscribeUrl}}"
        );
        assert_eq!(
            r.html.unwrap(),
            "<p>Ann &amp; &lt;Bo&gt;</p><a href=\"{{amazonSESUnsubscribeUrl}}\">x</a>"
        );
    }

    #[test]
    fn missing_data_and_injected_line_breaks_fail_rendering() {
        let c = content("Hi {{name}}", "{{missing}}", "");
        assert!(render(&c, &json!({"name": "x"})).is_err());
        let c = content("Hi {{name}}", "ok", "");
        assert_eq!(
            render(&c, &json!({"name": "x\r\nBcc: a@b"})),
            Err(RenderError::LineBreak)
        );
        assert!(render(&c, &json!([1])).is_err());
    }

    #[test]
    fn content_and_names_are_checked() {
        assert!(check_name("welcome_1-a").is_ok());
        assert!(
            check_name("").is_err()
                && check_name("a b").is_err()
                && check_name(&"a".repeat(65)).is_err()
        );
        assert!(check_content(&content("a\nb", "x", "y")).is_err());
        assert!(check_content(&content("ok", "{{#if}}", "y")).is_err());
        assert!(
            check_content(&TemplateContent {
                subject: "s".into(),
                text: None,
                html: None
            })
            .is_err()
        );
        assert!(check_content(&content("ok", &"x".repeat(MAX_TEMPLATE_BYTES), "")).is_err());
        assert_eq!(
            name_of(None, Some("arn:aws:ses:us-east-1:1:template/Welcome")).as_deref(),
            Some("Welcome")
        );
        assert_eq!(name_of(Some("A"), None).as_deref(), Some("A"));
    }
}
