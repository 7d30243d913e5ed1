//! The object storage port.

use std::time::Duration;

use async_trait::async_trait;

use super::PortError;

/// Object storage: large webhook bodies, and media.
#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PortError>;

    /// Reads `key`; `None` if nothing is stored there.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;

    /// Starts writing `key` piece by piece, holding at most one part in memory whatever the size.
    /// Nothing is visible under `key` until [`BlobWriter::commit`]; [`BlobWriter::abort`] (or a
    /// crash) leaves what was there before.
    async fn writer(&self, key: &str, content_type: &str) -> Result<Box<dyn BlobWriter>, PortError>;

    /// A URL that lets anyone holding it read `key` for `ttl`: presigned in S3, signed by the
    /// local stack locally.
    async fn url(&self, key: &str, ttl: Duration) -> Result<String, PortError>;

    /// A URL that lets anyone holding it write `key` (HTTP `PUT`, the bytes as the body) for `ttl`.
    async fn upload_url(&self, key: &str, ttl: Duration) -> Result<String, PortError>;

    /// Reads `key` piece by piece: its size and its bytes; `None` if nothing is stored there.
    async fn reader(&self, key: &str) -> Result<Option<(u64, BlobStream)>, PortError>;

    /// Copies `from` to `to` inside the storage, without the bytes passing through this process.
    async fn copy(&self, from: &str, to: &str, content_type: &str) -> Result<(), PortError>;
}

/// A blob's bytes as they are read.
pub type BlobStream = futures::stream::BoxStream<'static, Result<axum::body::Bytes, PortError>>;

/// A blob being written.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends `chunk`.
    async fn write(&mut self, chunk: &[u8]) -> Result<(), PortError>;

    /// Makes what was written visible under the key.
    async fn commit(self: Box<Self>) -> Result<(), PortError>;

    /// Drops what was written.
    async fn abort(self: Box<Self>) -> Result<(), PortError>;
}
