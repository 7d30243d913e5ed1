//! SQS consumer for the inbound queue: applies each webhook and its reactions (media messages
//! queue their download), and reports partial batch failures, so one bad record is retried (then
//! dead-lettered with its reason) alone.

use wabridge::adapters::aws::Aws;
use wabridge::app::{App, Numbers, resources};
use wabridge::callbacks::Events;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::INBOUND_PROCESSOR).await;
    let config = aws.config().await?;
    let app = App::deployed(&config);
    // Callbacks are raised only where someone receives them.
    let events = match config.callback_url {
        Some(_) => Some(Events::new(aws.callback_queue()?)),
        None => None,
    };
    let processor = app.full_processor(
        aws.store()?,
        aws.blobs()?,
        aws.media_queue()?,
        Some(aws.outbound_queue()?),
        events,
        &Numbers::from_config(&config),
    );
    lambda::serve_sqs(processor, aws.inbound_queue()?).await
}
