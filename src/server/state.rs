//! The application state shared by axum handlers and Leptos server functions.

use super::config::{Settings, TokenKey};
use super::store::DynStore;
use crate::domain::Limits;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// One value, provided to both handlers and server functions.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: DynStore,
    pub settings: Arc<Settings>,
    pub limits: Limits,
    /// Unsubscribe-token keys; the first signs.
    pub token_keys: Arc<Vec<TokenKey>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}
