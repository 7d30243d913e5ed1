//! `/v1/contacts`: the contacts the business keeps (create, change, list with filters, import).
//! Refuses to start without API keys.

use wabridge::adapters::aws::Aws;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, resources};
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::CONTACTS_API).await;
    let config = aws.config().await?;
    let keys = ApiKeys::new(config.require_api_keys()?);
    let contacts = App::deployed(&config).contacts(aws.store()?);
    lambda::serve_http(api::finish(api::contacts_router(contacts, keys))).await
}
