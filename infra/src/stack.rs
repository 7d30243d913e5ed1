//! The local stack: the Lambda functions' routers on one HTTP server, the inbound processor and the
//! outbound sender as worker pools on durable SQLite queues, all state in the data dir.
//!
//! Where sends go is the [`SendMode`]: Meta with an access token; else the Graph API sandbox under
//! `/sandbox` while the app secret is a generated local one (or `WABRIDGE_SANDBOX=1` asks for it);
//! else nowhere, because a sandbox beside a real Meta app would sign its fake status webhooks with
//! the real app secret.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sandbox::{Sandbox, SandboxConfig};
use crate::secrets::LocalSecrets;
use crate::simulate::{DEFAULT_PHONE_NUMBER_ID, DEFAULT_WABA_ID};
use wabridge::Config;
use wabridge::adapters::embedded::{FolderBlobs, MemoryRateLimiter, SqliteQueue, SqliteStore};
use wabridge::app::{App, Numbers, Ports, Secrets, Settings};
use wabridge::callbacks::{CallbackConfig, Events};
use wabridge::graph::GraphClient;
use wabridge::inbound::process::Processor;
use wabridge::media::download::Downloader;
use wabridge::media::url::UrlSigner;
use wabridge::outbound::sender::Sender;
use wabridge::outbound::sweep::Sweeper;
use wabridge::ports::{Queue, SystemClock};
use wabridge::runtime::consume::{self, Handler};
use wabridge::schedule::Scheduler;
use wabridge::templates::catalog::Catalog;

/// How long the sandbox reviews a new template, in ms.
pub const TEMPLATE_REVIEW_VAR: &str = "WABRIDGE_SANDBOX_TEMPLATE_REVIEW_MS";

/// The sandbox's template review delay: [`crate::sandbox::DEFAULT_REVIEW`] unless set.
pub fn template_review(value: Option<&str>) -> anyhow::Result<Duration> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(crate::sandbox::DEFAULT_REVIEW),
        Some(v) => v
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| anyhow::anyhow!("{TEMPLATE_REVIEW_VAR} must be a number of milliseconds, got {v:?}")),
    }
}

/// Delays before the sandbox's `sent`, `delivered` and `read` webhooks, in ms, comma-separated.
pub const STATUS_DELAYS_VAR: &str = "WABRIDGE_SANDBOX_STATUS_DELAYS_MS";

/// Reads [`STATUS_DELAYS_VAR`]; by default 1.5 s in all, so a demo feels live.
pub fn status_delays(value: Option<&str>) -> anyhow::Result<[Duration; 3]> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok([
            Duration::from_millis(300),
            Duration::from_millis(500),
            Duration::from_millis(700),
        ]);
    };
    let parts: Vec<u64> = v
        .split(',')
        .map(|p| p.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            anyhow::anyhow!("{STATUS_DELAYS_VAR}: {v:?} must be three whole numbers of ms, like 300,500,700")
        })?;
    match parts.as_slice() {
        [a, b, c] => Ok([
            Duration::from_millis(*a),
            Duration::from_millis(*b),
            Duration::from_millis(*c),
        ]),
        _ => anyhow::bail!("{STATUS_DELAYS_VAR}: {v:?} must be three whole numbers of ms, like 300,500,700"),
    }
}

/// Where the local stack's sends go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// Meta's Graph API, with `WHATSAPP_ACCESS_TOKEN`.
    Meta,
    /// The built-in sandbox plays Meta.
    Sandbox,
    /// Receive only: sends answer 503 naming `WHATSAPP_ACCESS_TOKEN`.
    Off,
}

impl SendMode {
    /// Decides from the configuration: a token means Meta; without one, the sandbox runs when asked
    /// (`WABRIDGE_SANDBOX=1`) or, unasked, only when the app secret was not set by the user.
    pub fn of(config: &Config) -> anyhow::Result<Self> {
        match (config.access_token.is_some(), config.sandbox) {
            (true, Some(true)) => anyhow::bail!(
                "WABRIDGE_SANDBOX=1 and WHATSAPP_ACCESS_TOKEN are both set: send through Meta or the sandbox, not both"
            ),
            (true, _) => Ok(Self::Meta),
            (false, Some(true)) => Ok(Self::Sandbox),
            (false, Some(false)) => Ok(Self::Off),
            (false, None) if config.app_secret.is_none() => Ok(Self::Sandbox),
            (false, None) => Ok(Self::Off),
        }
    }
}

