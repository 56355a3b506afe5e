//! Outbound mail, below the sending use-case (`service::sending`): parsing
//! `X-SES-LIST-MANAGEMENT-OPTIONS`, the list header fields, byte-preserving MIME
//! rewriting, DKIM keys and signing, the addresses issued under `inbound_domain`, the durable relay queue with its worker, and the
//! upstream SMTP client pool.

pub mod dkim;
pub mod fuzzing;
pub mod headers;
pub mod issued;
pub mod options;
pub mod relay;
pub mod reports;
pub mod rewrite;
pub mod upstream;
