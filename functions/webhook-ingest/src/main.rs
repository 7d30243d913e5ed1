//! `POST /webhook`: authenticate and queue. Refuses to start without the app secret (fail closed).

use std::sync::Arc;

use wabridge::adapters::aws::{self, S3Blobs, SqsQueue};
use wabridge::config::required_var;
use wabridge::inbound::ingest::Ingestor;
use wabridge::{Config, api, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let secret = config.require_app_secret()?;
    let sdk = aws::load_config().await;
    let queue = SqsQueue::new(aws::sqs_client(&sdk), required_var("WABRIDGE_INBOUND_QUEUE_URL")?);
    let blobs = S3Blobs::new(aws::s3_client(&sdk), required_var("WABRIDGE_BUCKET")?);
    let ingestor = Ingestor::new(secret, Arc::new(queue), Arc::new(blobs));
    lambda_http::run(api::finish(api::webhook_ingest_router(ingestor))).await
}
