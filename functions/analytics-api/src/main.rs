//! `GET /v1/analytics`: reports summed from the counters table. Read-only; refuses to start
//! without API keys.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::resources;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::ANALYTICS_API).await;
    let config = aws.config().await?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    lambda::serve_http(api::finish(api::analytics_router(aws.store()?, keys))).await
}
