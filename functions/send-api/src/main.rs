//! `POST /v1/messages` and `POST /v1/messages/{id}/read`: validate, store as queued, hand to the
//! outbound queue. Refuses to start without API keys or an access token.

use std::sync::Arc;
use std::time::Duration;

use wabridge::adapters::aws::{self, DynamoStore, SqsQueue, TableNames};
use wabridge::api::{self, ApiKeys};
use wabridge::config::required_var;
use wabridge::graph::GraphClient;
use wabridge::outbound::service::SendService;
use wabridge::ports::SystemClock;
use wabridge::{Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let graph = GraphClient::from_config(&config, Duration::from_secs(10))?;
    let sdk = aws::load_config().await;
    let store = DynamoStore::new(aws::dynamo_client(&sdk), TableNames::from_env()?);
    let queue = SqsQueue::new(aws::sqs_client(&sdk), required_var("WABRIDGE_OUTBOUND_QUEUE_URL")?);
    let service = SendService::new(
        Arc::new(store),
        Arc::new(queue),
        Arc::new(SystemClock),
        graph,
        config.phone_number_id.clone(),
    );
    lambda_http::run(api::finish(api::send_router(service, keys))).await
}
