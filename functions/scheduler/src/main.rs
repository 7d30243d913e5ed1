//! Scheduled work, invoked by EventBridge Scheduler every minute: today the sweep that re-queues
//! outbound messages whose queue record was lost.

use wabridge::adapters::aws::Aws;
use wabridge::app::{App, resources};
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::SCHEDULER).await;
    let app = App::deployed(&aws.config().await?);
    let sweeper = app.sweeper(aws.store()?, aws.outbound_queue()?);
    lambda::serve_scheduled(move || {
        let sweeper = sweeper.clone();
        async move { Ok(serde_json::to_value(sweeper.sweep().await?)?) }
    })
    .await
}
