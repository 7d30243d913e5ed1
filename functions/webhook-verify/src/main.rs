//! `GET /webhook`: Meta's subscription handshake. Refuses to start without a verify token.

use wabridge::adapters::aws::Aws;
use wabridge::app::resources;
use wabridge::runtime::lambda::{self, Error};
use wabridge::{api, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::WEBHOOK_VERIFY).await;
    let token = aws.config().await?.require_verify_token()?;
    lambda::serve_http(api::finish(api::webhook_verify_router(token))).await
}
