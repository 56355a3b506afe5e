//! Leptos pages and components. No SQL, no sqlx types: data arrives through server
//! functions.

pub mod components;
pub mod i18n;
pub mod pages;
