//! `/v1/...` and `/health`: the read API a frontend uses. Refuses to start without API keys.

use std::sync::Arc;

use wabridge::adapters::aws::{self, DynamoStore, TableNames};
use wabridge::api::{self, ApiKeys, QueryState};
use wabridge::ports::SystemClock;
use wabridge::{Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let sdk = aws::load_config().await;
    let store = DynamoStore::new(aws::dynamo_client(&sdk), TableNames::from_env()?);
    let state = QueryState {
        read: Arc::new(store),
        clock: Arc::new(SystemClock),
    };
    lambda_http::run(api::finish(api::query_router(state, keys))).await
}
