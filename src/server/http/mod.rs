//! Plain axum handlers for external contracts (health, and later RFC 8058 and the SES
//! API), plus the middleware that guards the dashboard.

pub mod guard;
pub mod health;
pub mod one_click;
pub mod sigv4;
