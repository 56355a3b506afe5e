//! The users page: who has access to the dashboard, with which role.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    /// `owner`, `admin` or `viewer`.
    pub role: String,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsersPage {
    /// Owners manage users.
    pub can_edit: bool,
    /// The signed-in user's id (nobody removes themselves).
    pub me: i64,
    pub users: Vec<UserRow>,
}

#[server(endpoint = "users")]
pub async fn get_users() -> Result<UsersPage, ServerFnError> {
    use super::support::{require, service, state, when};
    use crate::server::service::auth::{self, Role};
    let user = require(Role::Admin).await?;
    let users = auth::list_users(&*state().store, &user)
        .await
        .map_err(service)?;
    Ok(UsersPage {
        can_edit: user.role >= Role::Owner,
        me: user.user_id,
        users: users
            .into_iter()
            .map(|u| UserRow {
                id: u.id,
                email: u.email,
                role: u.role.as_str().to_owned(),
                created: when(u.created_at),
            })
            .collect(),
    })
}
