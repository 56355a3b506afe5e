//! Plain axum handlers for external contracts (health, RFC 8058 one-click, the SES
//! API and the `/v1/links` extension), the lists' branding assets, plus the middleware
//! that guards the dashboard.

pub mod admin_export;
pub mod admin_import;
pub mod admin_keys;
pub mod branding;
pub mod dashboard;
pub mod download;
pub mod guard;
pub mod health;
pub mod limits;
pub mod links;
pub mod metrics;
pub mod one_click;
pub mod page;
pub mod recipient;
pub mod serve;
pub mod ses;
pub mod sigv4;
pub mod trace;