/// The wired local stack.
#[derive(Clone)]
pub struct LocalStack {
    /// The store.
    pub store: Arc<SqliteStore>,
    /// The inbound queue.
    pub queue: Arc<SqliteQueue>,
    /// The outbound queue.
    pub outbound: Arc<SqliteQueue>,
    /// The media download queue.
    pub media: Arc<SqliteQueue>,
    /// Event callbacks waiting to be posted.
    pub callbacks: Arc<SqliteQueue>,
    /// Where callbacks go, when `WABRIDGE_CALLBACK_URL` is set.
    pub receiver: Option<CallbackConfig>,
    /// Blob storage.
    pub blobs: Arc<FolderBlobs>,
    /// The secrets in force.
    pub secrets: LocalSecrets,
    /// The sandbox, when it plays Meta.
    pub sandbox: Option<Sandbox>,
    /// The business number sends go through by default.
    pub phone_number_id: String,
    /// The WABA whose templates are kept: `WHATSAPP_BUSINESS_ACCOUNT_ID`, or the sandbox's.
    pub waba_id: Option<String>,
    app: App,
    ports: Ports,
    graph: Option<GraphClient>,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("queue", &self.queue)
            .field("sandbox", &self.sandbox.is_some())
            .finish_non_exhaustive()
    }
}

impl LocalStack {
    /// Opens the data dir (creating it), resolves secrets and wires everything for a server that will
    /// listen on `addr` (the sandbox posts its status webhooks there), with [`Settings::local`].
    pub fn open(config: &Config, addr: SocketAddr) -> anyhow::Result<Self> {
        Self::open_with(config, addr, Settings::local(config))
    }

    /// [`LocalStack::open`] with the settings given.
    pub fn open_with(config: &Config, addr: SocketAddr, settings: Settings) -> anyhow::Result<Self> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
        let secrets = LocalSecrets::resolve(config)?;
        let store = Arc::new(SqliteStore::open(&dir.join("store.db")).context("opening the store")?);
        let queue_db = dir.join("queue.db");
        let visibility = settings.queue_visibility;
        let queue = Arc::new(SqliteQueue::open(&queue_db, "inbound", visibility).context("opening the inbound queue")?);
        let outbound =
            Arc::new(SqliteQueue::open(&queue_db, "outbound", visibility).context("opening the outbound queue")?);
        let media = Arc::new(SqliteQueue::open(&queue_db, "media", visibility).context("opening the media queue")?);
        let callbacks =
            Arc::new(SqliteQueue::open(&queue_db, "callbacks", visibility).context("opening the callbacks queue")?);
        let receiver = config.callback_url.clone().map(|url| CallbackConfig {
            url,
            secret: secrets.callback_secret.clone(),
        });
        let media_urls = UrlSigner::derived_from(&secrets.app_secret);
        let blobs = Arc::new(FolderBlobs::new(dir.join("blobs")).with_urls(media_urls.clone(), Arc::new(SystemClock)));
        let app = App::new(settings, Arc::new(SystemClock)).with_keywords(config.keywords.clone());

