//! The local stack: the Lambda functions' routers on one HTTP server, the inbound processor as a
//! worker pool on a durable SQLite queue, all state in the data dir.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::secrets::LocalSecrets;
use wabridge::Config;
use wabridge::adapters::embedded::{FolderBlobs, SqliteQueue, SqliteStore};
use wabridge::api::{self, ApiKeys, QueryState};
use wabridge::ingest::Ingestor;
use wabridge::ports::{Clock, SystemClock};
use wabridge::process::{Processor, RetryPolicy};

/// How long a received webhook stays hidden before another worker may take it (SQS's default).
pub const VISIBILITY: Duration = Duration::from_secs(30);
/// Concurrent inbound workers.
pub const WORKERS: usize = 2;

/// The wired local stack.
#[derive(Clone)]
pub struct LocalStack {
    /// The store.
    pub store: Arc<SqliteStore>,
    /// The inbound queue.
    pub queue: Arc<SqliteQueue>,
    /// Blob storage.
    pub blobs: Arc<FolderBlobs>,
    /// The secrets in force.
    pub secrets: LocalSecrets,
    /// Retry policy of the inbound workers.
    pub policy: RetryPolicy,
    processor: Processor,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("queue", &self.queue)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl LocalStack {
    /// Opens the data dir (creating it), resolves secrets and wires everything.
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
        let secrets = LocalSecrets::resolve(config)?;
        let store = Arc::new(SqliteStore::open(&dir.join("store.db")).context("opening the store")?);
        let queue =
            Arc::new(SqliteQueue::open(&dir.join("queue.db"), "inbound", VISIBILITY).context("opening the queue")?);
        let blobs = Arc::new(FolderBlobs::new(dir.join("blobs")));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let processor = Processor::new(store.clone(), blobs.clone(), clock.clone());
        let policy = RetryPolicy {
            max_receives: config.max_receives,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        };
        Ok(Self {
            store,
            queue,
            blobs,
            secrets,
            policy,
            processor,
            clock,
        })
    }

    /// Every route the deployed functions serve, on one router.
    pub fn router(&self) -> Router {
        let ingestor = Ingestor::new(self.secrets.app_secret.clone(), self.queue.clone(), self.blobs.clone());
        let query = QueryState {
            store: self.store.clone(),
            clock: self.clock.clone(),
        };
        api::finish(
            api::webhook_verify_router(self.secrets.verify_token.clone())
                .merge(api::webhook_ingest_router(ingestor))
                .merge(api::query_router(query, ApiKeys::new(self.secrets.api_keys.clone()))),
        )
    }

    /// Starts the inbound workers. Each checks `stop` between batches, so a batch in progress is
    /// finished and settled before the worker exits.
    pub fn spawn_workers(&self, n: usize, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..n)
            .map(|_| {
                let (me, stop) = (self.clone(), stop.clone());
                tokio::spawn(async move {
                    while !*stop.borrow() {
                        let polled = me
                            .processor
                            .poll_once(me.queue.as_ref(), &me.policy, Duration::from_millis(500))
                            .await;
                        if let Err(e) = polled {
                            tracing::error!(error = %e, "inbound worker: queue unavailable; pausing");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                })
            })
            .collect()
    }

    /// Serves on `listener` until `stop` turns true, with the workers running.
    pub async fn serve(self, listener: tokio::net::TcpListener, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let workers = self.spawn_workers(WORKERS, stop.clone());
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
