//! The recipient surface's strings: they live in `domain::i18n`, shared by these pages
//! and the server-rendered ones (`server::http::recipient`).

pub use crate::domain::i18n::*;
