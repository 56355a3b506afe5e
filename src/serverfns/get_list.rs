//! One list for its page: description, branding and topics.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicRow {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub default_opt_in: bool,
    pub hidden: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BrandingView {
    pub display_name: String,
    pub accent_color: String,
    pub privacy_url: String,
    pub footer_text: String,
    pub default_language: String,
    /// Whether `/s/{list}` takes subscriptions.
    pub subscribe_form: bool,
    /// The pause lengths offered, in days, comma-separated (empty: none).
    pub pause_days: String,
    /// Topic translations, one per line: `topic lang: name | description`.
    pub topic_texts: String,
    /// The survey's answers, one per line (empty: the built-in ones; `none`: no survey).
    pub unsubscribe_reasons: String,
}

/// The list's uploaded logo, as the preview shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogoView {
    /// The same-origin URL the preference page uses.
    pub src: String,
    pub content_type: String,
    pub size: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListDetail {
    pub name: String,
    pub description: String,
    pub branding: BrandingView,
    /// The list's stylesheet (accent colour), as the preference page links it.
    pub theme_href: Option<String>,
    pub logo: Option<LogoView>,
    pub topics: Vec<TopicRow>,
    pub can_edit: bool,
}

#[server(endpoint = "list")]
pub async fn get_list(name: String) -> Result<ListDetail, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let l = admin::get_list(&*state().store, &user, &name)
        .await
        .map_err(service)?;
    let logo = crate::server::service::branding::logo(&*state().store, l.id)
        .await
        .map_err(service)?
        .map(|g| LogoView {
            src: crate::domain::branding::logo_src(l.name.as_str(), &g.version),
            content_type: g.content_type,
            size: g.bytes.len(),
        });
    let b = l.branding;
    let pause_days = b
        .pause_lengths()
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let topic_texts = crate::server::service::admin::topic_texts_text(&b.topic_texts);
    Ok(ListDetail {
        name: l.name.to_string(),
        description: l.description,
        theme_href: crate::domain::branding::theme_href(l.name.as_str(), b.accent_color.as_deref()),
        logo,
        branding: BrandingView {
            display_name: b.display_name.unwrap_or_default(),
            accent_color: b.accent_color.unwrap_or_default(),
            privacy_url: b.privacy_url.unwrap_or_default(),
            footer_text: b.footer_text.unwrap_or_default(),
            subscribe_form: b.subscribe_form,
            pause_days,
            topic_texts,
            unsubscribe_reasons: crate::server::service::admin::reasons_text(
                b.unsubscribe_reasons.as_deref(),
            ),
            default_language: b.default_language.unwrap_or_default(),
        },
        topics: l
            .topics
            .into_iter()
            .map(|t| TopicRow {
                name: t.name.to_string(),
                display_name: t.display_name,
                description: t.description,
                default_opt_in: t.default_status == crate::domain::SubscriptionStatus::OptIn,
                hidden: t.hidden,
            })
            .collect(),
        can_edit: user.role >= Role::Admin,
    })
}
