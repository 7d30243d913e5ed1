//! Webhook ingestion: authenticate the raw body, put it on the inbound queue, and only then let the
//! caller answer 200. Nothing slow happens here (no parsing beyond the envelope, no store write, no
//! Graph call), so Meta is answered within its timeout and retries whatever we could not queue.

use std::sync::Arc;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::inbound::webhook::{SignatureError, verify_signature};
use crate::ports::{Blobs, PortError, Queue};

/// SQS's classic message size limit. Bodies whose envelope is larger go to blob storage.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 256 * 1024;

/// What travels on the inbound queue: the webhook body itself, or where it was put when too large.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Envelope {
    /// The raw body, exactly as signed.
    Inline {
        /// The body.
        body: String,
    },
    /// A pointer to the raw body in blob storage.
    Blob {
        /// The blob key.
        key: String,
    },
}

/// Why a webhook POST was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Missing or wrong signature: 401, nothing queued.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The queue or blob store failed: 5xx so Meta retries.
    #[error("could not queue the webhook")]
    Queue(#[source] PortError),
}

/// The ingestion use case.
#[derive(Clone)]
pub struct Ingestor {
    secret: SecretString,
    queue: Arc<dyn Queue>,
    blobs: Arc<dyn Blobs>,
    max_queue_bytes: usize,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("max_queue_bytes", &self.max_queue_bytes)
            .finish_non_exhaustive()
    }
}

impl Ingestor {
    /// Builds the ingestor; the app secret is required (fail closed).
    pub fn new(secret: SecretString, queue: Arc<dyn Queue>, blobs: Arc<dyn Blobs>) -> Self {
        Self {
            secret,
            queue,
            blobs,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
        }
    }

    /// Overrides the size above which bodies go to blob storage.
    pub fn with_max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// Verifies and queues one webhook body. `Ok` means it is durably queued.
    pub async fn ingest(&self, body: &[u8], signature: Option<&str>) -> Result<(), IngestError> {
        verify_signature(&self.secret, body, signature)?;
        let inline = std::str::from_utf8(body)
            .ok()
            .and_then(|s| serde_json::to_string(&Envelope::Inline { body: s.to_owned() }).ok())
            .filter(|e| e.len() <= self.max_queue_bytes);
        let envelope = match inline {
            Some(e) => e,
            None => {
                let key = format!("webhooks/{}.json", ulid::Ulid::new());
                self.blobs
                    .put(&key, body.to_vec(), "application/json")
                    .await
                    .map_err(IngestError::Queue)?;
                serde_json::to_string(&Envelope::Blob { key })
                    .map_err(|e| IngestError::Queue(PortError::invalid("envelope", e.to_string())))?
            }
        };
        self.queue.send(&envelope).await.map_err(IngestError::Queue)
    }
}
