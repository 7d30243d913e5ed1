//! A clock tests move by hand.

use std::sync::Arc;
use std::time::Duration;

use wabridge::ports::Clock;

/// A clock a test moves by hand, so "the window closes", "a reminder is due in 24 h" and "an
/// idempotency key expires" are tested without sleeping.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock standing at `ms` (Unix milliseconds).
    pub fn at(ms: i64) -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicI64::new(ms)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
