//! `/v1/rules` and `/v1/flows`: keyword rules that answer or escalate customers' messages, and
//! menu-bot flows with their sessions and interactions. Refuses to start without API keys.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, resources};
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::AUTOMATION_API).await;
    let config = aws.config().await?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let store = aws.store()?;
    let flows = App::deployed(&config).flows_state(store.clone());
    let routes = api::rules_router(store, keys.clone()).merge(api::flows_router(flows, keys));
    lambda::serve_http(api::finish(routes)).await
}
