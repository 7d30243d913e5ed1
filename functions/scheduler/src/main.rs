//! Scheduled work, invoked by EventBridge Scheduler every minute: the sweep that re-queues
//! outbound messages whose queue record was lost. Invoked with `{"job":"analytics-rebuild"}`
//! it recomputes the analytics counters from the stored messages instead.

use wabridge::adapters::aws::Aws;
use wabridge::analytics::rebuild;
use wabridge::app::{App, resources};
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::SCHEDULER).await;
    let app = App::deployed(&aws.config().await?);
    let store = aws.store()?;
    let sweeper = app.sweeper(store.clone(), aws.outbound_queue()?);
    lambda::serve_scheduled(move |event| {
        let (sweeper, store, clock) = (sweeper.clone(), store.clone(), app.clock.clone());
        async move {
            if event.get("job").and_then(|j| j.as_str()) == Some("analytics-rebuild") {
                let done = rebuild::rebuild(store.clone(), store, clock.now_ms()).await?;
                return Ok(serde_json::to_value(done)?);
            }
            Ok(serde_json::to_value(sweeper.sweep().await?)?)
        }
    })
    .await
}
