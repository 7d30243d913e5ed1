//! Counts the AWS requests the adapters make, per service and operation, through the SDK's
//! interceptors: the request-count tests pin what each path costs. It also notes which DynamoDB
//! action each request needs on which table and index, so a test can hold a function's IAM
//! policy in `template.yaml` to what its code really does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;

/// Requests made so far, keyed `Service.Operation` (`DynamoDB.UpdateItem`, `SQS.SendMessage`,
/// `S3.PUT`).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u32>>>,
    accesses: Arc<Mutex<BTreeSet<Access>>>,
}

/// What one DynamoDB request needs IAM to allow: the action (`dynamodb:PutItem`; a transaction
/// needs each of its items' actions), the table as the code names it, and the index queried.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    /// `dynamodb:<Action>`.
    pub action: String,
    /// The table's name.
    pub table: String,
    /// The index, for a query of one.
    pub index: Option<String>,
}

impl RequestCounter {
    /// What was counted since the last [`RequestCounter::take`], leaving zero.
    pub fn take(&self) -> BTreeMap<String, u32> {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }

    /// The DynamoDB accesses made since the last call, leaving none.
    pub fn take_accesses(&self) -> BTreeSet<Access> {
        std::mem::take(&mut *self.accesses.lock().unwrap())
    }
}

/// The accesses a DynamoDB request body asks for.
fn accesses(op: &str, body: &serde_json::Value) -> Vec<Access> {
    let access = |action: &str, table: &serde_json::Value, index: Option<&serde_json::Value>| Access {
        action: format!("dynamodb:{action}"),
        table: table.as_str().unwrap_or_default().to_owned(),
        index: index.and_then(|i| i.as_str()).map(str::to_owned),
    };
    match op {
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.iter().next())
            .map(|(kind, inner)| {
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "Get" => "GetItem",
                    _ => "ConditionCheckItem",
                };
                access(action, &inner["TableName"], None)
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(table, _)| access(op, &serde_json::Value::from(table.as_str()), None))
            .collect(),
        _ => vec![access(op, &body["TableName"], body.get("IndexName"))],
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    // Every attempt that goes on the wire, as AWS bills it. DynamoDB and SQS name the operation
    // in `X-Amz-Target` (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`); S3 by method.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let op = match request.headers().get("x-amz-target") {
            Some(target) => {
                let (service, op) = target.split_once('.').unwrap_or((target, ""));
                let service = if service.starts_with("DynamoDB") {
                    "DynamoDB"
                } else {
                    "SQS"
                };
                if service == "DynamoDB"
                    && let Some(body) = request.body().bytes()
                    && let Ok(json) = serde_json::from_slice::<serde_json::Value>(body)
                {
                    self.accesses.lock().unwrap().extend(accesses(op, &json));
                }
                format!("{service}.{op}")
            }
            None => format!("S3.{}", request.method()),
        };
        *self.counts.lock().unwrap().entry(op).or_default() += 1;
        Ok(())
    }
}
