//! SQS consumer for the inbound queue: applies each webhook and reports partial batch failures, so
//! one bad record is retried (then dead-lettered with its reason) without failing the others.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use wabridge::adapters::aws::{self, DynamoStore, S3Blobs, SqsQueue, TableNames};
use wabridge::config::required_var;
use wabridge::inbound::process::{Processor, RetryPolicy};
use wabridge::ports::SystemClock;
use wabridge::{Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let sdk = aws::load_config().await;
    let store = DynamoStore::new(aws::dynamo_client(&sdk), TableNames::from_env()?);
    let blobs = S3Blobs::new(aws::s3_client(&sdk), required_var("WABRIDGE_BUCKET")?);
    let queue = SqsQueue::new(aws::sqs_client(&sdk), required_var("WABRIDGE_INBOUND_QUEUE_URL")?)
        .with_dead_letter_queue(required_var("WABRIDGE_INBOUND_DLQ_URL")?);
    let policy = RetryPolicy {
        max_receives: config.max_receives,
        ..RetryPolicy::default()
    };
    let store = Arc::new(store);
    let processor = Processor::new(store.clone(), store, Arc::new(blobs), Arc::new(SystemClock)).with_policy(policy);
    let (processor, queue) = (&processor, &queue);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(aws::sqs_batch(processor, queue, event.payload).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use wabridge::adapters::aws::sqs_delivery;
    use wabridge::ports::Delivery;

    #[test]
    fn sqs_records_become_deliveries_with_their_receive_count() {
        let event: SqsEvent = serde_json::from_str(include_str!("../events/sqs-batch.json")).unwrap();
        let batch: Vec<Delivery> = event.records.into_iter().map(sqs_delivery).collect();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].id, "6f1b2c3d-0000-4000-8000-000000000001");
        assert_eq!((batch[0].receive_count, batch[1].receive_count), (1, 3));
        assert_eq!(batch[1].receipt, "AQEBexample2");
        assert!(batch[0].body.contains("\"kind\":\"inline\""));
    }
}
