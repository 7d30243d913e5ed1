//! Media records on DynamoStore: one item per media id in the media table (`status` and the
//! download's `lease_until` beside the record's document, so conditions can read them).

use async_trait::async_trait;

use super::{DynamoStore, Item, from_json, to_json};
use crate::adapters::aws::expr::{Expr, n, s};
use crate::domain::Recorded;
use crate::media::{MediaOutcome, MediaRecord, MediaStatus};
use crate::ports::{MediaStore, PortError};

/// The condition that a record is still pending.
fn pending(e: &mut Expr) -> String {
    let (st, p) = (e.name("status"), e.val(s(MediaStatus::Pending.as_str())));
    format!("{st} = {p}")
}

#[async_trait]
impl MediaStore for DynamoStore {
    async fn register_media(&self, record: &MediaRecord) -> Result<Recorded, PortError> {
        let item = Item::from([
            ("id".to_owned(), s(&record.id)),
            ("status".to_owned(), s(record.status.as_str())),
            ("lease_until".to_owned(), n(0)),
            ("doc".to_owned(), to_json(record)?),
        ]);
        self.put_once(&self.t.media, item, "register media").await
    }

    async fn media(&self, id: &str) -> Result<Option<MediaRecord>, PortError> {
        match self.get(&self.t.media, ("id", id)).await? {
            Some(item) => from_json(&item, "doc"),
            None => Ok(None),
        }
    }

    async fn claim_media(&self, id: &str, now_ms: i64, until_ms: i64) -> Result<bool, PortError> {
        let e = Expr::default().set("lease_until", n(until_ms)).when(|e| {
            let (l, now) = (e.name("lease_until"), e.val(n(now_ms)));
            format!("{} AND {l} <= {now}", pending(e))
        });
        self.update_applied(&self.t.media, ("id", id), e, "claim media").await
    }

    async fn release_media(&self, id: &str) -> Result<(), PortError> {
        let e = Expr::default().set("lease_until", n(0)).when(pending);
        self.update(&self.t.media, ("id", id), e, "release media").await
    }

    async fn renew_upload(&self, id: &str, meta_id: &str, uploaded_at: i64) -> Result<(), PortError> {
        let Some(mut record) = self.media(id).await? else {
            return Ok(());
        };
        record.meta_id = Some(meta_id.to_owned());
        record.uploaded_at = Some(uploaded_at);
        // The rest of an uploaded record never changes, so rewriting the document loses nothing.
        let e = Expr::default()
            .set("doc", to_json(&record)?)
            .when(|e| format!("attribute_exists({})", e.name("id")));
        self.update(&self.t.media, ("id", id), e, "renew upload").await
    }

    async fn finish_media(&self, id: &str, outcome: &MediaOutcome) -> Result<(), PortError> {
        let Some(mut record) = self.media(id).await? else {
            return Ok(());
        };
        if record.status != MediaStatus::Pending {
            return Ok(());
        }
        record.finish(outcome);
        // Only from pending: a concurrent finish that got there first stands.
        let e = Expr::default()
            .set("status", s(record.status.as_str()))
            .set("lease_until", n(0))
            .set("doc", to_json(&record)?)
            .when(pending);
        self.update(&self.t.media, ("id", id), e, "finish media").await
    }
}