        let (graph, sandbox) = match SendMode::of(config)? {
            SendMode::Meta => {
                let token = config.access_token.clone().context("no WHATSAPP_ACCESS_TOKEN")?;
                let graph = GraphClient::new(&config.graph_url, &config.api_version, token, settings.graph_timeout)?;
                (Some(graph), None)
            }
            SendMode::Sandbox => {
                let sandbox = Sandbox::new(SandboxConfig {
                    webhook_url: Some(format!("http://{addr}/webhook")),
                    app_secret: secrets.app_secret.clone(),
                    status_delays: status_delays(std::env::var(STATUS_DELAYS_VAR).ok().as_deref())?,
                    api_keys: secrets.api_keys.clone(),
                });
                // The stack calls the sandbox with its own API key as the access token: the only
                // bearer the sandbox accepts.
                let token = secrets
                    .api_keys
                    .first()
                    .cloned()
                    .context("no API key for the sandbox")?;
                let base = format!("http://{addr}/sandbox");
                let graph = GraphClient::new(&base, &config.api_version, token, settings.graph_timeout)?;
                (Some(graph), Some(sandbox))
            }
            SendMode::Off => (None, None),
        };
        let phone_number_id = config
            .phone_number_id
            .clone()
            .unwrap_or_else(|| DEFAULT_PHONE_NUMBER_ID.to_owned());
        let waba_id = config
            .business_account_id
            .clone()
            .or_else(|| sandbox.as_ref().map(|_| DEFAULT_WABA_ID.to_owned()));
        if let Some(sb) = &sandbox {
            sb.review_templates_after(template_review(std::env::var(TEMPLATE_REVIEW_VAR).ok().as_deref())?);
        }
        let ports = Ports {
            store: store.clone(),
            inbound: queue.clone(),
            outbound: outbound.clone(),
            media: media.clone(),
            callbacks: callbacks.clone(),
            blobs: blobs.clone(),
            limiter: Arc::new(MemoryRateLimiter::default()),
            media_urls: Some(media_urls),
        };
        Ok(Self {
            store,
            queue,
            outbound,
            media,
            callbacks,
            receiver,
            blobs,
            secrets,
            sandbox,
            phone_number_id,
            waba_id,
            app,
            ports,
            graph,
        })
    }

    /// The numbers the routes use.
    pub fn numbers(&self) -> Numbers {
        Numbers {
            phone_number_id: Some(self.phone_number_id.clone()),
            waba_id: self.waba_id.clone(),
        }
    }

    /// The templates use case, managing the WABA's templates at Meta (or the sandbox) when both
    /// are known.
    pub fn catalog(&self) -> Catalog {
        let managed = self.graph.clone().zip(self.waba_id.clone());
        self.app.catalog(self.ports.store.clone(), managed)
    }

    /// Where sends go, as decided at open.
    pub fn mode(&self) -> SendMode {
        match (&self.sandbox, &self.graph) {
            (Some(_), _) => SendMode::Sandbox,
            (None, Some(_)) => SendMode::Meta,
            (None, None) => SendMode::Off,
        }
    }

    /// Every route the deployed functions serve, on one router (plus the sandbox when it plays Meta).
    /// With sending off, the send routes answer 503.
    pub fn router(&self) -> Router {
        let secrets = Secrets {
            app_secret: self.secrets.app_secret.clone(),
            verify_token: self.secrets.verify_token.clone(),
            api_keys: self.secrets.api_keys.clone(),
        };
        let mut app = self
            .app
            .router(&self.ports, &secrets, self.graph.clone(), &self.numbers());
        if let Some(sb) = &self.sandbox {
            app = app.nest("/sandbox", sb.router());
        }
        app
    }

    /// The inbound processor, and the outbound sender and media downloader when Graph is
    /// reachable, as the workers run them.
    pub fn consumers(&self) -> (Processor, Option<(Sender, Downloader)>) {
        let p = &self.ports;
        let processor = self.app.full_processor(
            p.store.clone(),
            p.blobs.clone(),
            p.media.clone(),
            Some(p.outbound.clone()),
            self.receiver.as_ref().map(|_| Events::new(p.callbacks.clone())),
            &self.numbers(),
        );
        let graphed = self.graph.clone().map(|graph| {
            let watch = self.app.lag_watch(p.store.clone(), p.inbound.clone());
            let sender = self
                .app
                .sender(p.store.clone(), p.limiter.clone(), graph.clone())
                .watching(watch);
            (sender, self.app.downloader(p.store.clone(), p.blobs.clone(), graph))
        });
        (processor, graphed)
    }

    /// Starts the inbound and outbound workers. Each checks `stop` between batches, so a batch in
    /// progress is finished and settled before the worker exits. With sending off, messages already
    /// on the outbound queue wait there for a later start that can send them.
    pub fn spawn_workers(&self, n: usize, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let (processor, graphed) = self.consumers();
        let processor: Arc<dyn Handler> = Arc::new(processor);
        let inbound_batch = self.app.settings.inbound_batch;
        let mut workers = spawn_consumers(processor, self.queue.clone(), n, inbound_batch, stop.clone());
        if let Some(receiver) = &self.receiver {
            match self.app.deliverer(receiver.clone()) {
                Ok(deliverer) => workers.extend(spawn_consumers(
                    Arc::new(deliverer),
                    self.callbacks.clone(),
                    n,
                    10,
                    stop.clone(),
                )),
                // Events stay queued for a start that can post them.
                Err(e) => tracing::error!(error = %e, "callbacks are not posted"),
            }
        }
        if let Some((sender, downloader)) = graphed {
            workers.extend(spawn_consumers(
                Arc::new(downloader),
                self.media.clone(),
                n,
                10,
                stop.clone(),
            ));
            // The sender takes SQS-sized batches: its rate-limit grants are sized per batch.
            workers.extend(spawn_consumers(
                Arc::new(sender),
                self.outbound.clone(),
                n,
                10,
                stop.clone(),
            ));
            let sweeper = self.app.sweeper(self.ports.store.clone(), self.outbound.clone());
            workers.push(spawn_sweeps(sweeper, stop.clone()));
            let scheduler = self
                .app
                .scheduler(self.ports.store.clone(), Some(self.outbound.clone()), &self.numbers());
            workers.push(spawn_ticks(scheduler, stop.clone()));
            let catalog = self.catalog();
            if catalog.manages() {
                workers.push(spawn_template_syncs(catalog, stop));
            }
        }
        workers
    }

    /// Serves on `listener` until `stop` turns true, with the workers running.
    pub async fn serve(self, listener: tokio::net::TcpListener, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let workers = self.spawn_workers(self.app.settings.workers, stop.clone());
        let mut http_stop = stop.clone();
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
            .context("HTTP server failed")?;
        for w in workers {
            let _ = w.await;
        }
        Ok(())
    }
}

