//! `/v1/...` and `/health`: the read API a frontend uses. Refuses to start without API keys.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, resources};
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::QUERY_API).await;
    let config = aws.config().await?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let app = App::deployed(&config);
    lambda::serve_http(api::finish(api::query_router(app.query_state(aws.store()?), keys))).await
}
