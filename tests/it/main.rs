//! The integration tests: one binary, one module per suite (`cargo test --features ssr`;
//! one suite: `cargo test --features ssr --test it cli::`). Shared set-up is in `common`.
#![cfg(feature = "ssr")]

mod cli;
mod common;
mod dashboard_admin;
mod dashboard_authz;
mod dashboard_contacts;
mod dashboard_events;
mod dashboard_import;
mod dashboard_lists;
mod dashboard_overview;
mod dashboard_security;
mod faults;
mod fuzz_props;
mod hardening;
mod http_foundation;
mod import_export;
mod mail_corpus;
mod mail_fuzz;
mod mail_pipeline;
mod one_click_log;
mod recipient;
mod scale_out;
mod self_service;
mod send_email;
mod ses_api;
mod ses_compat;
mod smtp;
mod store_conformance;
mod suppressions;
mod webhooks;
