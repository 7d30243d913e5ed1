//! The shared rate limiter port.

use std::time::Duration;

use async_trait::async_trait;

use super::PortError;

/// A grant from a [`RateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Tokens granted now (0 to the number asked).
    pub granted: u32,
    /// When none were granted: how long until one will be.
    pub wait: Duration,
}

/// Token buckets shared by every sender invocation, so limits hold across processes.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes up to `want` tokens from bucket `key`, which refills at `rate` per second up to `burst`.
    async fn acquire(&self, key: &str, want: u32, rate: f64, burst: f64, now_ms: i64) -> Result<Grant, PortError>;

    /// Returns `n` tokens that were granted but not used (up to `burst`).
    async fn refund(&self, key: &str, n: u32, rate: f64, burst: f64, now_ms: i64) -> Result<(), PortError>;

    /// Empties the bucket and puts it `pause` into debt: Meta said we were too fast.
    async fn penalize(&self, key: &str, rate: f64, pause: Duration, now_ms: i64) -> Result<(), PortError>;
}
