//! Campaign recipients on DynamoStore: table `recipients`, key (`campaign`, `wa_id`), so a
//! campaign's audience is one partition walked in number order. Written with `BatchWriteItem`
//! (25 items a request, several requests at once), so resolving 100,000 recipients takes seconds.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::{StreamExt as _, TryStreamExt as _};

use super::{DynamoStore, Item};
use crate::adapters::aws::expr::{get_s, s};
use crate::adapters::aws::sdk_err;
use crate::ports::{CampaignRecipient, PortError, Recipients};

/// Items in one `BatchWriteItem` (DynamoDB's limit).
const BATCH: usize = 25;
/// Batch writes in flight at once.
const PARALLEL: usize = 8;

fn item(campaign: &str, r: &CampaignRecipient) -> Item {
    let mut item = Item::from([("campaign".to_owned(), s(campaign)), ("wa_id".to_owned(), s(&r.wa_id))]);
    if let Some(why) = &r.skipped {
        item.insert("skipped".into(), s(why));
    }
    if let Some(why) = &r.failed {
        item.insert("failed".into(), s(why));
    }
    item
}

impl DynamoStore {
    /// Writes one batch, retrying what DynamoDB leaves unprocessed under load, with a back-off.
    async fn write_recipients(&self, mut requests: Vec<WriteRequest>) -> Result<(), PortError> {
        let table = &self.t.recipients;
        let mut pause = Duration::from_millis(25);
        while !requests.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(sdk_err("put recipients"))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if !requests.is_empty() {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Recipients for DynamoStore {
    async fn put_recipients(&self, campaign: &str, recipients: &[CampaignRecipient]) -> Result<(), PortError> {
        let batches: Vec<Vec<WriteRequest>> = recipients
            .chunks(BATCH)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|r| {
                        PutRequest::builder()
                            .set_item(Some(item(campaign, r)))
                            .build()
                            .map(|p| WriteRequest::builder().put_request(p).build())
                            .map_err(|e| PortError::invalid("put recipients", e.to_string()))
                    })
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        futures::stream::iter(batches)
            .map(|b| self.write_recipients(b))
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }

    async fn recipients(
        &self,
        campaign: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CampaignRecipient>, PortError> {
        let mut out = Vec::new();
        let mut start = after.map(|a| Item::from([("campaign".to_owned(), s(campaign)), ("wa_id".to_owned(), s(a))]));
        while (out.len() as u32) < limit {
            let page = self
                .client
                .query()
                .table_name(&self.t.recipients)
                .key_condition_expression("#c = :c")
                .expression_attribute_names("#c", "campaign")
                .expression_attribute_values(":c", s(campaign))
                .limit(i32::try_from(limit - out.len() as u32).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err("read recipients"))?;
            out.extend(page.items.unwrap_or_default().iter().map(|i| CampaignRecipient {
                wa_id: get_s(i, "wa_id").unwrap_or_default(),
                skipped: get_s(i, "skipped"),
                failed: get_s(i, "failed"),
            }));
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }
}
