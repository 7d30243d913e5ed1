//! `wabridge load`: a load run of the local stack. It starts a stack in a fresh temporary data dir,
//! posts signed inbound webhooks at a fixed concurrency, waits until every message is stored and
//! readable through the query API, and writes the figures to a Markdown report.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use tokio::sync::{Semaphore, watch};

use crate::simulate::{self, DEFAULT_PHONE_NUMBER_ID};
use crate::stack::LocalStack;
use wabridge::Config;

/// Parameters of a run.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// Webhooks to post.
    pub count: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Distinct customers the messages come from.
    pub customers: usize,
    /// The PMS example flow and [`AUTOMATION_RULES`] keyword rules installed first.
    pub automation: bool,
}

/// Keyword rules a run with automation installs.
pub const AUTOMATION_RULES: usize = 1000;

/// Installs the PMS example flow and [`AUTOMATION_RULES`] rules of every mode, none of which
/// matches the load's messages: what automation costs a message it does not answer.
async fn install_automation(store: &dyn wabridge::ports::Automation) -> anyhow::Result<()> {
    let pms: serde_json::Value = serde_json::from_str(include_str!("../../examples/flows/pms.json"))?;
    let flow = wabridge::flows::definition::Flow::parse(&pms, "pms").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    store.put_flow(&flow).await?;
    for i in 0..AUTOMATION_RULES {
        let (mode, keyword) = match i % 4 {
            0 => ("word", format!("product {i}")),
            1 => ("contains", format!("ticket-{i}")),
            2 => ("exact", format!("option {i}")),
            _ => ("regex", format!(r"^order\s+#?{i}\d+$")),
        };
        let body = json!({"priority": i % 7, "match": {"keywords": [keyword], "mode": mode},
                          "reply": {"type": "text", "text": {"body": format!("rule {i}")}}});
        let rule = wabridge::automation::rules::Rule::parse(&body, &format!("rule-{i:04}"))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        store.create_rule(&rule).await?;
    }
    Ok(())
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The parameters.
    pub spec: LoadSpec,
    /// Webhooks answered 200.
    pub accepted: usize,
    /// Seconds until the last POST was answered.
    pub ingest_secs: f64,
    /// Seconds until every message was readable.
    pub end_to_end_secs: f64,
    /// POST latency percentiles (ms): p50, p90, p99, max.
    pub post_ms: [f64; 4],
    /// Messages readable at the end.
    pub stored: usize,
}

