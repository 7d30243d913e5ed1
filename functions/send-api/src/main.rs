//! `POST /v1/messages`, the read receipts, `POST /v1/conversations/{wa_id}/read` and
//! `POST /v1/media`: validate, store as queued, hand to the outbound queue; upload media to Meta.
//! Refuses to start without API keys or an access token.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Numbers, resources};
use wabridge::graph::GraphClient;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::SEND_API).await;
    let config = aws.config().await?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let app = App::deployed(&config);
    let graph = GraphClient::from_config(&config, app.settings.graph_timeout)?;
    let (numbers, store) = (Numbers::from_config(&config), aws.store()?);
    let send = app.send_api(store, aws.outbound_queue()?, aws.blobs()?, graph, &numbers);
    let uploader = send.uploads.clone();
    let routes = api::send_router(Some(send), keys.clone()).merge(api::upload_router(Some(uploader), keys));
    lambda::serve_http(api::finish(routes)).await
}
