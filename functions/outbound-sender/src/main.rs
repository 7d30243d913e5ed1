//! SQS consumer for the outbound queue: delivers messages to Graph within the shared rate limits and
//! reports partial batch failures (retries carry their back-off as the record's visibility timeout).

use wabridge::adapters::aws::Aws;
use wabridge::app::{App, resources};
use wabridge::graph::GraphClient;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::OUTBOUND_SENDER).await;
    let config = aws.config().await?;
    let app = App::deployed(&config);
    let graph = GraphClient::from_config(&config, app.settings.graph_timeout)?;
    let store = aws.store()?;
    let watch = app.lag_watch(store.clone(), aws.inbound_queue()?);
    let sender = app
        .sender(store.clone(), aws.limiter()?, graph)
        .watching(watch)
        .counting(app.recorder(store));
    lambda::serve_sqs(sender, aws.outbound_queue()?).await
}
