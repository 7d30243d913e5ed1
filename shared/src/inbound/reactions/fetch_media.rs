//! Media messages start their copy: the record is registered as `pending` and a job goes on the
//! media queue for the downloader.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Applied, Reaction, ReactionError};
use crate::domain::Recorded;
use crate::media::{MediaJob, MediaRecord, MediaStatus};
use crate::ports::{MediaStore, Queue};

/// Registers each inbound media object and queues its download.
#[derive(Clone)]
pub struct FetchMedia {
    media: Arc<dyn MediaStore>,
    queue: Arc<dyn Queue>,
}

impl std::fmt::Debug for FetchMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FetchMedia")
    }
}

impl FetchMedia {
    /// The reaction over the media records and the media queue.
    pub fn new(media: Arc<dyn MediaStore>, queue: Arc<dyn Queue>) -> Self {
        Self { media, queue }
    }
}

#[async_trait]
impl Reaction for FetchMedia {
    fn name(&self) -> &str {
        "fetch-media"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        let Applied::Message { message, .. } = applied else {
            return Ok(());
        };
        let Some(record) = MediaRecord::of_message(message) else {
            return Ok(());
        };
        // A redelivery queues the job again while the copy is still pending (the first job may
        // have been lost to a crash before it was queued); the downloader's lease and the
        // record's status make a second job a no-op. Once stored or failed, nothing is queued.
        // Only a redelivery reads the record back: a new one is pending by construction.
        let pending = match self.media.register_media(&record).await? {
            Recorded::New => true,
            Recorded::Duplicate => self
                .media
                .media(&record.id)
                .await?
                .is_some_and(|r| r.status == MediaStatus::Pending),
        };
        if pending {
            let job = serde_json::to_string(&MediaJob { media_id: record.id })
                .map_err(|e| ReactionError::Permanent(e.to_string()))?;
            self.queue
                .send(&job)
                .await
                .map_err(|e| ReactionError::Retry(Box::new(e)))?;
        }
        Ok(())
    }
}
