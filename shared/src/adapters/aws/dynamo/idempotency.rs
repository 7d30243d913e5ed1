//! Idempotency on DynamoStore: `Idempotency-Key` claims.

use crate::adapters::aws::expr::{Expr, get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::domain::IdempotencyClaim;
use async_trait::async_trait;
use std::collections::HashMap;

use super::{DynamoStore, Item, from_json, to_json};
use crate::ports::{Idempotency, PortError};

#[async_trait]
impl Idempotency for DynamoStore {
    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        lease_until_ms: i64,
        expires_ms: i64,
    ) -> Result<IdempotencyClaim, PortError> {
        let now = self.clock.now_ms();
        let mut item = Item::new();
        item.insert("key".into(), s(key));
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("expires_ms".into(), n(expires_ms));
        item.insert("expires_at".into(), n(expires_ms / 1000));
        item.insert("lease_ms".into(), n(lease_until_ms));
        let mut values = HashMap::new();
        values.insert(":now".to_owned(), n(now));
        let put = self
            .client
            .put_item()
            .table_name(&self.t.idempotency)
            .set_item(Some(item))
            // DynamoDB's TTL deletes late: an expired record counts as absent. An unanswered claim
            // past its lease (no lease at all: written before leases) is free too.
            .condition_expression(
                "attribute_not_exists(#k) OR expires_ms < :now \
                 OR (attribute_not_exists(#s) AND (attribute_not_exists(lease_ms) OR lease_ms < :now))",
            )
            .expression_attribute_names("#k", "key")
            .expression_attribute_names("#s", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(IdempotencyClaim::New),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(sdk_err("claim idempotency key")(e)),
        }
        let item = self.get(&self.t.idempotency, ("key", key)).await?.unwrap_or_default();
        let fingerprint = get_s(&item, "fingerprint").unwrap_or_default();
        Ok(match (get_n(&item, "status"), from_json(&item, "body")?) {
            (Some(status), Some(body)) => IdempotencyClaim::Answered {
                fingerprint,
                status: u16::try_from(status).unwrap_or(500),
                body,
            },
            _ => IdempotencyClaim::InProgress {
                fingerprint,
                lease_until_ms: get_n(&item, "lease_ms").unwrap_or(0),
            },
        })
    }

    async fn finish_idempotency(
        &self,
        key: &str,
        lease_until_ms: i64,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), PortError> {
        let e = Expr::default()
            .set("status", n(i64::from(status)))
            .set("body", to_json(body)?)
            .when(|e| still_claimed(e, lease_until_ms));
        self.update(&self.t.idempotency, ("key", key), e, "finish idempotency key")
            .await
    }

    async fn release_idempotency(&self, key: &str, lease_until_ms: i64) -> Result<(), PortError> {
        let unanswered = Expr::default().when(|e| still_claimed(e, lease_until_ms));
        self.delete_if(&self.t.idempotency, ("key", key), unanswered, "release idempotency key")
            .await
    }
}

/// The key is still held, unanswered, by the claim whose lease ends at `lease_until_ms` (its token).
fn still_claimed(e: &mut Expr, lease_until_ms: i64) -> String {
    let (lease, status) = (e.name("lease_ms"), e.name("status"));
    let token = e.val(n(lease_until_ms));
    format!("{lease} = {token} AND attribute_not_exists({status})")
}
