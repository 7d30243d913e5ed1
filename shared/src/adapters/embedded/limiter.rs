//! Token buckets in memory: the local stack is one process, so process-wide is shared enough.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::outbound::limits::{Bucket, penalize, refund, take};
use crate::ports::{Grant, PortError, RateLimiter};

/// In-memory buckets.
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl MemoryRateLimiter {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Bucket>) -> T) -> Result<T, PortError> {
        let mut map = self
            .buckets
            .lock()
            .map_err(|_| PortError::invalid("rate limiter", "lock poisoned"))?;
        Ok(f(&mut map))
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, key: &str, want: u32, rate: f64, burst: f64, now_ms: i64) -> Result<Grant, PortError> {
        self.with(|m| {
            let (b, granted, wait) = take(m.get(key).copied(), want, rate, burst, now_ms);
            m.insert(key.to_owned(), b);
            Grant { granted, wait }
        })
    }

    async fn refund(&self, key: &str, n: u32, rate: f64, burst: f64, now_ms: i64) -> Result<(), PortError> {
        self.with(|m| {
            let b = refund(m.get(key).copied(), n, rate, burst, now_ms);
            m.insert(key.to_owned(), b);
        })
    }

    async fn penalize(&self, key: &str, rate: f64, pause: Duration, now_ms: i64) -> Result<(), PortError> {
        self.with(|m| {
            let b = penalize(m.get(key).copied(), rate, pause, now_ms);
            m.insert(key.to_owned(), b);
        })
    }
}
