//! The operator dashboard under `/admin`.

pub mod contacts;
pub mod events;
pub mod import;
pub mod keys;
pub mod lists;
pub mod login;
pub mod outbox;
pub mod overview;
pub mod settings;
pub mod suppressions;
pub mod users;
pub mod webhooks;
