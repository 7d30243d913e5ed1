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

    /// Records the answer given under the claim whose lease ran to `lease_until_ms`. A claim's lease
    /// end is its token: a re-claim after the lease always ends later, so a request that outlived
    /// its lease finds the key no longer its own and changes nothing.
    async fn finish_idempotency(
        &self,
        key: &str,
        lease_until_ms: i64,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), PortError>;

    /// Gives a claimed key back (the request failed in a way worth retrying), if the claim ending
    /// at `lease_until_ms` still holds it.
    async fn release_idempotency(&self, key: &str, lease_until_ms: i64) -> Result<(), PortError>;
}
