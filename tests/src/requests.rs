//! Counts the AWS requests the adapters make, per service and operation, through the SDK's
//! interceptors: the request-count tests pin what each path costs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;

/// Requests made so far, keyed `Service.Operation` (`DynamoDB.UpdateItem`, `SQS.SendMessage`,
/// `S3.PUT`).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, u32>>>);

impl RequestCounter {
    /// What was counted since the last [`RequestCounter::take`], leaving zero.
    pub fn take(&self) -> BTreeMap<String, u32> {
        std::mem::take(&mut *self.0.lock().unwrap())
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
                format!("{service}.{op}")
            }
            None => format!("S3.{}", request.method()),
        };
        *self.0.lock().unwrap().entry(op).or_default() += 1;
        Ok(())
    }
}
