//! Scheduled work, invoked by EventBridge Scheduler every minute: the due sends of reminders and
//! sequences, then the sweep that re-queues outbound messages whose queue record was lost. Every
//! hour it is invoked with `{"job":"template-sync"}` and pulls the WABA's templates from Meta;
//! invoked with `{"job":"analytics-rebuild"}` it recomputes the analytics counters from the
//! stored messages instead.

use std::sync::Arc;

use wabridge::adapters::aws::Aws;
use wabridge::analytics::rebuild;
use wabridge::app::{App, Numbers, resources};
use wabridge::graph::GraphClient;
use wabridge::ports::Queue;
use wabridge::runtime::lambda::{self, Error};
use wabridge::schedule::jobs::Job;
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
    // Without a token or a WABA id there is nothing to sync: the job says so and does nothing.
    let catalog = GraphClient::from_config(&config, app.settings.graph_timeout)
        .ok()
        .zip(config.business_account_id.clone())
        .map(|managed| app.catalog(store.clone(), Some(managed)));
    lambda::serve_scheduled(move |event| {
        let (sweeper, scheduler, store, clock) = (sweeper.clone(), scheduler.clone(), store.clone(), app.clock.clone());
        let catalog = catalog.clone();
        async move {
            Ok(match Job::of(&event)? {
                Job::AnalyticsRebuild => {
                    serde_json::to_value(rebuild::rebuild(store.clone(), store, clock.now_ms()).await?)?
                }
                Job::TemplateSync => match catalog {
                    Some(catalog) => serde_json::to_value(catalog.sync().await?)?,
                    None => serde_json::json!({"skipped": "no access token or WABA id"}),
                },
                Job::Tick => {
                    let ticked = scheduler.tick().await?;
                    let swept = sweeper.sweep().await?;
                    serde_json::json!({"schedule": ticked, "sweep": swept})
                }
            })
        }
    })
    .await
}
