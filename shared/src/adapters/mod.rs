//! Adapters for the ports, side by side: `embedded` (SQLite, a durable SQLite queue, a local folder)
//! for the laptop stack, and `aws` (DynamoDB, SQS, S3) for Lambda.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
