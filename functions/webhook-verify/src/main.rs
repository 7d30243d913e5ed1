//! `GET /webhook`: Meta's subscription handshake. Refuses to start without a verify token.

use wabridge::{Config, api, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let app = api::finish(api::webhook_verify_router(config.require_verify_token()?));
    lambda_http::run(app).await
}
