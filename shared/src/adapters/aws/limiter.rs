//! Token buckets in DynamoDB, one item per bucket, updated with optimistic concurrency (a version
//! check), so every concurrent sender invocation draws from the same bucket.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::expr::{get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::outbound::limits::{Bucket, penalize, refund, take};
use crate::ports::{Grant, PortError, RateLimiter};

/// Attempts at a contended bucket before answering "wait a moment".
const CAS_ATTEMPTS: usize = 8;

/// Buckets in a DynamoDB table keyed by `key`.
#[derive(Debug, Clone)]
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

impl DynamoRateLimiter {
    /// Wraps a client and the table name.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn read(&self, key: &str) -> Result<(Option<Bucket>, i64), PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("read bucket"))?;
        let Some(item) = out.item else { return Ok((None, 0)) };
        let tokens = get_s(&item, "tokens").and_then(|t| t.parse().ok()).unwrap_or(0.0);
        let bucket = Bucket {
            tokens,
            at_ms: get_n(&item, "at_ms").unwrap_or(0),
        };
        Ok((Some(bucket), get_n(&item, "version").unwrap_or(0)))
    }

    /// Writes `b` if the bucket is still at `version`; `false` when someone else got there first.
    async fn write(&self, key: &str, b: Bucket, version: i64) -> Result<bool, PortError> {
        let mut item = Item::new();
        item.insert("key".into(), s(key));
        // Kept as a string: fractional tokens round-trip exactly.
        item.insert("tokens".into(), s(b.tokens.to_string()));
        item.insert("at_ms".into(), n(b.at_ms));
        item.insert("version".into(), n(version + 1));
        let mut values = Item::new();
        values.insert(":v".into(), n(version));
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#v) OR #v = :v")
            .expression_attribute_names("#v", "version")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err("write bucket")(e)),
        }
    }
}

impl DynamoRateLimiter {
    /// Replaces the bucket with `f` of it, retrying while other senders change it first.
    async fn modify(&self, key: &str, op: &'static str, f: impl Fn(Option<Bucket>) -> Bucket) -> Result<(), PortError> {
        for _ in 0..CAS_ATTEMPTS {
            let (bucket, version) = self.read(key).await?;
            if self.write(key, f(bucket), version).await? {
                return Ok(());
            }
        }
        Err(PortError::unavailable(
            op,
            std::io::Error::other("bucket too contended"),
        ))
    }
}

#[async_trait]
impl RateLimiter for DynamoRateLimiter {
    async fn acquire(&self, key: &str, want: u32, rate: f64, burst: f64, now_ms: i64) -> Result<Grant, PortError> {
        for _ in 0..CAS_ATTEMPTS {
            let (bucket, version) = self.read(key).await?;
            let (next, granted, wait) = take(bucket, want, rate, burst, now_ms);
            if granted == 0 && bucket.is_some() {
                return Ok(Grant { granted, wait });
            }
            if self.write(key, next, version).await? {
                return Ok(Grant { granted, wait });
            }
        }
        Ok(Grant {
            granted: 0,
            wait: Duration::from_millis(20),
        })
    }

    async fn refund(&self, key: &str, n: u32, rate: f64, burst: f64, now_ms: i64) -> Result<(), PortError> {
        self.modify(key, "refund tokens", |b| refund(b, n, rate, burst, now_ms))
            .await
    }

    async fn penalize(&self, key: &str, rate: f64, pause: Duration, now_ms: i64) -> Result<(), PortError> {
        self.modify(key, "penalize bucket", |b| penalize(b, rate, pause, now_ms))
            .await
    }
}
