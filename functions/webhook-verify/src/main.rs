//! `GET /webhook`: Meta's subscription handshake. Refuses to start without a verify token.

use wabridge::runtime::lambda::{self, Error};
use wabridge::{Config, api, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let token = Config::from_env()?.require_verify_token()?;
    lambda::serve_http(api::finish(api::webhook_verify_router(token))).await
}
