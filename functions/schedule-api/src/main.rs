//! `/v1/reminders` and `/v1/sequences`: appointment reminders and follow-up sequences to create,
//! read, move and cancel; the scheduler function sends them. Refuses to start without API keys.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Numbers, resources};
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::SCHEDULE_API).await;
    let config = aws.config().await?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let scheduler = App::deployed(&config).scheduler(aws.store()?, None, &Numbers::from_config(&config));
    lambda::serve_http(api::finish(api::schedule_router(scheduler, keys))).await
}
