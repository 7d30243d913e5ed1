//! SQS consumer for the outbound queue: delivers messages to Graph within the shared rate limits and
//! reports partial batch failures (retries carry their back-off as the record's visibility timeout).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use wabridge::adapters::aws::{self, DynamoRateLimiter, DynamoStore, SqsQueue, TableNames};
use wabridge::config::required_var;
use wabridge::graph::GraphClient;
use wabridge::outbound::sender::{Sender, SenderConfig};
use wabridge::ports::SystemClock;
use wabridge::{Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let graph = GraphClient::from_config(&config, Duration::from_secs(10))?;
    let sdk = aws::load_config().await;
    let tables = TableNames::from_env()?;
    let limiter = DynamoRateLimiter::new(aws::dynamo_client(&sdk), tables.rate_limits.clone());
    let store = DynamoStore::new(aws::dynamo_client(&sdk), tables);
    let queue = SqsQueue::new(aws::sqs_client(&sdk), required_var("WABRIDGE_OUTBOUND_QUEUE_URL")?)
        .with_dead_letter_queue(required_var("WABRIDGE_OUTBOUND_DLQ_URL")?);
    let sender_config = SenderConfig {
        throughput_mps: config.throughput_mps,
        ..SenderConfig::default()
    };
    let sender = Sender::new(
        Arc::new(store),
        graph,
        Arc::new(limiter),
        Arc::new(SystemClock),
        sender_config,
    );
    let (sender, queue) = (&sender, &queue);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(aws::sqs_batch(sender, queue, event.payload).await)
    }))
    .await
}
