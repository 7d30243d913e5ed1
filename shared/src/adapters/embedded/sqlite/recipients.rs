//! Campaign recipients on SqliteStore: one row per (campaign, wa_id), walked in key order.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, sql_err};
use crate::ports::{CampaignRecipient, PortError, Recipients};

/// The recipients table (migration 16).
pub(super) const SCHEMA: &str = "CREATE TABLE recipients (
    campaign TEXT NOT NULL,
    wa_id TEXT NOT NULL,
    skipped TEXT,
    failed TEXT,
    PRIMARY KEY (campaign, wa_id)
) WITHOUT ROWID;";

#[async_trait]
impl Recipients for SqliteStore {
    async fn put_recipients(&self, campaign: &str, recipients: &[CampaignRecipient]) -> Result<(), PortError> {
        let (campaign, recipients) = (campaign.to_owned(), recipients.to_vec());
        self.write("put recipients", move |tx| {
            let op = sql_err("put recipients");
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO recipients (campaign, wa_id, skipped, failed) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(campaign, wa_id) DO UPDATE SET skipped = excluded.skipped, failed = excluded.failed",
                )
                .map_err(&op)?;
            for r in &recipients {
                stmt.execute(params![campaign, r.wa_id, r.skipped, r.failed])
                    .map_err(&op)?;
            }
            Ok(())
        })
        .await
    }

    async fn recipients(
        &self,
        campaign: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CampaignRecipient>, PortError> {
        let (campaign, after) = (campaign.to_owned(), after.unwrap_or_default().to_owned());
        self.with("read recipients", move |conn| {
            let op = sql_err("read recipients");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT wa_id, skipped, failed FROM recipients WHERE campaign = ?1 AND wa_id > ?2
                     ORDER BY wa_id LIMIT ?3",
                )
                .map_err(&op)?;
            stmt.query_map(params![campaign, after, limit], |r| {
                Ok(CampaignRecipient {
                    wa_id: r.get(0)?,
                    skipped: r.get(1)?,
                    failed: r.get(2)?,
                })
            })
            .map_err(&op)?
            .collect::<Result<_, _>>()
            .map_err(&op)
        })
        .await
    }
}
