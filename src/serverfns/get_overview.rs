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
    use super::support::{internal, require, state};
    use crate::server::service::auth::Role;
    let user = require(Role::Viewer).await?;
    let lists = state().store.list_stats(200).await.map_err(internal)?;
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
        role: user.role,
        lists: rows,
    })
}
