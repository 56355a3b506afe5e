//! optbox: self-hosted subscription management for email. The library holds the Leptos
//! app (shared by server and browser), the domain model, and — with feature `ssr` — the
//! whole server under `server`.
#![cfg_attr(feature = "ssr", forbid(unsafe_code))]
#![recursion_limit = "256"]

pub mod app;
pub mod domain;
pub mod serverfns;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
