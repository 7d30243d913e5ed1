//! The media downloader: the media queue's consumer. For each job it asks Graph where the bytes
//! are, streams them into `Blobs` while hashing and counting, and keeps them only if they match
//! Meta's SHA-256 and fit the kind's limit. Memory stays at one chunk plus one storage part,
//! whatever the size.
//!
//! A job runs at most once at a time (a lease on the media record) and does nothing once the
//! record is stored or failed, so redelivered webhooks and queue records never download twice.
//! Trouble that may pass (Graph throttling, 5xx, timeouts, storage down) is retried with back-off;
//! what never will (an unknown or expired media id, a hash mismatch, a file over the limit) ends
//! the record `failed` with its reason. The message itself was stored before any of this.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use futures::future::join_all;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::{MediaError, MediaJob, MediaKind, MediaOutcome, MediaRecord, MediaStatus};
use crate::graph::{GraphClient, GraphError, MediaInfo};
use crate::ports::{Blobs, Clock, Delivery, MediaStore, PortError};
use crate::runtime::consume::{Handler, Outcome, RetryPolicy};

/// Graph's "unknown object or no permission" code, which it gives for a media id it does not have.
const UNKNOWN_OBJECT: i64 = 100;
/// Graph's "media download error": the media id has expired or cannot be fetched.
const MEDIA_DOWNLOAD_ERROR: i64 = 131_052;

/// How the downloader behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// A cap below WhatsApp's per-kind limits (`WABRIDGE_MEDIA_MAX_BYTES`); `None` for none.
    pub max_bytes: Option<u64>,
    /// How long a download holds its record before another may take over (past the function's
    /// timeout, so a crashed download's lease lapses but a running one's does not).
    pub lease: Duration,
    /// Back-off and attempts for trouble that may pass.
    pub retry: RetryPolicy,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_bytes: None,
            lease: Duration::from_secs(15 * 60),
            retry: RetryPolicy {
                max_receives: 8,
                base_delay: Duration::from_secs(5),
                max_delay: Duration::from_secs(5 * 60),
            },
        }
    }
}

impl MediaConfig {
    /// The bytes allowed for `kind`: WhatsApp's limit, or the configured cap if lower.
    pub fn limit(&self, kind: MediaKind) -> u64 {
        let whatsapp = kind.limit_bytes();
        self.max_bytes.map_or(whatsapp, |cap| cap.min(whatsapp))
    }
}

/// Why a download did not finish this time.
#[derive(Debug, thiserror::Error)]
enum Again {
    #[error("Graph: {0}")]
    Graph(#[from] GraphError),
    #[error("media download answered HTTP {0}")]
    Http(u16),
    #[error("storage: {0}")]
    Store(#[from] PortError),
    #[error("another download of this media is in progress")]
    Held,
}

/// The media queue's consumer.
#[derive(Clone)]
pub struct Downloader {
    media: Arc<dyn MediaStore>,
    blobs: Arc<dyn Blobs>,
    graph: GraphClient,
    clock: Arc<dyn Clock>,
    config: MediaConfig,
}

impl std::fmt::Debug for Downloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloader")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn failed(code: &str, message: impl Into<String>) -> MediaOutcome {
    MediaOutcome::Failed(MediaError {
        code: code.to_owned(),
        message: message.into(),
    })
}

/// Whether `expected` (hex, as Graph gives it, or base64, as webhooks do) names `digest`.
fn hash_matches(expected: &str, digest: &[u8]) -> bool {
    let e = expected.trim();
    e.eq_ignore_ascii_case(&hex::encode(digest)) || e == base64::engine::general_purpose::STANDARD.encode(digest)
}

impl Downloader {
    /// A downloader over the media records, storage and Graph.
    pub fn new(
        media: Arc<dyn MediaStore>,
        blobs: Arc<dyn Blobs>,
        graph: GraphClient,
        clock: Arc<dyn Clock>,
        config: MediaConfig,
    ) -> Self {
        Self {
            media,
            blobs,
            graph,
            clock,
            config,
        }
    }

    async fn one(&self, d: &Delivery) -> Outcome {
        let job: MediaJob = match serde_json::from_str(&d.body) {
            Ok(j) => j,
            Err(e) => {
                return Outcome::DeadLetter {
                    reason: format!("not a media job: {e}"),
                };
            }
        };
        let last = d.receive_count >= self.config.retry.max_receives;
        match self.fetch(&job.media_id).await {
            Ok(()) => Outcome::Done,
            // Another download holds the record. If it finishes, this job finds it done; if it
            // crashed, its own queue record comes back, and so does this one once the lease has
            // lapsed. Waiting out the lease never spends this job's attempts on someone else's.
            Err(Again::Held) if last => Outcome::Done,
            Err(e @ Again::Held) => Outcome::Retry {
                reason: e.to_string(),
                delay: self.config.lease,
            },
            Err(e) if last => {
                // Out of attempts: the record says so, and the queue record is done with.
                let outcome = failed("retries_exhausted", e.to_string());
                match self.media.finish_media(&job.media_id, &outcome).await {
                    Ok(()) => Outcome::Done,
                    Err(store) => Outcome::DeadLetter {
                        reason: format!("{e}; then {store}"),
                    },
                }
            }
            Err(e) => {
                warn!(media_id = %job.media_id, error = %e, "media download will be retried");
                self.config.retry.outcome(Err(e), d.receive_count)
            }
        }
    }

