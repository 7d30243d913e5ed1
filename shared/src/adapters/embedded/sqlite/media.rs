//! Media records on SqliteStore.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, json, parse};
use crate::adapters::embedded::{exec, sql_err};
use crate::domain::Recorded;
use crate::media::{MediaOutcome, MediaRecord};
use crate::ports::{MediaStore, PortError};

#[async_trait]
impl MediaStore for SqliteStore {
    async fn register_media(&self, record: &MediaRecord) -> Result<Recorded, PortError> {
        let (id, status, doc) = (record.id.clone(), record.status.as_str(), json(record)?);
        self.write("register media", move |tx| {
            let n = exec(
                tx,
                "INSERT OR IGNORE INTO media (id, status, doc) VALUES (?1, ?2, ?3)",
                params![id, status, doc],
            )
            .map_err(sql_err("register media"))?;
            Ok(if n == 1 { Recorded::New } else { Recorded::Duplicate })
        })
        .await
    }

    async fn media(&self, id: &str) -> Result<Option<MediaRecord>, PortError> {
        let id = id.to_owned();
        self.with("read media", move |conn| {
            let doc: Option<String> = conn
                .query_row("SELECT doc FROM media WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .map_err(sql_err("read media"))?;
            doc.as_deref().map(parse).transpose()
        })
        .await
    }

    async fn claim_media(&self, id: &str, now_ms: i64, until_ms: i64) -> Result<bool, PortError> {
        let id = id.to_owned();
        self.write("claim media", move |tx| {
            let n = exec(
                tx,
                "UPDATE media SET lease_until = ?3 WHERE id = ?1 AND status = 'pending' AND lease_until <= ?2",
                params![id, now_ms, until_ms],
            )
            .map_err(sql_err("claim media"))?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_media(&self, id: &str) -> Result<(), PortError> {
        let id = id.to_owned();
        self.write("release media", move |tx| {
            exec(
                tx,
                "UPDATE media SET lease_until = 0 WHERE id = ?1 AND status = 'pending'",
                [&id],
            )
            .map_err(sql_err("release media"))?;
            Ok(())
        })
        .await
    }

    async fn renew_upload(&self, id: &str, meta_id: &str, uploaded_at: i64) -> Result<(), PortError> {
        let (id, meta_id) = (id.to_owned(), meta_id.to_owned());
        self.write("renew upload", move |tx| {
            let op = sql_err("renew upload");
            let doc: Option<String> = tx
                .query_row("SELECT doc FROM media WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .map_err(&op)?;
            let Some(doc) = doc else { return Ok(()) };
            let mut record: MediaRecord = parse(&doc)?;
            record.meta_id = Some(meta_id);
            record.uploaded_at = Some(uploaded_at);
            exec(
                tx,
                "UPDATE media SET doc = ?2 WHERE id = ?1",
                params![id, json(&record)?],
            )
            .map_err(&op)?;
            Ok(())
        })
        .await
    }

    async fn finish_media(&self, id: &str, outcome: &MediaOutcome) -> Result<(), PortError> {
        let (id, outcome) = (id.to_owned(), outcome.clone());
        self.write("finish media", move |tx| {
            let op = sql_err("finish media");
            let doc: Option<String> = tx
                .query_row(
                    "SELECT doc FROM media WHERE id = ?1 AND status = 'pending'",
                    [&id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&op)?;
            let Some(doc) = doc else { return Ok(()) };
            let mut record: MediaRecord = parse(&doc)?;
            record.finish(&outcome);
            exec(
                tx,
                "UPDATE media SET status = ?2, lease_until = 0, doc = ?3 WHERE id = ?1 AND status = 'pending'",
                params![id, record.status.as_str(), json(&record)?],
            )
            .map_err(&op)?;
            Ok(())
        })
        .await
    }
}
