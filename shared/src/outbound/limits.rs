//! Rate limits: WhatsApp's per-number throughput and the per-recipient pair limit, as token buckets
//! whose state lives in a [`crate::ports::RateLimiter`] shared by every sender.
//!
//! A bucket refills at `rate` tokens per second up to `burst`. Over any window of `w` seconds it
//! grants at most `burst + rate * w` tokens, and with work waiting it grants exactly `rate` per
//! second. The sender asks for a whole batch at once, so a number sending 1,000 messages per second
//! costs the shared store about 100 bucket updates per second, not 1,000.

use std::time::Duration;

/// Meta's default throughput for a business number.
pub const DEFAULT_THROUGHPUT_MPS: f64 = 80.0;
/// Meta's pair rate limit: about one message every 6 seconds to the same customer.
pub const PAIR_RATE_PER_SEC: f64 = 1.0 / 6.0;
/// Short bursts to one customer are allowed (a reply of several messages).
pub const PAIR_BURST: f64 = 5.0;

/// The bucket of a business number's throughput.
pub fn number_key(phone_number_id: &str) -> String {
    format!("mps#{phone_number_id}")
}

/// The bucket of the pair (business number, customer).
pub fn pair_key(phone_number_id: &str, customer: &str) -> String {
    format!("pair#{phone_number_id}#{customer}")
}

/// The burst allowed for a throughput: a tenth of a second's worth, at least one message.
pub fn number_burst(rate: f64) -> f64 {
    (rate / 10.0).max(1.0)
}

/// A bucket's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens available (negative while in debt after a penalty).
    pub tokens: f64,
    /// When `tokens` was computed, Unix ms.
    pub at_ms: i64,
}

/// What taking from a bucket gives: the new state, how many were granted, and the wait if none.
pub fn take(bucket: Option<Bucket>, want: u32, rate: f64, burst: f64, now_ms: i64) -> (Bucket, u32, Duration) {
    let rate = rate.max(1e-6);
    let b = bucket.unwrap_or(Bucket {
        tokens: burst,
        at_ms: now_ms,
    });
    let elapsed = (now_ms - b.at_ms).max(0) as f64 / 1000.0;
    let tokens = (b.tokens + elapsed * rate).min(burst);
    let granted = (tokens.floor().max(0.0) as u32).min(want);
    let left = tokens - f64::from(granted);
    let wait = if granted == 0 {
        Duration::from_secs_f64(((1.0 - left) / rate).max(0.001))
    } else {
        Duration::ZERO
    };
    (
        Bucket {
            tokens: left,
            at_ms: now_ms.max(b.at_ms),
        },
        granted,
        wait,
    )
}

/// Gives back `n` tokens taken but not used, up to `burst`.
pub fn refund(bucket: Option<Bucket>, n: u32, rate: f64, burst: f64, now_ms: i64) -> Bucket {
    let (b, _, _) = take(bucket, 0, rate, burst, now_ms);
    Bucket {
        tokens: (b.tokens + f64::from(n)).min(burst),
        at_ms: b.at_ms,
    }
}

/// Empties a bucket and puts it `pause` of refill into debt.
pub fn penalize(bucket: Option<Bucket>, rate: f64, pause: Duration, now_ms: i64) -> Bucket {
    let (b, _, _) = take(bucket, 0, rate, f64::MAX, now_ms);
    Bucket {
        tokens: b.tokens.min(0.0) - pause.as_secs_f64() * rate,
        at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_grants_its_burst_then_waits_for_refill() {
        let (b, g, w) = take(None, 100, 10.0, 3.0, 0);
        assert_eq!((g, w), (3, Duration::ZERO));
        let (_, g, w) = take(Some(b), 1, 10.0, 3.0, 0);
        assert_eq!(g, 0);
        assert_eq!(w, Duration::from_millis(100));
        let (_, g, _) = take(Some(b), 5, 10.0, 3.0, 250);
        assert_eq!(g, 2, "250 ms at 10/s refills 2.5 tokens");
    }

    #[test]
    fn a_refund_returns_unused_tokens_but_never_past_the_burst() {
        let (b, g, _) = take(None, 3, 10.0, 3.0, 0);
        assert_eq!(g, 3);
        let b = refund(Some(b), 2, 10.0, 3.0, 0);
        let (_, g, _) = take(Some(b), 5, 10.0, 3.0, 0);
        assert_eq!(g, 2, "the two refunded, no more");
        let full = refund(None, 10, 10.0, 3.0, 0);
        assert!((full.tokens - 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_penalty_makes_the_next_grant_wait_out_the_pause() {
        let b = penalize(None, 10.0, Duration::from_secs(2), 0);
        let (_, g, w) = take(Some(b), 1, 10.0, 1.0, 0);
        assert_eq!(g, 0);
        assert!(w >= Duration::from_millis(2000), "{w:?}");
    }
}