/// Sweeps for stranded outbound messages every [`Sweeper::every`] until `stop` (on AWS the
/// scheduler function does this each minute).
fn spawn_sweeps(sweeper: Sweeper, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(sweeper.every()) => {}
            }
            if let Err(e) = sweeper.sweep().await {
                tracing::error!(error = %e, "sweep: store unavailable; trying again next time");
            }
        }
    })
}

/// Runs the scheduler's tick every [`Scheduler::every`] (a second) until `stop` (on AWS,
/// EventBridge invokes the scheduler function each minute).
fn spawn_ticks(scheduler: Scheduler, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(scheduler.every()) => {}
            }
            if let Err(e) = scheduler.tick().await {
                tracing::error!(error = %e, "scheduler: store unavailable; trying again next tick");
            }
        }
    })
}

/// How often the local stack pulls the templates from Meta (on AWS the scheduler will).
pub const TEMPLATE_SYNC_EVERY: Duration = Duration::from_secs(60 * 60);

/// Syncs the templates at start and every [`TEMPLATE_SYNC_EVERY`] until `stop`. The first sync
/// may run before the server answers (the sandbox is served by it): it is tried again shortly.
fn spawn_template_syncs(catalog: Catalog, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = match catalog.sync().await {
                Ok(done) => {
                    tracing::info!(synced = done.synced, deleted = done.deleted, "templates synced");
                    TEMPLATE_SYNC_EVERY
                }
                Err(e) => {
                    tracing::warn!(error = %e, "template sync failed; trying again in a minute");
                    Duration::from_secs(60)
                }
            };
        }
    })
}

/// Runs `n` loops that receive from `queue`, hand batches to `handler` and settle them, until `stop`.
fn spawn_consumers(
    handler: Arc<dyn Handler>,
    queue: Arc<dyn Queue>,
    n: usize,
    batch: u32,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (handler, queue, stop) = (handler.clone(), queue.clone(), stop.clone());
            tokio::spawn(async move {
                while !*stop.borrow() {
                    let polled =
                        consume::poll_batch(handler.as_ref(), queue.as_ref(), batch, Duration::from_millis(500)).await;
                    if let Err(e) = polled {
                        tracing::error!(error = %e, "worker: queue unavailable; pausing");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_delays_default_to_a_second_and_a_half_and_reject_nonsense() {
        let d = status_delays(None).unwrap();
        assert_eq!(d.iter().sum::<Duration>(), Duration::from_millis(1500));
        assert_eq!(status_delays(Some("0, 10,20")).unwrap()[2], Duration::from_millis(20));
        for bad in ["1,2", "a,b,c", "1,2,3,4"] {
            let e = status_delays(Some(bad)).unwrap_err().to_string();
            assert!(e.contains(STATUS_DELAYS_VAR), "{e}");
        }
    }
}
