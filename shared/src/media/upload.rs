//! Uploading media to send: the operator gives a file once, we check it against what WhatsApp
//! accepts, keep a copy, upload it to Meta and hand back Meta's media id, which any number of
//! sends then name (`{"image": {"id": ...}}`).

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;

use axum::body::Bytes;
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
    /// No upload with this id was started (or it was cleaned up long ago).
    #[error("no upload {0}")]
    UnknownUpload(String),
    /// The upload URL expired before the upload was completed.
    #[error("upload {0} expired before it was completed; start another")]
    Expired(String),
    /// Nothing was `PUT` to the upload URL yet.
    #[error("nothing has been uploaded to upload {0} yet: PUT the file to its upload_url first")]
    NotUploaded(String),
    /// The stored file is not the size the upload declared.
    #[error("the uploaded file has {actual} bytes; the upload declared {declared}")]
    SizeMismatch {
        /// Declared when the upload started.
        declared: u64,
        /// Found in storage.
        actual: u64,
    },
    /// Our upload is older than Meta keeps uploads, and our copy to upload again is gone.
    #[error("media {0} is older than Meta keeps uploads and our copy of it is gone: upload it again")]
    CopyGone(String),
    /// Storage or the media records failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Meta forgets an upload 30 days after it was made; a send of one this old re-uploads it first,
/// leaving a day for the message to wait in the queue.
pub const REUPLOAD_AFTER: std::time::Duration = std::time::Duration::from_secs(29 * 24 * 60 * 60);

/// How long an upload URL stays valid, and so how long an upload may take to complete.
pub const UPLOAD_TTL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// What an upload says of its file, checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Declared {
    phone_number_id: String,
    mime_type: String,
    file_size: u64,
    filename: Option<String>,
}

impl Declared {
    /// The file name Meta is given: the caller's, or one from the kind.
    fn name(&self, kind: MediaKind) -> String {
        self.filename
            .clone()
            .unwrap_or_else(|| format!("upload.{}", kind.as_str()))
    }
}

/// An upload in progress: what it declared, kept beside the file in storage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Pending {
    #[serde(flatten)]
    file: Declared,
    expires_at_ms: i64,
}