    /// Runs one job to its end, or to an error worth retrying.
    async fn fetch(&self, id: &str) -> Result<(), Again> {
        let Some(record) = self.media.media(id).await? else {
            warn!(media_id = %id, "media job for an unregistered media id; dropped");
            return Ok(());
        };
        if record.status != MediaStatus::Pending {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let until = now.saturating_add(i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX));
        if !self.media.claim_media(id, now, until).await? {
            // Retried later: by then the holder has finished (and this job finds it done) or its
            // lease has lapsed (and this job takes over).
            return Err(Again::Held);
        }
        match self.copy(&record).await {
            Ok(outcome) => {
                info!(media_id = %id, outcome = ?outcome, "media download finished");
                self.media.finish_media(id, &outcome).await?;
                Ok(())
            }
            Err(e) => {
                if let Err(release) = self.media.release_media(id).await {
                    warn!(media_id = %id, error = %release, "could not release the media lease; it lapses");
                }
                Err(e)
            }
        }
    }

    /// Asks Graph where the bytes are; an error that can never succeed becomes the outcome.
    async fn locate(&self, id: &str) -> Result<Result<MediaInfo, MediaOutcome>, Again> {
        match self.graph.media_info(id).await {
            Ok(info) => Ok(Ok(info)),
            Err(e @ GraphError::Api { code, .. }) if code == UNKNOWN_OBJECT || code == MEDIA_DOWNLOAD_ERROR => Ok(Err(
                failed("unknown_media", e.info().details.unwrap_or_else(|| e.to_string())),
            )),
            Err(e) if e.disposition() == crate::graph::Disposition::Fail => {
                Ok(Err(failed("graph_error", e.to_string())))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn copy(&self, record: &MediaRecord) -> Result<MediaOutcome, Again> {
        let limit = self.config.limit(record.kind);
        let mut info = match self.locate(&record.id).await? {
            Ok(i) => i,
            Err(outcome) => return Ok(outcome),
        };
        let too_large = |size: u64| {
            failed(
                "too_large",
                format!(
                    "{size} bytes is over the {limit}-byte limit for {}",
                    record.kind.as_str()
                ),
            )
        };
        // Refused from the size Graph gives, before any byte is fetched.
        if let Some(size) = info.file_size.filter(|s| *s > limit) {
            return Ok(too_large(size));
        }
        // Meta's URLs live five minutes: one that has expired since Graph gave it is asked for again,
        // once.
        let mut res = self.graph.download(&info.url).await?;
        if matches!(res.status().as_u16(), 401 | 403 | 404) {
            info = match self.locate(&record.id).await? {
                Ok(i) => i,
                Err(outcome) => return Ok(outcome),
            };
            res = self.graph.download(&info.url).await?;
        }
        let status = res.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(Again::Http(status));
        }
        if let Some(size) = res.content_length().filter(|s| *s > limit) {
            return Ok(too_large(size));
        }
        let mime = info
            .mime_type
            .clone()
            .or_else(|| record.mime_type.clone())
            .unwrap_or_else(|| "application/octet-stream".into());
        let mut writer = self.blobs.writer(&record.key(), &mime).await?;
        let mut hasher = Sha256::new();
        let mut total: u64 = 0;
        loop {
            let chunk = match res.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    writer.abort().await?;
                    return Err(GraphError::Connect(format!("media body: {}", e.without_url())).into());
                }
            };
            total += chunk.len() as u64;
            if total > limit {
                writer.abort().await?;
                return Ok(too_large(total));
            }
            hasher.update(&chunk);
            if let Err(e) = writer.write(&chunk).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        }
        let digest = hasher.finalize();
        // Graph's hash comes with the bytes; the webhook's stands in when Graph gives none.
        let expected = info.sha256.clone().or_else(|| record.sha256.clone());
        if let Some(e) = &expected
            && !hash_matches(e, &digest)
        {
            writer.abort().await?;
            return Ok(failed(
                "hash_mismatch",
                format!("the bytes hash to {}, Meta said {e}", hex::encode(digest)),
            ));
        }
        writer.commit().await?;
        Ok(MediaOutcome::Stored {
            file_size: total,
            mime_type: Some(mime),
            sha256: Some(expected.unwrap_or_else(|| hex::encode(digest))),
        })
    }
}

#[async_trait]
impl Handler for Downloader {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        join_all(batch.iter().map(|d| self.one(d))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_cap_lowers_whatsapps_limit_and_never_raises_it() {
        let capped = MediaConfig {
            max_bytes: Some(1_000_000),
            ..MediaConfig::default()
        };
        assert_eq!(capped.limit(MediaKind::Document), 1_000_000);
        assert_eq!(capped.limit(MediaKind::Sticker), 500 * 1024);
        assert_eq!(MediaConfig::default().limit(MediaKind::Video), 16 * 1024 * 1024);
    }

    #[test]
    fn hashes_match_in_graphs_hex_and_the_webhooks_base64() {
        let digest = Sha256::digest(b"photo");
        let hex = hex::encode(digest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(hash_matches(&hex, &digest));
        assert!(hash_matches(&hex.to_uppercase(), &digest));
        assert!(hash_matches(&b64, &digest));
        assert!(!hash_matches(&hex::encode(Sha256::digest(b"other")), &digest));
        assert!(!hash_matches("", &digest));
    }
}
