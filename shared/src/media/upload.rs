//! Uploading media to send: the operator gives a file once, we check it against what WhatsApp
//! accepts, keep a copy, upload it to Meta and hand back Meta's media id, which any number of
//! sends then name (`{"image": {"id": ...}}`).

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{MediaKind, MediaRecord, MediaStatus, blob_key};
use crate::graph::{GraphClient, GraphError};
use crate::ports::{Blobs, Clock, MediaStore, PortError};

/// The most a file may have to come through the API directly: WhatsApp's image limit. Larger
/// documents, video and audio need an upload URL (they cannot pass through API Gateway and Lambda).
pub const DIRECT_MAX_BYTES: u64 = 5 * 1024 * 1024;

/// Why an upload was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Meta does not take this MIME type.
    #[error("{0:?} is not a MIME type WhatsApp accepts")]
    UnsupportedType(String),
    /// Over the kind's limit, or over what comes through directly.
    #[error("{size} bytes is over the {limit}-byte limit ({why})")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit it broke.
        limit: u64,
        /// Which limit.
        why: &'static str,
    },
    /// An empty body.
    #[error("the file is empty")]
    Empty,
    /// Meta refused or did not answer.
    #[error("Graph: {0}")]
    Graph(#[from] GraphError),
    /// Storage or the media records failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Uploads operator media to Meta.
#[derive(Clone)]
pub struct Uploader {
    media: Arc<dyn MediaStore>,
    blobs: Arc<dyn Blobs>,
    graph: GraphClient,
    clock: Arc<dyn Clock>,
    default_phone_number_id: Option<String>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader").finish_non_exhaustive()
    }
}

impl Uploader {
    /// An uploader over the media records, storage and Graph, uploading for
    /// `default_phone_number_id` unless a request names another number.
    pub fn new(
        media: Arc<dyn MediaStore>,
        blobs: Arc<dyn Blobs>,
        graph: GraphClient,
        clock: Arc<dyn Clock>,
        default_phone_number_id: Option<String>,
    ) -> Self {
        Self {
            media,
            blobs,
            graph,
            clock,
            default_phone_number_id,
        }
    }

    /// Checks `bytes` as `mime_type`, uploads them to Meta for `phone_number_id` (or the default
    /// number), keeps a copy, and records the media as stored.
    pub async fn upload(
        &self,
        phone_number_id: Option<&str>,
        bytes: Vec<u8>,
        mime_type: &str,
        filename: Option<&str>,
    ) -> Result<MediaRecord, UploadError> {
        let kind = MediaKind::of_mime(mime_type).ok_or_else(|| UploadError::UnsupportedType(mime_type.to_owned()))?;
        let size = bytes.len() as u64;
        if size == 0 {
            return Err(UploadError::Empty);
        }
        if size > kind.limit_bytes() {
            return Err(UploadError::TooLarge {
                size,
                limit: kind.limit_bytes(),
                why: kind.as_str(),
            });
        }
        if size > DIRECT_MAX_BYTES {
            return Err(UploadError::TooLarge {
                size,
                limit: DIRECT_MAX_BYTES,
                why: "direct upload",
            });
        }
        let pni = phone_number_id
            .or(self.default_phone_number_id.as_deref())
            .ok_or_else(|| PortError::invalid("upload media", "no business number: set WHATSAPP_PHONE_NUMBER_ID"))?
            .to_owned();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let name = filename.map_or_else(|| format!("upload.{}", kind.as_str()), str::to_owned);
        let id = self.graph.upload_media(&pni, bytes.clone(), mime_type, &name).await?;
        self.blobs.put(&blob_key(&pni, &id), bytes, mime_type).await?;
        let record = MediaRecord {
            id,
            phone_number_id: pni,
            kind,
            mime_type: Some(mime_type.to_owned()),
            sha256: Some(sha256),
            file_size: Some(size),
            filename: filename.map(str::to_owned),
            voice: None,
            animated: None,
            status: MediaStatus::Stored,
            error: None,
            uploaded_at: Some(self.clock.now_ms()),
        };
        self.media.register_media(&record).await?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_accepts_its_own_types_only() {
        assert_eq!(MediaKind::of_mime("audio/ogg; codecs=opus"), Some(MediaKind::Audio));
        assert_eq!(MediaKind::of_mime("Application/PDF"), Some(MediaKind::Document));
        assert_eq!(MediaKind::of_mime("image/webp"), Some(MediaKind::Sticker));
        assert_eq!(MediaKind::of_mime("image/gif"), None);
        assert_eq!(MediaKind::of_mime("application/zip"), None);
    }
}
