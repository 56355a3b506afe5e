//! Everything that runs only on the server: configuration, storage, services and the
//! HTTP surface. Compiled with the `ssr` feature only.

pub mod config;
pub mod conn_limit;
pub mod events;
pub mod fuzzing;
pub mod hex;
pub mod http;
pub mod mail;
pub mod outbox;
pub mod service;
pub mod sessions;
pub mod smtp;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod token;
