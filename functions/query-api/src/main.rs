//! `/v1/...` and `/health`: the read API a frontend uses, media URLs included. Refuses to start
//! without API keys.

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
    let store = aws.store()?;
    let state = app.query_state(store.clone(), store, aws.blobs()?);
    lambda::serve_http(api::finish(api::query_router(state, keys))).await
}
