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
             - webhooks: {count} (one text message each, {customers} customers), concurrency {conc}\n\n\
             | figure | value |\n|---|---|\n\
             | accepted (200) | {acc} / {count} |\n\
             | stored and readable | {stored} / {count} |\n\
             | ingest rate (signed webhooks/s answered 200) | {ir:.0} |\n\
             | end-to-end rate (webhooks/s stored and queryable) | {er:.0} |\n\
             | time to last 200 | {is:.2} s |\n\
             | time to last message readable | {es:.2} s |\n\
             | POST /webhook latency p50 / p90 / p99 / max | {p0:.1} / {p1:.1} / {p2:.1} / {p3:.1} ms |\n",
            cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
            profile = if cfg!(debug_assertions) { "debug" } else { "release" },
            count = s.count,
            customers = s.customers,
            conc = s.concurrency,
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
    let secret = stack.secrets.app_secret.clone();
    let key = stack.secrets.first_api_key().context("no API key")?.to_owned();
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = watch::channel(false);
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

    // Every message must come back from the query API; the newest ones are checked last.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut stored = 0;
    for w in &wamids {
        loop {
            let res = client
                .get(format!("{base}/v1/messages/{w}"))
                .bearer_auth(&key)
                .send()
                .await?;
            if res.status().is_success() {
                stored += 1;
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let end_to_end_secs = t0.elapsed().as_secs_f64();
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
