//! wabridge: a backend for the WhatsApp Business Cloud API.
//!
//! This crate holds everything the Lambda functions and the local stack share: Meta's webhook model
//! ([`webhook`]), the domain types ([`domain`]), the use cases ([`ingest`], [`process`], [`api`]), the
//! ports ([`ports`]) and their adapters ([`adapters`]). AWS adapters sit behind the `aws` feature and
//! the embedded ones (SQLite, local folder) behind `embedded`, so a Lambda binary carries no SQLite and
//! the local binary compiles no AWS SDK.

pub mod adapters;
pub mod api;
pub mod config;
pub mod consume;
pub mod domain;
pub mod graph;
pub mod ingest;
pub mod ports;
pub mod process;
pub mod send;
pub mod telemetry;
pub mod timefmt;
pub mod webhook;

pub use config::Config;
