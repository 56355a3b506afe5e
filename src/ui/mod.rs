//! Leptos pages and components. No SQL, no sqlx types: data arrives through server
//! functions.

pub mod components;
pub mod pages;
