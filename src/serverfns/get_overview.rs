//! The dashboard overview: lists with their topic and contact counts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListRow {
    pub name: String,
    pub topics: usize,
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
    use crate::server::service::{auth::Role, lists};
    let user = require(Role::Viewer).await?;
    let st = state();
    let mut rows = Vec::new();
    for s in lists::list(&*st.store, None, 100).await.map_err(internal)? {
        let l = lists::get(&*st.store, &s.name).await.map_err(internal)?;
        let contacts = st.store.count_contacts(l.id).await.map_err(internal)?;
        rows.push(ListRow { name: s.name, topics: l.topics.len(), contacts });
    }
    Ok(Overview { user_email: user.email, role: user.role, lists: rows })
}
