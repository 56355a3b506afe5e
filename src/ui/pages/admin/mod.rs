//! The operator dashboard under `/admin`.

pub mod login;
pub mod overview;
