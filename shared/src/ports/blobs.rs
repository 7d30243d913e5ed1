//! The object storage port.

use async_trait::async_trait;

use super::PortError;

/// Object storage for bodies too large for the queue, and (later) media.
#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PortError>;

    /// Reads `key`; `None` if nothing is stored there.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;
}
