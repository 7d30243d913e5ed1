//! Scheduled work, invoked by EventBridge Scheduler every minute: the due sends of reminders,
//! then the sweep that re-queues outbound messages whose queue record was lost. Invoked with
//! `{"job":"analytics-rebuild"}` it recomputes the analytics counters from the stored messages
//! instead.

use std::sync::Arc;

use wabridge::adapters::aws::Aws;
use wabridge::analytics::rebuild;
use wabridge::app::{App, Numbers, resources};
use wabridge::ports::Queue;
use wabridge::runtime::lambda::{self, Error};
use wabridge::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let aws = Aws::load(resources::SCHEDULER).await;
    let config = aws.config().await?;
    let app = App::deployed(&config);
    let store = aws.store()?;
    let outbound: Arc<dyn Queue> = aws.outbound_queue()?;
    let sweeper = app.sweeper(store.clone(), outbound.clone());
    let scheduler = app.scheduler(store.clone(), Some(outbound), &Numbers::from_config(&config));
    lambda::serve_scheduled(move |event| {
        let (sweeper, scheduler, store, clock) = (sweeper.clone(), scheduler.clone(), store.clone(), app.clock.clone());
        async move {
            if event.get("job").and_then(|j| j.as_str()) == Some("analytics-rebuild") {
                let done = rebuild::rebuild(store.clone(), store, clock.now_ms()).await?;
                return Ok(serde_json::to_value(done)?);
            }
            let ticked = scheduler.tick().await?;
            let swept = sweeper.sweep().await?;
            Ok(serde_json::json!({"schedule": ticked, "sweep": swept}))
        }
    })
    .await
}
