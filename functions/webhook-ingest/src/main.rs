//! `POST /webhook`: authenticate and queue. Refuses to start without the app secret (fail closed).

use wabridge::adapters::aws::Aws;
use wabridge::app::{App, resources};
use wabridge::runtime::lambda::{self, Error};
use wabridge::{api, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::WEBHOOK_INGEST).await;
    let config = aws.config().await?;
    let app = App::deployed(&config);
    let ingestor = app.ingestor(config.require_app_secret()?, aws.inbound_queue()?, aws.blobs()?);
    lambda::serve_http(api::finish(api::webhook_ingest_router(ingestor))).await
}