/// Where an upload's file and its facts live.
fn upload_keys(upload_id: &str) -> (String, String, String) {
    (
        format!("uploads/{upload_id}"),
        format!("uploads/{upload_id}.json"),
        format!("uploads/{upload_id}.done.json"),
    )
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, PortError> {
    serde_json::from_slice(bytes).map_err(|e| PortError::invalid("read upload", e.to_string()))
}

/// An upload URL handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTicket {
    /// Names the upload in `…/complete`.
    pub upload_id: String,
    /// `PUT` the bytes here.
    pub upload_url: String,
    /// Until when (Unix ms).
    pub expires_at_ms: i64,
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

    /// The checks every upload passes: a type Meta accepts, not empty, within the kind's limit.
    fn check(mime_type: &str, size: u64) -> Result<MediaKind, UploadError> {
        let kind = MediaKind::of_mime(mime_type).ok_or_else(|| UploadError::UnsupportedType(mime_type.to_owned()))?;
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
        Ok(kind)
    }

    /// Checks what a caller says of a file, and settles the business number it goes to.
    fn declare(
        &self,
        phone_number_id: Option<&str>,
        mime_type: &str,
        file_size: u64,
        filename: Option<&str>,
    ) -> Result<(Declared, MediaKind), UploadError> {
        let kind = Self::check(mime_type, file_size)?;
        let phone_number_id = phone_number_id
            .or(self.default_phone_number_id.as_deref())
            .ok_or_else(|| PortError::invalid("upload media", "no business number: set WHATSAPP_PHONE_NUMBER_ID"))?
            .to_owned();
        let declared = Declared {
            phone_number_id,
            mime_type: mime_type.to_owned(),
            file_size,
            filename: filename.map(str::to_owned),
        };
        Ok((declared, kind))
    }

    /// Records a file Meta now has as `id`, and our copy of it, as stored media.
    async fn keep(
        &self,
        id: String,
        file: Declared,
        kind: MediaKind,
        sha256: String,
    ) -> Result<MediaRecord, UploadError> {
        let record = MediaRecord {
            mime_type: Some(file.mime_type),
            sha256: Some(sha256),
            file_size: Some(file.file_size),
            filename: file.filename,
            status: MediaStatus::Stored,
            uploaded_at: Some(self.clock.now_ms()),
            ..MediaRecord::new(id, file.phone_number_id, kind)
        };
        self.media.register_media(&record).await?;
        Ok(record)
    }

    /// Starts an upload of a file too large to pass through the API: checks what it declares and
    /// hands out a URL to `PUT` it to, valid for [`UPLOAD_TTL`].
    pub async fn begin(
        &self,
        phone_number_id: Option<&str>,
        mime_type: &str,
        file_size: u64,
        filename: Option<&str>,
    ) -> Result<UploadTicket, UploadError> {
        let (declared, _) = self.declare(phone_number_id, mime_type, file_size, filename)?;
        let upload_id = ulid::Ulid::new().to_string().to_lowercase();
        let (file, facts, _) = upload_keys(&upload_id);
        let ttl_ms = i64::try_from(UPLOAD_TTL.as_millis()).unwrap_or(i64::MAX);
        let pending = Pending {
            file: declared,
            expires_at_ms: self.clock.now_ms().saturating_add(ttl_ms),
        };
        let json = serde_json::to_vec(&pending).map_err(|e| PortError::invalid("begin upload", e.to_string()))?;
        self.blobs.put(&facts, json, "application/json").await?;
        Ok(UploadTicket {
            upload_url: self.blobs.upload_url(&file, UPLOAD_TTL).await?,
            upload_id,
            expires_at_ms: pending.expires_at_ms,
        })
    }

    /// Completes an upload whose file has been `PUT`: streams it from storage to Meta, keeps it
    /// as the media's copy and records it. Completing twice answers the first result again.
    pub async fn complete(&self, upload_id: &str) -> Result<MediaRecord, UploadError> {
        // Ids are ours (lowercase ULIDs): anything else names no upload, and no other key.
        if upload_id.is_empty() || !upload_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(UploadError::UnknownUpload(upload_id.to_owned()));
        }
        let (file, facts, done) = upload_keys(upload_id);
        if let Some(b) = self.blobs.get(&done).await? {
            return Ok(decode::<MediaRecord>(&b)?);
        }
        let pending: Pending = match self.blobs.get(&facts).await? {
            Some(b) => decode::<Pending>(&b)?,
            None => return Err(UploadError::UnknownUpload(upload_id.to_owned())),
        };
        if self.clock.now_ms() >= pending.expires_at_ms {
            return Err(UploadError::Expired(upload_id.to_owned()));
        }
        let Some((size, body)) = self.blobs.reader(&file).await? else {
            return Err(UploadError::NotUploaded(upload_id.to_owned()));
        };
        let file_facts = pending.file;
        if size != file_facts.file_size {
            return Err(UploadError::SizeMismatch {
                declared: file_facts.file_size,
                actual: size,
            });
        }
        let kind = Self::check(&file_facts.mime_type, size)?;
        // Hashed on the way through: Meta does not say the hash of an upload.
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let seen = hasher.clone();
        let body = body
            .inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    seen.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .update(bytes);
                }
            })
            .boxed();
        let (pni, mime) = (file_facts.phone_number_id.clone(), file_facts.mime_type.clone());
        let id = self
            .graph
            .upload_media_stream(&pni, body, size, &mime, &file_facts.name(kind))
            .await?;
        let sha256 = hasher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .finalize();
        self.blobs.copy(&file, &blob_key(&pni, &id), &mime).await?;
        let record = self.keep(id, file_facts, kind, hex::encode(sha256)).await?;
        let json = serde_json::to_vec(&record).map_err(|e| PortError::invalid("complete upload", e.to_string()))?;
        self.blobs.put(&done, json, "application/json").await?;
        Ok(record)
    }

    /// The id a send naming media `id` must use: Meta's current id for one of our uploads (after
    /// uploading our copy again when Meta's is older than [`REUPLOAD_AFTER`]), and any other id
    /// as it is.
    pub async fn sendable_id(&self, id: &str) -> Result<String, UploadError> {
        let Some(record) = self.media.media(id).await? else {
            return Ok(id.to_owned());
        };
        let Some(uploaded_at) = record.uploaded_at else {
            return Ok(id.to_owned());
        };
        let now = self.clock.now_ms();
        let max_age = i64::try_from(REUPLOAD_AFTER.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(uploaded_at) < max_age {
            return Ok(record.current_id().to_owned());
        }
        let Some((size, body)) = self.blobs.reader(&record.key()).await? else {
            return Err(UploadError::CopyGone(id.to_owned()));
        };
        let mime = record.mime_type.as_deref().unwrap_or("application/octet-stream");
        let name = record
            .filename
            .clone()
            .unwrap_or_else(|| format!("upload.{}", record.kind.as_str()));
        let fresh = self
            .graph
            .upload_media_stream(&record.phone_number_id, body, size, mime, &name)
            .await?;
        self.media.renew_upload(id, &fresh, now).await?;
        Ok(fresh)
    }

    /// Checks `bytes` as `mime_type`, uploads them to Meta for `phone_number_id` (or the default
    /// number), keeps a copy, and records the media as stored.
    pub async fn upload(
        &self,
        phone_number_id: Option<&str>,
        bytes: Bytes,
        mime_type: &str,
        filename: Option<&str>,
    ) -> Result<MediaRecord, UploadError> {
        let size = bytes.len() as u64;
        let (declared, kind) = self.declare(phone_number_id, mime_type, size, filename)?;
        if size > DIRECT_MAX_BYTES {
            return Err(UploadError::TooLarge {
                size,
                limit: DIRECT_MAX_BYTES,
                why: "direct upload: use POST /v1/media/uploads",
            });
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let pni = declared.phone_number_id.clone();
        // `Bytes` clones share the buffer: Graph's request and our copy read the same one.
        let id = self
            .graph
            .upload_media(&pni, bytes.clone(), mime_type, &declared.name(kind))
            .await?;
        self.blobs
            .put(&blob_key(&pni, &id), Vec::from(bytes), mime_type)
            .await?;
        self.keep(id, declared, kind, sha256).await
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
