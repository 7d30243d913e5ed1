//! SQS consumer for the media queue: copies each inbound media object from Meta into the bucket,
//! streamed and verified, and reports partial batch failures.

use wabridge::adapters::aws::Aws;
use wabridge::app::{App, resources};
use wabridge::graph::GraphClient;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::MEDIA_DOWNLOADER).await;
    let config = aws.config().await?;
    let app = App::deployed(&config);
    let graph = GraphClient::from_config(&config, app.settings.graph_timeout)?;
    let downloader = app.downloader(aws.store()?, aws.blobs()?, graph);
    lambda::serve_sqs(downloader, aws.media_queue()?).await
}