impl LoadReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let s = &self.spec;
        format!(
            "# wabridge local stack load run\n\n\
             - machine: {cores} cores; build: {profile}\n\
             - webhooks: {count} (one text message each, {customers} customers), concurrency {conc}\n\
             - automation: {automation}\n\n\
             | figure | value |\n|---|---|\n\
             | accepted (200) | {acc} / {count} |\n\
             | stored and readable | {stored} / {count} |\n\
             | ingest rate (signed webhooks/s answered 200) | {ir:.0} |\n\
             | end-to-end rate (webhooks/s stored and queryable) | {er:.0} |\n\
             | time to last 200 | {is:.2} s |\n\
             | time until every webhook was stored (inbound queue empty) | {es:.2} s |\n\
             | POST /webhook latency p50 / p90 / p99 / max | {p0:.1} / {p1:.1} / {p2:.1} / {p3:.1} ms |\n\n\
             The end-to-end time runs from the first POST until the inbound queue is empty (records are \
             acked only once stored); afterwards every webhook's message is read back through the query \
             API, and only those that come back count as stored.\n",
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
            profile = if cfg!(debug_assertions) { "debug" } else { "release" },
            count = s.count,
            customers = s.customers,
            conc = s.concurrency,
            automation = if s.automation {
                "on (the PMS flow and 1,000 keyword rules; no message matches)"
            } else {
                "off"
            },
            acc = self.accepted,
            stored = self.stored,
            ir = self.accepted as f64 / self.ingest_secs.max(1e-9),
            er = self.stored as f64 / self.end_to_end_secs.max(1e-9),
            is = self.ingest_secs,
            es = self.end_to_end_secs,
            p0 = self.post_ms[0],
            p1 = self.post_ms[1],
            p2 = self.post_ms[2],
            p3 = self.post_ms[3],
        )
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the load against a fresh stack in `data_dir` and returns the figures.
pub async fn run(spec: LoadSpec, data_dir: &Path) -> anyhow::Result<LoadReport> {
    let config = Config::from_lookup(&|k| match k {
        "WABRIDGE_DATA_DIR" => Some(data_dir.display().to_string()),
        _ => None,
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let stack = LocalStack::open(&config, listener.local_addr()?)?;
    if spec.automation {
        install_automation(stack.store.as_ref()).await?;
    }
    let secret = stack.secrets.app_secret.clone();
    let key = stack.secrets.first_api_key().context("no API key")?.to_owned();
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let inbound = stack.queue.clone();
    let server = tokio::spawn(stack.serve(listener, stop_rx));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(spec.concurrency)
        .build()?;
    let gate = Arc::new(Semaphore::new(spec.concurrency));
    let t0 = Instant::now();
    let ts = chrono::Utc::now().timestamp();
    let mut tasks = Vec::with_capacity(spec.count);
    let mut wamids = Vec::with_capacity(spec.count);
    for i in 0..spec.count {
        let wamid = simulate::new_wamid();
        let from = format!("2782{:07}", i % spec.customers.max(1));
        let body = serde_json::to_vec(&simulate::inbound(
            DEFAULT_PHONE_NUMBER_ID,
            &from,
            "Load Test",
            &wamid,
            ts,
            "text",
            json!({"body": format!("load message {i}")}),
        ))?;
        wamids.push(wamid);
        let (client, base, secret, gate) = (client.clone(), base.clone(), secret.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let start = Instant::now();
            let code = simulate::post(&client, &base, &secret, &body).await.unwrap_or(0);
            (code, start.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut latencies = Vec::with_capacity(spec.count);
    let mut accepted = 0;
    for t in tasks {
        let (code, ms) = t.await?;
        accepted += usize::from(code == 200);
        latencies.push(ms);
    }
    let ingest_secs = t0.elapsed().as_secs_f64();

    // Processing is done when the inbound queue is empty (a record is acked only once stored);
    // then every message must come back from the query API, or it does not count as stored.
    let deadline = Instant::now() + Duration::from_secs(600);
    while inbound.depth().await.unwrap_or(1) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let end_to_end_secs = t0.elapsed().as_secs_f64();
    let checks: Vec<_> = wamids
        .iter()
        .map(|w| {
            let (client, url, key, gate) = (
                client.clone(),
                format!("{base}/v1/messages/{w}"),
                key.clone(),
                gate.clone(),
            );
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                match client.get(url).bearer_auth(key).send().await {
                    Ok(res) => res.status().is_success(),
                    Err(_) => false,
                }
            })
        })
        .collect();
    let mut stored = 0;
    for c in checks {
        stored += usize::from(c.await?);
    }
    let _ = stop_tx.send(true);
    server.await??;
    latencies.sort_by(f64::total_cmp);
    let post_ms = [0.5, 0.9, 0.99, 1.0].map(|p| percentile(&latencies, p));
    if stored == 0 {
        bail!("no message became readable; see the stack's log");
    }
    Ok(LoadReport {
        spec,
        accepted,
        ingest_secs,
        end_to_end_secs,
        post_ms,
        stored,
    })
}

/// What a sender throughput run measured.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// The configured limit, messages per second.
    pub limit_mps: f64,
    /// Messages sent.
    pub count: usize,
    /// Messages the sandbox accepted.
    pub accepted: usize,
    /// Sustained rate: accepted messages after the initial burst over the time they took.
    pub achieved_mps: f64,
    /// Most messages the sandbox received in any one-second window.
    pub max_in_any_second: usize,
}

impl SendReport {
    /// One Markdown table row.
    pub fn row(&self) -> String {
        format!(
            "| {:.0} | {} | {} | {:.1} | {:.3} | {} |",
            self.limit_mps,
            self.count,
            self.accepted,
            self.achieved_mps,
            self.achieved_mps / self.limit_mps,
            self.max_in_any_second
        )
    }
}

/// Sender throughput against the sandbox: `count` template messages to distinct customers are
/// queued, then the local stack's sender workers deliver them under a `limit_mps` limit. Status
/// webhooks are off so only the sender is measured.
pub async fn send_run(limit_mps: f64, count: usize, data_dir: &Path) -> anyhow::Result<SendReport> {
    use wabridge::adapters::embedded::MemoryRateLimiter;
    use wabridge::app::{App, Settings};
    use wabridge::outbound::request::validate;
    use wabridge::outbound::sender::SenderConfig;
    use wabridge::ports::{Clock, SystemClock};
    use wabridge::runtime::consume::{self, Handler};

    let config = wabridge::Config::from_env()?;
    let deployed = Settings::from_config(&config);
    let settings = Settings {
        sender: SenderConfig {
            throughput_mps: limit_mps,
            ..deployed.sender
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
    let app = App::new(settings, clock);
    let enqueuer = app.enqueuer(
        store.clone(),
        store.clone(),
        outbound.clone(),
        Some(DEFAULT_PHONE_NUMBER_ID.into()),
    );
    for i in 0..count {
        let body = json!({"to": format!("2782{i:07}"), "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}}});
        let cmd = validate(&body).map_err(|e| anyhow::anyhow!("invalid bench message: {e:?}"))?;
        enqueuer.enqueue(&cmd).await?;
    }
    let sender: Arc<dyn Handler> = Arc::new(app.sender(store, Arc::new(MemoryRateLimiter::default()), graph));
    let deadline = Instant::now() + Duration::from_secs((count as f64 / limit_mps * 3.0 + 30.0) as u64);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (sender, outbound) = (sender.clone(), outbound.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    match consume::poll_once(sender.as_ref(), outbound.as_ref(), Duration::from_millis(100)).await {
                        Ok(0) if outbound.depth().await.unwrap_or(0) == 0 => break,
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    server.abort();
    let times = sandbox.accepted_at();
    let burst = wabridge::outbound::limits::number_burst(limit_mps) as usize;
    let achieved_mps = match (times.get(burst), times.last()) {
        (Some(first), Some(last)) if last > first => (times.len() - burst - 1) as f64 / (*last - *first).as_secs_f64(),
        _ => 0.0,
    };
    let max_in_any_second = max_in_any_second(&times);
    Ok(SendReport {
        limit_mps,
        count,
        accepted: times.len(),
        achieved_mps,
        max_in_any_second,
    })
}

/// What a sender benchmark runs on: the embedded store and outbound queue in a data dir, and the
/// sandbox on loopback (no status webhooks) with a Graph client for it.
pub(crate) struct SendBench {
    pub store: Arc<wabridge::adapters::embedded::SqliteStore>,
    pub outbound: Arc<wabridge::adapters::embedded::SqliteQueue>,
    pub sandbox: crate::sandbox::Sandbox,
    pub server: tokio::task::JoinHandle<()>,
    pub graph: wabridge::graph::GraphClient,
}

impl SendBench {
    /// Opens the store and queue in `data_dir` and starts the sandbox.
    pub async fn open(data_dir: &Path, config: &Config, settings: &wabridge::app::Settings) -> anyhow::Result<Self> {
        use wabridge::adapters::embedded::{SqliteQueue, SqliteStore};
        std::fs::create_dir_all(data_dir)?;
        let store = Arc::new(SqliteStore::open(&data_dir.join("store.db"))?);
        let outbound = Arc::new(SqliteQueue::open(
            &data_dir.join("queue.db"),
            "outbound",
            settings.queue_visibility,
        )?);
        let sandbox = crate::sandbox::Sandbox::new(crate::sandbox::SandboxConfig {
            webhook_url: None,
            app_secret: secrecy::SecretString::from("unused"),
            status_delays: [Duration::ZERO; 3],
            api_keys: vec![secrecy::SecretString::from("bench")],
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let server = sandbox.serve(listener);
        let graph = wabridge::graph::GraphClient::new(
            &base,
            &config.api_version,
            secrecy::SecretString::from("bench"),
            settings.graph_timeout,
        )?;
        Ok(Self {
            store,
            outbound,
            sandbox,
            server,
            graph,
        })
    }
}

/// The most arrivals (in order) within any one-second window.
pub(crate) fn max_in_any_second(times: &[Instant]) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}
