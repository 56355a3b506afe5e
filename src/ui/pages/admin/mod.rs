//! The operator dashboard under `/admin`.

pub mod contacts;
pub mod events;
pub mod import;
pub mod lists;
pub mod login;
pub mod overview;
