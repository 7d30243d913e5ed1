//! SQS consumer for the outbound queue: delivers messages to Graph within the shared rate limits and
//! reports partial batch failures (retries carry their back-off as the record's visibility timeout).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use wabridge::adapters::aws::{self, DynamoRateLimiter, DynamoStore, SqsQueue, TableNames, sqs_delivery};
use wabridge::config::{ConfigError, required_var};
use wabridge::consume;
use wabridge::graph::GraphClient;
use wabridge::ports::{Delivery, SystemClock};
use wabridge::send::sender::{Sender, SenderConfig};
use wabridge::{Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let token = config
        .access_token
        .clone()
        .ok_or_else(|| ConfigError::missing("WHATSAPP_ACCESS_TOKEN"))?;
    let graph = GraphClient::new(&config.graph_url, &config.api_version, token, Duration::from_secs(10))?;
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
        let batch: Vec<Delivery> = event.payload.records.into_iter().map(sqs_delivery).collect();
        let mut response = SqsBatchResponse::default();
        for id in consume::settle_lambda_batch(sender, queue, &batch).await {
            response.add_failure(id);
        }
        Ok::<_, Error>(response)
    }))
    .await
}
