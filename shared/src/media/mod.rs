//! Media: what a customer's photo, voice note, video, document or sticker is while we copy it from
//! Meta into our storage, and the limits WhatsApp sets per kind.
//!
//! Meta's media URLs live five minutes and its media ids seven days, so every inbound media
//! message is copied on arrival: a reaction ([`crate::inbound::reactions::FetchMedia`]) registers
//! a [`MediaRecord`] and queues a [`MediaJob`]; the [`download::Downloader`] streams the bytes into
//! `Blobs`, checks them against Meta's hash and the kind's limit, and moves the record from
//! `pending` to `stored` or `failed`, never back.

pub mod download;
pub mod upload;
pub mod url;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{Direction, StoredMessage};

/// The kinds of media a message can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// JPEG or PNG.
    Image,
    /// MP4 or 3GPP.
    Video,
    /// AAC, AMR, MP3, MP4 audio or OGG (voice notes).
    Audio,
    /// Any file.
    Document,
    /// WebP.
    Sticker,
}

impl MediaKind {
    /// The kind of a message type, if it carries media.
    pub fn of_type(msg_type: &str) -> Option<Self> {
        Some(match msg_type {
            "image" => Self::Image,
            "video" => Self::Video,
            "audio" => Self::Audio,
            "document" => Self::Document,
            "sticker" => Self::Sticker,
            _ => return None,
        })
    }

    /// Meta's type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }

    /// The kind Meta files a MIME type under when it is uploaded, if Meta accepts the type
    /// (parameters such as `; codecs=opus` are ignored). WebP is taken as a sticker.
    pub fn of_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "image/jpeg" | "image/png" => Self::Image,
            "image/webp" => Self::Sticker,
            "video/mp4" | "video/3gpp" => Self::Video,
            "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => Self::Audio,
            "text/plain"
            | "application/pdf"
            | "application/msword"
            | "application/vnd.ms-excel"
            | "application/vnd.ms-powerpoint"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => Self::Document,
            _ => return None,
        })
    }

    /// WhatsApp's size limit for the kind, in bytes (Meta's supported media types: audio and
    /// video 16 MB, documents 100 MB, images 5 MB, stickers 500 KB).
    pub fn limit_bytes(self) -> u64 {
        const MB: u64 = 1024 * 1024;
        match self {
            Self::Audio | Self::Video => 16 * MB,
            Self::Document => 100 * MB,
            Self::Image => 5 * MB,
            Self::Sticker => 500 * 1024,
        }
    }
}

/// Where a copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaStatus {
    /// Registered, not yet copied.
    Pending,
    /// In our storage, verified.
    Stored,
    /// Could not be copied, for good (see the record's error).
    Failed,
}

impl MediaStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Stored => "stored",
            Self::Failed => "failed",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "stored" => Self::Stored,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Why a copy failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaError {
    /// A stable code: `unknown_media`, `hash_mismatch`, `too_large`, `graph_error`.
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

/// One media object as we know it: what the webhook said, and where our copy stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRecord {
    /// Meta's media id.
    pub id: String,
    /// The business number it came to.
    pub phone_number_id: String,
    /// What it is.
    pub kind: MediaKind,
    /// MIME type, as Meta gave it.
    pub mime_type: Option<String>,
    /// Meta's SHA-256 of the bytes (hex or base64, as Meta gave it).
    pub sha256: Option<String>,
    /// Size in bytes, once known.
    pub file_size: Option<u64>,
    /// A document's file name.
    pub filename: Option<String>,
    /// An audio message recorded as a voice note.
    pub voice: Option<bool>,
    /// An animated sticker.
    pub animated: Option<bool>,
    /// Where the copy stands.
    pub status: MediaStatus,
    /// Why it failed.
    pub error: Option<MediaError>,
    /// When we uploaded it to Meta (Unix ms): media we send rather than receive. Meta keeps an
    /// upload for 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
    /// The id Meta knows our upload by since it was last re-uploaded (`None`: still `id`). The
    /// record keeps its first id, which callers hold; sends naming it go out under this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_id: Option<String>,
}

impl MediaRecord {
    /// A record of `id` with nothing known yet but its kind: pending, no facts.
    pub fn new(id: String, phone_number_id: String, kind: MediaKind) -> Self {
        Self {
            id,
            phone_number_id,
            kind,
            mime_type: None,
            sha256: None,
            file_size: None,
            filename: None,
            voice: None,
            animated: None,
            status: MediaStatus::Pending,
            error: None,
            uploaded_at: None,
            meta_id: None,
        }
    }

