//! The lists page: every list with its topic and contact counts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::get_overview::ListRow;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListsPage {
    pub can_edit: bool,
    pub lists: Vec<ListRow>,
}

#[server(endpoint = "lists")]
pub async fn get_lists() -> Result<ListsPage, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin, auth::Role};
    let user = require(Role::Viewer).await?;
    let lists = admin::overview(&*state().store, &user)
        .await
        .map_err(service)?;
    Ok(ListsPage {
        can_edit: user.role >= Role::Admin,
        lists: lists
            .into_iter()
            .map(|l| ListRow {
                name: l.name,
                topics: l.topics,
                contacts: l.contacts,
            })
            .collect(),
    })
}
