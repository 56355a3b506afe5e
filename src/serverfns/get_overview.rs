//! The dashboard overview: lists with their topic and contact counts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListRow {
    pub name: String,
    pub topics: i64,
    pub contacts: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Overview {
    pub user_email: String,
    pub role: String,
    pub lists: Vec<ListRow>,
}

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let lists = admin::overview(&*state().store, &user)
        .await
        .map_err(service)?;
    let rows = lists
        .into_iter()
        .map(|l| ListRow {
            name: l.name,
            topics: l.topics,
            contacts: l.contacts,
        })
        .collect();
    Ok(Overview {
        user_email: user.email,
        role: user.role.as_str().into(),
        lists: rows,
    })
}
