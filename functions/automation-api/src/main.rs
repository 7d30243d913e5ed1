//! `/v1/rules`: keyword rules that answer or escalate customers' messages. Refuses to start
//! without API keys.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::resources;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::AUTOMATION_API).await;
    let keys = ApiKeys::new(aws.config().await?.require_api_keys()?);
    lambda::serve_http(api::finish(api::rules_router(aws.store()?, keys))).await
}
