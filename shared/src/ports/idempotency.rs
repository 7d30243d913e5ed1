//! The idempotency role of the store.

use async_trait::async_trait;

use super::PortError;
use crate::domain::IdempotencyClaim;

/// `Idempotency-Key` claims: one request per key does the work, repeats get its answer.
#[async_trait]
pub trait Idempotency: Send + Sync + 'static {
    /// Claims an `Idempotency-Key` (already scoped to the caller) for a request with `fingerprint`:
    /// held unanswered until `lease_until_ms`, kept until `expires_ms`. Exactly one concurrent
    /// claimant gets [`IdempotencyClaim::New`]. A key that is absent, expired, or unanswered past
    /// its lease is free.
    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        lease_until_ms: i64,
        expires_ms: i64,
    ) -> Result<IdempotencyClaim, PortError>;

    /// Records the answer given under a claimed key.
    async fn finish_idempotency(&self, key: &str, status: u16, body: &serde_json::Value) -> Result<(), PortError>;

    /// Gives a claimed key back (the request failed in a way worth retrying).
    async fn release_idempotency(&self, key: &str) -> Result<(), PortError>;
}
