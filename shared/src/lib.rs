//! wabridge: a backend for the WhatsApp Business Cloud API.
//!
//! The crate reads like the data flow, wired in one place, [`app`]. [`inbound`] takes Meta's webhooks from signature to store;
//! [`outbound`] takes a send from request to Graph; [`graph`] is Meta's API; [`read`] holds what the
//! HTTP API returns and [`api`] the routers; [`media`] copies media into our storage; [`runtime`] drives use cases from queues. The shared
//! kernel is [`domain`]; infrastructure sits behind [`ports`], with adapters side by side in
//! [`adapters`]: AWS behind the `aws` feature and the embedded ones (SQLite, local folder) behind
//! `embedded`, so a Lambda binary carries no SQLite and the local binary compiles no AWS SDK.

pub mod adapters;
pub mod analytics;
pub mod api;
pub mod app;
pub mod automation;
pub mod callbacks;
pub mod config;
pub mod contacts;
pub mod cost;
pub mod domain;
pub mod flows;
pub mod graph;
pub mod inbound;
pub mod media;
pub mod outbound;
pub mod ports;
pub mod read;
pub mod runtime;
pub mod schedule;
pub mod telemetry;
pub mod templates;
pub mod timefmt;

pub use config::Config;
