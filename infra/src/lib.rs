//! The local stack and the `wabridge` CLI: the same handlers as the Lambda functions, wired to the
//! embedded backend in one process.

pub mod campaign_bench;
pub mod campaign_status;
pub mod load;
pub mod sandbox;
pub mod secrets;
pub mod send;
pub mod simulate;
pub mod stack;
pub mod tail;

pub use stack::LocalStack;
