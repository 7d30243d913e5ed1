//! The media role: one record per media object, moving `pending` → `stored` | `failed`.

use async_trait::async_trait;

use super::PortError;
use crate::domain::Recorded;
use crate::media::{MediaOutcome, MediaRecord};

/// Media records, with a lease so one download runs at a time whatever the queue redelivers.
#[async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// Registers `record` unless one with its id exists (the first webhook's facts win).
    async fn register_media(&self, record: &MediaRecord) -> Result<Recorded, PortError>;

    /// The record of `id`.
    async fn media(&self, id: &str) -> Result<Option<MediaRecord>, PortError>;

    /// Takes the download of a pending record until `until_ms`; `false` when it is no longer
    /// pending or another download holds it.
    async fn claim_media(&self, id: &str, now_ms: i64, until_ms: i64) -> Result<bool, PortError>;

    /// Lets a claimed download go without finishing it (it failed in a way that may pass).
    async fn release_media(&self, id: &str) -> Result<(), PortError>;

    /// Records that our upload `id` was uploaded to Meta again at `uploaded_at` and is now
    /// `meta_id` there. Two concurrent renewals may both land: either id is good for 30 days.
    async fn renew_upload(&self, id: &str, meta_id: &str, uploaded_at: i64) -> Result<(), PortError>;

    /// Ends a pending record; a record already stored or failed stays as it is.
    async fn finish_media(&self, id: &str, outcome: &MediaOutcome) -> Result<(), PortError>;
}
