//! Test harness: the same ports on both backends (embedded, and AWS on moto server), and the whole
//! inbound pipeline wired the way each deployment wires it.
//!
//! The AWS backend needs moto: `./scripts/test` starts it and sets `AWS_ENDPOINT_URL` and
//! `WABRIDGE_TEST_AWS=1`. Without them the AWS tests fail with a message saying so, rather than
//! passing without having run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backend;
mod clock;
mod faults;
mod fixtures;
pub mod permissions;
mod pipeline;
mod requests;
pub mod rig;

use std::time::Duration;

pub use backend::{Backend, Kind};
pub use clock::ManualClock;
pub use faults::{FlakyQueue, FlakyStore};
pub use fixtures::{api_gateway_request, enc, fixture, meta_samples};
pub use pipeline::{Pipeline, Reply, settle_one_batch};
pub use requests::{Access, RequestCounter};
pub use secrecy;

/// App secret the test pipelines sign with.
pub const SECRET: &str = "test-app-secret";
/// Verify token of the test pipelines.
pub const VERIFY_TOKEN: &str = "test-verify-token";
/// API key of the test pipelines.
pub const API_KEY: &str = "test-api-key";
/// Visibility timeout of test queues: short, so redelivery after a "crash" is quick.
pub const VISIBILITY: Duration = Duration::from_secs(1);
