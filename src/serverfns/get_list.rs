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
    pub logo_url: String,
    pub accent_color: String,
    pub privacy_url: String,
    pub footer_text: String,
    pub default_language: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListDetail {
    pub name: String,
    pub description: String,
    pub branding: BrandingView,
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
    let b = l.branding;
    Ok(ListDetail {
        name: l.name.to_string(),
        description: l.description,
        branding: BrandingView {
            display_name: b.display_name.unwrap_or_default(),
            logo_url: b.logo_url.unwrap_or_default(),
            accent_color: b.accent_color.unwrap_or_default(),
            privacy_url: b.privacy_url.unwrap_or_default(),
            footer_text: b.footer_text.unwrap_or_default(),
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