    /// The record a customer's message's media starts as, from what the webhook says about it;
    /// `None` for our own sends and for a message that carries no media (or media without an id,
    /// which cannot be fetched).
    pub fn of_message(m: &StoredMessage) -> Option<Self> {
        if m.direction != Direction::Inbound {
            return None;
        }
        let kind = MediaKind::of_type(&m.msg_type)?;
        let c = m.content.value();
        let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
        let b = |k: &str| c.get(k).and_then(Value::as_bool);
        let id = s("id").filter(|i| !i.trim().is_empty())?;
        Some(Self {
            mime_type: s("mime_type"),
            sha256: s("sha256"),
            file_size: c.get("file_size").and_then(Value::as_u64),
            filename: s("filename"),
            voice: b("voice"),
            animated: b("animated"),
            ..Self::new(id, m.phone_number_id.clone(), kind)
        })
    }

    /// Applies how the copy ended: stored with what the download learnt, or failed with why.
    pub fn finish(&mut self, outcome: &MediaOutcome) {
        match outcome {
            MediaOutcome::Stored {
                file_size,
                mime_type,
                sha256,
            } => {
                self.status = MediaStatus::Stored;
                self.file_size = Some(*file_size);
                self.mime_type = mime_type.clone().or(self.mime_type.take());
                self.sha256 = sha256.clone().or(self.sha256.take());
                self.error = None;
            }
            MediaOutcome::Failed(e) => {
                self.status = MediaStatus::Failed;
                self.error = Some(e.clone());
            }
        }
    }

    /// The id a send must name for Meta to find this upload now.
    pub fn current_id(&self) -> &str {
        self.meta_id.as_deref().unwrap_or(&self.id)
    }

    /// Where the copy lives in `Blobs`.
    pub fn key(&self) -> String {
        blob_key(&self.phone_number_id, &self.id)
    }
}

/// `media/{phone_number_id}/{media_id}`, with anything but letters, digits, `-` and `_`
/// replaced, so a strange id can never climb out of the prefix.
pub fn blob_key(phone_number_id: &str, media_id: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("media/{}/{}", clean(phone_number_id), clean(media_id))
}

/// What a message shows of its media: the webhook's facts and where our copy stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaView {
    /// Meta's media id (`GET /v1/media/{id}` serves it).
    pub id: String,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Meta's SHA-256.
    pub sha256: Option<String>,
    /// Size in bytes, once known.
    pub file_size: Option<u64>,
    /// A document's file name.
    pub filename: Option<String>,
    /// A voice note.
    pub voice: Option<bool>,
    /// An animated sticker.
    pub animated: Option<bool>,
    /// `pending`, `stored` or `failed`.
    pub status: MediaStatus,
    /// Why it failed.
    pub error: Option<MediaError>,
}

impl From<MediaRecord> for MediaView {
    fn from(r: MediaRecord) -> Self {
        Self {
            id: r.id,
            mime_type: r.mime_type,
            sha256: r.sha256,
            file_size: r.file_size,
            filename: r.filename,
            voice: r.voice,
            animated: r.animated,
            status: r.status,
            error: r.error,
        }
    }
}

/// How a copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// Stored and verified.
    Stored {
        /// Bytes stored.
        file_size: u64,
        /// MIME type, as Graph gave it for the download.
        mime_type: Option<String>,
        /// The hash we checked (Meta's).
        sha256: Option<String>,
    },
    /// Failed for good.
    Failed(MediaError),
}

/// A download waiting on the media queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaJob {
    /// Meta's media id.
    pub media_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_the_media_prefix_whatever_the_id() {
        assert_eq!(blob_key("1001", "2345"), "media/1001/2345");
        assert_eq!(blob_key("1001", "../../etc/passwd"), "media/1001/______etc_passwd");
    }

    #[test]
    fn limits_follow_whatsapps_per_kind() {
        assert_eq!(MediaKind::Sticker.limit_bytes(), 512_000);
        assert_eq!(MediaKind::Image.limit_bytes(), 5 * 1024 * 1024);
        assert_eq!(MediaKind::of_type("text"), None);
    }
}
