//! `wabridge bench-campaign`: a campaign to `recipients` tagged contacts at `mps` against the
//! sandbox, on the embedded store, with the scheduler ticking every second as `wabridge serve`
//! does and the sender's workers draining the queue under the number's limit. Measures what the
//! campaign achieved against that limit, the most sent in any second, how long it took, and what
//! the scheduler's ticks cost per 1,000 recipients.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::load::{SendBench, max_in_any_second};
use crate::simulate::DEFAULT_PHONE_NUMBER_ID;
use wabridge::adapters::embedded::MemoryRateLimiter;
use wabridge::app::{App, Numbers, Settings};
use wabridge::outbound::sender::SenderConfig;
use wabridge::ports::{Clock, ContactBook, SystemClock};
use wabridge::runtime::consume::{self, Handler};
use wabridge::schedule::TickConfig;

/// What one campaign run measured.
#[derive(Debug, Clone)]
pub struct CampaignReport {
    /// Recipients.
    pub recipients: usize,
    /// The number's limit and the campaign's rate, messages per second.
    pub mps: f64,
    /// Messages the sandbox accepted.
    pub accepted: usize,
    /// Accepted messages after the first second's over the time they took.
    pub achieved_mps: f64,
    /// Most messages accepted in any one-second window.
    pub max_in_any_second: usize,
    /// From the campaign's creation to the last message accepted.
    pub start_to_last: Duration,
    /// Time spent in the scheduler's ticks, all told.
    pub tick_time: Duration,
    /// Ticks run.
    pub ticks: usize,
}

impl CampaignReport {
    /// The report, in Markdown.
    pub fn markdown(&self) -> String {
        let per_thousand = self.tick_time.as_secs_f64() * 1000.0 / (self.recipients as f64 / 1000.0).max(1e-9);
        format!(
            "# wabridge campaign against the Graph API sandbox\n\n\
             | recipients | limit = rate (msg/s) | accepted | achieved (msg/s) | achieved / limit | most in any 1 s | start to last accepted | tick time per 1,000 recipients | ticks |\n\
             |---|---|---|---|---|---|---|---|---|\n\
             | {} | {:.0} | {} | {:.1} | {:.3} | {} | {:.2} s | {:.1} ms | {} |\n\n\
             The store and queue are the embedded SQLite ones; the sender's four workers share the \
             number's token bucket (burst {:.0}), as on the local stack. Achieved is measured from the \
             end of the first second (the bucket's burst) to the last message accepted.\n\n\
             machine: {} cores; build: {}\n",
            self.recipients,
            self.mps,
            self.accepted,
            self.achieved_mps,
            self.achieved_mps / self.mps,
            self.max_in_any_second,
            self.start_to_last.as_secs_f64(),
            per_thousand,
            self.ticks,
            wabridge::outbound::limits::number_burst(self.mps),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            if cfg!(debug_assertions) { "debug" } else { "release" }
        )
    }
}

/// Runs one campaign of `recipients` at `mps` with its data in `data_dir`.
pub async fn run(recipients: usize, mps: f64, data_dir: &Path) -> anyhow::Result<CampaignReport> {
    let config = wabridge::Config::from_env()?;
    let deployed = Settings::local(&config);
    let settings = Settings {
        sender: SenderConfig {
            throughput_mps: mps,
            ..deployed.sender
        },
        schedule: TickConfig {
            every: Duration::from_secs(1),
            ..deployed.schedule
        },
        ..deployed
    };
    let SendBench {
        store,
        outbound,
        sandbox,
        server,
        graph,
    } = SendBench::open(data_dir, &config, &settings).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::new(settings, clock.clone());

    // The audience: `recipients` contacts carrying the tag.
    let now = clock.now_ms();
    for chunk in (0..recipients).collect::<Vec<_>>().chunks(2_000) {
        let changes: Vec<_> = chunk
            .iter()
            .map(|i| wabridge::contacts::parse_create(&json!({"wa_id": format!("2782{i:07}"), "tags": ["bench"]})))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("bench contact: {e:?}"))?;
        store.change_contacts(&changes, now).await?;
    }

    let numbers = Numbers {
        phone_number_id: Some(DEFAULT_PHONE_NUMBER_ID.into()),
        waba_id: None,
    };
    let scheduler = app.scheduler(store.clone(), Some(outbound.clone()), &numbers);
    let sender: Arc<dyn Handler> = Arc::new(app.sender(store.clone(), Arc::new(MemoryRateLimiter::default()), graph));
    let started = Instant::now();
    let campaign = json!({"name": "bench", "audience": {"tags": ["bench"]}, "rate_mps": mps,
                          "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let id = scheduler
        .create_campaign(&campaign)
        .await
        .map_err(|e| anyhow::anyhow!("create the campaign: {e}"))?["id"]
        .as_str()
        .context("a campaign id")?
        .to_owned();
    let deadline = started + Duration::from_secs((recipients as f64 / mps * 3.0 + 60.0) as u64);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (sender, outbound, sandbox) = (sender.clone(), outbound.clone(), sandbox.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline && sandbox.accepted_at().len() < recipients {
                    match consume::poll_once(sender.as_ref(), outbound.as_ref(), Duration::from_millis(100)).await {
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
        })
        .collect();
    // The local stack's tick loop: every second, measured.
    let (mut tick_time, mut ticks) = (Duration::ZERO, 0);
    while Instant::now() < deadline && sandbox.accepted_at().len() < recipients {
        let t = Instant::now();
        scheduler.tick().await?;
        tick_time += t.elapsed();
        ticks += 1;
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(t.elapsed())).await;
    }
    for w in workers {
        w.await?;
    }
    server.abort();
    let view = scheduler.campaign(&id).await?.context("the campaign")?;
    let times = sandbox.accepted_at();
    if times.len() < recipients {
        bail!("only {} of {recipients} accepted in time: {view}", times.len());
    }
    let first_second = times
        .iter()
        .take_while(|t| **t - times[0] < Duration::from_secs(1))
        .count();
    let achieved_mps = match (times.get(first_second), times.last()) {
        (Some(first), Some(last)) if last > first => {
            (times.len() - first_second - 1) as f64 / (*last - *first).as_secs_f64()
        }
        _ => 0.0,
    };
    let max_in_any_second = max_in_any_second(&times);
    Ok(CampaignReport {
        recipients,
        mps,
        accepted: times.len(),
        achieved_mps,
        max_in_any_second,
        start_to_last: times.last().map_or(Duration::ZERO, |l| *l - started),
        tick_time,
        ticks,
    })
}
