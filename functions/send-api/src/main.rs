//! `POST /v1/messages`, the read receipts and `POST /v1/conversations/{wa_id}/read`: validate, store
//! as queued, hand to the outbound queue. Refuses to start without API keys or an access token.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, resources};
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
    let pni = config.phone_number_id.clone();
    let send = app.send_api(aws.store()?, aws.outbound_queue()?, graph, pni);
    lambda::serve_http(api::finish(api::send_router(Some(send), keys))).await
}
