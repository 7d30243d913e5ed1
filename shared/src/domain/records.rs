//! What a store write did.

use serde_json::Value;

/// What an `Idempotency-Key` claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use of the key: go ahead, then record the answer.
    New,
    /// Used before and answered: replay the answer if the request is the same.
    Answered {
        /// Hash of the request that used the key.
        fingerprint: String,
        /// HTTP status of the answer.
        status: u16,
        /// Body of the answer.
        body: Value,
    },
    /// Used by a request still being handled, whose claim holds until `lease_until_ms`. A claim
    /// whose lease ran out unanswered (its request crashed) is claimed afresh.
    InProgress {
        /// Hash of that request.
        fingerprint: String,
        /// When its lease ends, Unix ms.
        lease_until_ms: i64,
    },
}

/// Whether a conditional write took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First time: stored, counters bumped.
    New,
    /// Seen before: nothing changed.
    Duplicate,
}
