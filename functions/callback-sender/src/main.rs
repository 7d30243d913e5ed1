//! SQS consumer for the callbacks queue: posts each event to `WABRIDGE_CALLBACK_URL`, signed, and
//! reports the ones to retry; an event that keeps failing is dead-lettered with the last answer.

use wabridge::adapters::aws::Aws;
use wabridge::app::{App, resources};
use wabridge::config::ConfigError;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::CALLBACK_SENDER).await;
    let config = aws.config().await?;
    let app = App::deployed(&config);
    let receiver = config
        .callbacks()?
        .ok_or_else(|| ConfigError::missing(resources::CALLBACK_URL))?;
    lambda::serve_sqs(app.deliverer(receiver)?, aws.callback_queue()?).await
}
