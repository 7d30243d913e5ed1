//! `/v1/templates`: the WABA's templates as our copy holds them, and create, delete and sync at
//! Meta. Refuses to start without API keys or an access token; without
//! `WHATSAPP_BUSINESS_ACCOUNT_ID` every route answers 503 naming it.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, resources};
use wabridge::graph::GraphClient;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::TEMPLATES_API).await;
    let config = aws.config().await?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let app = App::deployed(&config);
    let graph = GraphClient::from_config(&config, app.settings.graph_timeout)?;
    let managed = config.business_account_id.clone().map(|waba| (graph, waba));
    let catalog = app.catalog(aws.store()?, managed);
    lambda::serve_http(api::finish(api::templates_router(catalog, keys))).await
}
