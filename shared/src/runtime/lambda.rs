//! The Lambda glue, once: a router served through `lambda_http`, and an SQS consumer that answers
//! with partial batch failures (`ReportBatchItemFailures`), so one bad record never fails the batch.
//! Each function's `main.rs` builds its use case and hands it to one of these.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use axum::Router;
use lambda_runtime::{LambdaEvent, service_fn};

use super::consume::{Handler, settle_lambda_batch};
use crate::ports::{Delivery, Queue};

/// The error a Lambda main returns.
pub type Error = lambda_runtime::Error;

/// Serves `router` behind API Gateway until the runtime stops.
pub async fn serve_http(router: Router) -> Result<(), Error> {
    lambda_http::run(router).await
}

/// Consumes SQS batches with `handler`, settling each record on `queue` (back-off through the
/// record's visibility, dead letters with their reason) and reporting the ones to retry.
pub async fn serve_sqs(handler: impl Handler + 'static, queue: Arc<dyn Queue>) -> Result<(), Error> {
    let (handler, queue) = (&handler, queue.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(sqs_batch(handler, queue, event.payload).await)
    }))
    .await
}

/// Runs `job` on every scheduled invocation (EventBridge Scheduler's event, or one an operator
/// sends with `aws lambda invoke`) and answers with what it reports. A job that fails fails the
/// invocation, so the function's errors alarm hears of it.
pub async fn serve_scheduled<F, Fut>(job: F) -> Result<(), Error>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, Error>>,
{
    let job = &job;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<serde_json::Value>| job(e.payload))).await
}

/// Handles one Lambda SQS event: each record goes to `handler`, and the answer lists the records to
/// retry, so one bad record never fails the batch.
pub async fn sqs_batch(handler: &dyn Handler, queue: &dyn Queue, event: SqsEvent) -> SqsBatchResponse {
    let batch: Vec<Delivery> = event.records.into_iter().map(sqs_delivery).collect();
    let mut response = SqsBatchResponse::default();
    for id in settle_lambda_batch(handler, queue, &batch).await {
        response.add_failure(id);
    }
    response
}

/// An SQS record from a Lambda event as a [`Delivery`]. A record missing its body still goes through
/// its handler, fails, and is dead-lettered with that reason rather than vanishing.
pub fn sqs_delivery(m: SqsMessage) -> Delivery {
    Delivery {
        receive_count: m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        id: m.message_id.unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        receipt: m.receipt_handle.unwrap_or_default(),
        sent_ms: m.attributes.get("SentTimestamp").and_then(|t| t.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqs_records_become_deliveries_with_their_receive_count() {
        let fixture = include_str!("../../../tests/fixtures/lambda/sqs-batch.json");
        let event: SqsEvent = serde_json::from_str(fixture).unwrap();
        let batch: Vec<Delivery> = event.records.into_iter().map(sqs_delivery).collect();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].id, "6f1b2c3d-0000-4000-8000-000000000001");
        assert_eq!((batch[0].receive_count, batch[1].receive_count), (1, 3));
        assert_eq!(batch[1].receipt, "AQEBexample2");
        assert_eq!(batch[0].sent_ms, Some(1_763_800_001_000));
        assert!(batch[0].body.contains("\"kind\":\"inline\""));
    }
}
