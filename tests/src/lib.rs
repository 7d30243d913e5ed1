//! Test harness: the same ports on both backends (embedded, and AWS on moto server), and the whole
//! inbound pipeline wired the way each deployment wires it.
//!
//! The AWS backend needs moto: `./scripts/test` starts it and sets `AWS_ENDPOINT_URL` and
//! `WABRIDGE_TEST_AWS=1`. Without them the AWS tests fail with a message saying so, rather than
//! passing without having run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

use wabridge::adapters::aws::{self as awsa, DynamoRateLimiter, DynamoStore, S3Blobs, SqsQueue, TableNames};
use wabridge::adapters::embedded::{FolderBlobs, MemoryRateLimiter, SqliteQueue, SqliteStore};
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Settings};
use wabridge::domain::{
    Contact, Conversation, CustomerKey, IdempotencyClaim, MessageId, MessageRef, RawEvent, Recorded, SendChange,
    SendProgress, StatusUpdate, StoredMessage,
};
use wabridge::inbound::process::{Processor, RetryPolicy};
use wabridge::inbound::webhook::sign;
use wabridge::ports::{
    Blobs, Clock, Delivery, Idempotency, Inbox, Outbox, PortError, Queue, RateLimiter, ReadModel, Store, SystemClock,
};
use wabridge::read::{MessageView, Page, PageRequest};
use wabridge::runtime::consume;

pub use secrecy;

/// App secret the test pipelines sign with.
pub const SECRET: &str = "test-app-secret";
/// Verify token of the test pipelines.
pub const VERIFY_TOKEN: &str = "test-verify-token";
/// API key of the test pipelines.
pub const API_KEY: &str = "test-api-key";
/// Visibility timeout of test queues: short, so redelivery after a "crash" is quick.
pub const VISIBILITY: Duration = Duration::from_secs(1);

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite, SQLite queue, local folder.
    Embedded,
    /// DynamoDB, SQS, S3 on moto.
    Aws,
}

/// One backend's ports, fresh for each test.
pub struct Backend {
    /// Which one.
    pub kind: Kind,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The inbound queue.
    pub queue: Arc<dyn Queue>,
    /// Blob storage.
    pub blobs: Arc<dyn Blobs>,
    /// The outbound queue.
    pub outbound: Arc<dyn Queue>,
    /// Shared rate-limit buckets.
    pub limiter: Arc<dyn RateLimiter>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({:?})", self.kind)
    }
}

impl Backend {
    /// Fresh embedded ports in a temporary folder.
    pub async fn embedded() -> Self {
        Self::embedded_at(Arc::new(SystemClock)).await
    }

    /// Fresh embedded ports whose store and queues read time from `clock`.
    pub async fn embedded_at(clock: Arc<dyn Clock>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db"))
            .unwrap()
            .with_clock(clock.clone());
        let queue = SqliteQueue::open(&dir.path().join("queue.db"), "inbound", VISIBILITY)
            .unwrap()
            .with_clock(clock.clone());
        let blobs = FolderBlobs::new(dir.path().join("blobs"));
        let outbound = SqliteQueue::open(&dir.path().join("queue.db"), "outbound", VISIBILITY)
            .unwrap()
            .with_clock(clock);
        Self {
            kind: Kind::Embedded,
            store: Arc::new(store),
            queue: Arc::new(queue),
            blobs: Arc::new(blobs),
            outbound: Arc::new(outbound),
            limiter: Arc::new(MemoryRateLimiter::default()),
            _dir: Some(dir),
        }
    }

    /// Fresh AWS ports on moto: new tables, queue, DLQ and bucket under a unique prefix.
    pub async fn aws() -> Self {
        Self::aws_at(Arc::new(SystemClock)).await
    }

    /// Fresh AWS ports whose store reads time from `clock`.
    pub async fn aws_at(clock: Arc<dyn Clock>) -> Self {
        assert!(
            std::env::var_os("WABRIDGE_TEST_AWS").is_some() && std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "the AWS adapter tests need moto server: run ./scripts/test, which starts it and sets AWS_ENDPOINT_URL"
        );
        let sdk = awsa::load_config().await;
        let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let tables = TableNames::prefixed(&prefix);
        let dynamo = awsa::dynamo_client(&sdk);
        awsa::schema::create_tables(&dynamo, &tables).await.unwrap();
        let sqs = awsa::sqs_client(&sdk);
        let visibility = VISIBILITY.as_secs().to_string();
        let dlq = sqs
            .create_queue()
            .queue_name(format!("{prefix}-dlq"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let url = sqs
            .create_queue()
            .queue_name(format!("{prefix}-inbound"))
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                visibility.clone(),
            )
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_pair = |name: &'static str| {
            let (sqs, prefix, visibility) = (sqs.clone(), prefix.clone(), visibility.clone());
            async move {
                let dlq = sqs
                    .create_queue()
                    .queue_name(format!("{prefix}-{name}-dlq"))
                    .send()
                    .await
                    .unwrap();
                let url = sqs
                    .create_queue()
                    .queue_name(format!("{prefix}-{name}"))
                    .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, visibility)
                    .send()
                    .await
                    .unwrap();
                SqsQueue::new(sqs, url.queue_url.unwrap()).with_dead_letter_queue(dlq.queue_url.unwrap())
            }
        };
        let outbound = queue_pair("outbound").await;
        let s3 = awsa::s3_client(&sdk);
        s3.create_bucket().bucket(&prefix).send().await.unwrap();
        let limiter = DynamoRateLimiter::new(dynamo.clone(), tables.rate_limits.clone().unwrap());
        Self {
            kind: Kind::Aws,
            store: Arc::new(DynamoStore::new(dynamo, tables).with_clock(clock)),
            queue: Arc::new(SqsQueue::new(sqs, url).with_dead_letter_queue(dlq)),
            blobs: Arc::new(S3Blobs::new(s3, prefix)),
            outbound: Arc::new(outbound),
            limiter: Arc::new(limiter),
            _dir: None,
        }
    }

    /// The backend of `kind`.
    pub async fn of(kind: Kind) -> Self {
        Self::at(kind, Arc::new(SystemClock)).await
    }

    /// The backend of `kind`, its adapters reading time from `clock` (a [`ManualClock`] in tests
    /// that move time).
    pub async fn at(kind: Kind, clock: Arc<dyn Clock>) -> Self {
        match kind {
            Kind::Embedded => Self::embedded_at(clock).await,
            Kind::Aws => Self::aws_at(clock).await,
        }
    }
}

/// Generates `embedded::name` and `aws::name` tests calling `name(Backend)` for each listed test.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::of($crate::Kind::Embedded).await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::of($crate::Kind::Aws).await).await
                }
            )*
        }
    };
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The inbound pipeline on one backend: the deployed routers, the queue and the processor, with the
/// queue drained the way the deployment drains it (the local worker's loop for embedded, the Lambda
/// event source's batch settlement for AWS).
pub struct Pipeline {
    /// The backend.
    pub backend: Backend,
    /// Every HTTP route.
    pub router: Router,
    /// The processor.
    pub processor: Processor,
    /// Retry policy used when draining.
    pub policy: RetryPolicy,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pipeline({:?})", self.backend.kind)
    }
}

impl Pipeline {
    /// Wires a pipeline with no back-off between retries.
    pub fn new(backend: Backend) -> Self {
        Self::build(
            backend.store.clone(),
            backend,
            wabridge::inbound::ingest::DEFAULT_MAX_QUEUE_BYTES,
        )
    }

    /// Wires a pipeline whose processor writes through `store` (e.g. a fault-injecting wrapper).
    pub fn with_store(store: Arc<dyn Store>, backend: Backend) -> Self {
        Self::build(store, backend, wabridge::inbound::ingest::DEFAULT_MAX_QUEUE_BYTES)
    }

    /// Wires a pipeline whose ingestion sends bodies over `max_queue_bytes` through blob storage.
    pub fn with_queue_limit(backend: Backend, max_queue_bytes: usize) -> Self {
        Self::build(backend.store.clone(), backend, max_queue_bytes)
    }

    fn build(store: Arc<dyn Store>, backend: Backend, max_queue_bytes: usize) -> Self {
        Self::build_with(store, backend, max_queue_bytes, |app| app)
    }

    /// Wires a pipeline whose processor also runs the reactions `register` adds to the app.
    pub fn with_reactions(backend: Backend, register: impl FnOnce(App) -> App) -> Self {
        Self::build_with(
            backend.store.clone(),
            backend,
            wabridge::inbound::ingest::DEFAULT_MAX_QUEUE_BYTES,
            register,
        )
    }

    fn build_with(
        store: Arc<dyn Store>,
        backend: Backend,
        max_queue_bytes: usize,
        register: impl FnOnce(App) -> App,
    ) -> Self {
        let settings = Settings {
            max_queue_bytes,
            ..Settings::for_tests()
        };
        let app = register(App::new(settings, Arc::new(SystemClock)));
        let ingestor = app.ingestor(SecretString::from(SECRET), backend.queue.clone(), backend.blobs.clone());
        let router = api::finish(
            api::webhook_verify_router(SecretString::from(VERIFY_TOKEN))
                .merge(api::webhook_ingest_router(ingestor))
                .merge(api::query_router(
                    app.query_state(backend.store.clone()),
                    ApiKeys::new(vec![SecretString::from(API_KEY)]),
                )),
        );
        let processor = app.processor(store.clone(), store, backend.blobs.clone());
        Self {
            backend,
            router,
            processor,
            policy: app.settings.inbound_retry,
        }
    }

    /// Sends one request through the router.
    pub async fn request(&self, req: http::Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// `POST /webhook` with `signature` (or none).
    pub async fn post_raw(&self, body: &[u8], signature: Option<&str>) -> Reply {
        let mut req = http::Request::post("/webhook").header("content-type", "application/json");
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        self.request(req.body(Body::from(body.to_vec())).unwrap()).await
    }

    /// `POST /webhook`, signed as Meta signs.
    pub async fn post_webhook(&self, body: &[u8]) -> Reply {
        self.post_raw(body, Some(&sign(&SecretString::from(SECRET), body)))
            .await
    }

    /// `GET path` with the API key.
    pub async fn get(&self, path: &str) -> Reply {
        let req = http::Request::get(path).header("authorization", format!("Bearer {API_KEY}"));
        self.request(req.body(Body::empty()).unwrap()).await
    }

    /// Receives one batch and settles it as the deployment would. Returns how many it received.
    pub async fn settle_one_batch(&self) -> usize {
        settle_one_batch(self.backend.kind, &self.processor, self.backend.queue.as_ref()).await
    }

    /// Settles batches until the queue stays empty for `quiet` (longer than the visibility timeout
    /// when retries are expected).
    pub async fn drain(&self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut idle_since = tokio::time::Instant::now();
        loop {
            let n = self.settle_one_batch().await;
            let now = tokio::time::Instant::now();
            if n > 0 {
                idle_since = now;
            } else if now - idle_since >= quiet {
                return;
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(now < deadline, "queue did not drain within 60 s");
        }
    }

    /// Takes one batch without settling it: a consumer that crashes mid-batch.
    pub async fn receive_and_crash(&self) -> Vec<Delivery> {
        self.backend.queue.receive(10, Duration::from_secs(1)).await.unwrap()
    }
}

/// Receives one batch from `queue` and settles it the way `kind` deploys: the local worker's loop
/// for embedded, the Lambda event source's batch response for AWS. Returns how many it received.
pub async fn settle_one_batch(kind: Kind, handler: &dyn consume::Handler, queue: &dyn Queue) -> usize {
    match kind {
        Kind::Embedded => consume::poll_once(handler, queue, Duration::ZERO).await.unwrap(),
        Kind::Aws => {
            let batch = queue.receive(10, Duration::ZERO).await.unwrap();
            let failed = consume::settle_lambda_batch(handler, queue, &batch).await;
            // What the Lambda event source does with the records not reported as failures.
            for d in batch.iter().filter(|d| !failed.contains(&d.id)) {
                let _ = queue.ack(&d.receipt).await;
            }
            batch.len()
        }
    }
}

/// Reads a fixture from `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// Percent-encodes a path segment (wamids carry '=', '/' and '+').
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A store whose writes fail at chosen call numbers, as DynamoDB throttling or a locked file would.
#[allow(missing_debug_implementations)]
pub struct FlakyStore {
    inner: Arc<dyn Store>,
    /// Writes attempted so far.
    pub calls: std::sync::atomic::AtomicUsize,
    fail_at: Vec<usize>,
}

impl FlakyStore {
    /// Fails the writes numbered in `fail_at` (1-based), passes everything else to `inner`.
    pub fn new(inner: Arc<dyn Store>, fail_at: Vec<usize>) -> Self {
        Self {
            inner,
            calls: std::sync::atomic::AtomicUsize::new(0),
            fail_at,
        }
    }

    fn tick(&self) -> Result<(), PortError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if self.fail_at.contains(&n) {
            return Err(PortError::unavailable("injected", std::io::Error::other("throttled")));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Inbox for FlakyStore {
    async fn record_inbound(&self, m: &StoredMessage) -> Result<Recorded, PortError> {
        self.tick()?;
        self.inner.record_inbound(m).await
    }
    async fn apply_status(&self, s: &StatusUpdate) -> Result<(), PortError> {
        self.tick()?;
        self.inner.apply_status(s).await
    }
    async fn record_event(&self, e: &RawEvent) -> Result<Recorded, PortError> {
        self.tick()?;
        self.inner.record_event(e).await
    }
    async fn events(&self, f: &str, l: u32) -> Result<Vec<RawEvent>, PortError> {
        self.inner.events(f, l).await
    }
}

#[async_trait::async_trait]
impl Outbox for FlakyStore {
    async fn record_outbound(&self, m: &StoredMessage) -> Result<Recorded, PortError> {
        self.tick()?;
        self.inner.record_outbound(m).await
    }
    async fn outbound(&self, id: MessageId) -> Result<Option<(StoredMessage, SendProgress)>, PortError> {
        self.inner.outbound(id).await
    }
    async fn update_outbound(&self, id: MessageId, c: &SendChange) -> Result<Option<SendProgress>, PortError> {
        self.tick()?;
        self.inner.update_outbound(id, c).await
    }
    async fn close_window(&self, c: &CustomerKey, at: i64) -> Result<(), PortError> {
        self.tick()?;
        self.inner.close_window(c, at).await
    }
}

#[async_trait::async_trait]
impl Idempotency for FlakyStore {
    async fn claim_idempotency(&self, k: &str, f: &str, e: i64) -> Result<IdempotencyClaim, PortError> {
        self.tick()?;
        self.inner.claim_idempotency(k, f, e).await
    }
    async fn finish_idempotency(&self, k: &str, s: u16, b: &Value) -> Result<(), PortError> {
        self.tick()?;
        self.inner.finish_idempotency(k, s, b).await
    }
    async fn release_idempotency(&self, k: &str) -> Result<(), PortError> {
        self.inner.release_idempotency(k).await
    }
}

#[async_trait::async_trait]
impl ReadModel for FlakyStore {
    async fn message(&self, r: &MessageRef) -> Result<Option<MessageView>, PortError> {
        self.inner.message(r).await
    }
    async fn conversation_messages(&self, c: &CustomerKey, p: &PageRequest) -> Result<Page<MessageView>, PortError> {
        self.inner.conversation_messages(c, p).await
    }
    async fn conversations(&self, p: &PageRequest, now: i64) -> Result<Page<Conversation>, PortError> {
        self.inner.conversations(p, now).await
    }
    async fn conversation(&self, c: &CustomerKey, now: i64) -> Result<Option<Conversation>, PortError> {
        self.inner.conversation(c, now).await
    }
    async fn contacts(&self, p: &PageRequest) -> Result<Page<Contact>, PortError> {
        self.inner.contacts(p).await
    }
    async fn contact(&self, c: &CustomerKey) -> Result<Option<Contact>, PortError> {
        self.inner.contact(c).await
    }
    async fn ping(&self) -> Result<(), PortError> {
        self.inner.ping().await
    }
}

/// A clock a test moves by hand, so "the window closes", "a reminder is due in 24 h" and "an
/// idempotency key expires" are tested without sleeping.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock standing at `ms` (Unix milliseconds).
    pub fn at(ms: i64) -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicI64::new(ms)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A queue whose first `fail_sends` sends fail, as SQS does in an outage.
#[allow(missing_debug_implementations)]
pub struct FlakyQueue {
    inner: Arc<dyn Queue>,
    fail_sends: std::sync::atomic::AtomicUsize,
}

impl FlakyQueue {
    /// Fails the next `n` sends, then passes everything to `inner`.
    pub fn new(inner: Arc<dyn Queue>, n: usize) -> Self {
        Self {
            inner,
            fail_sends: std::sync::atomic::AtomicUsize::new(n),
        }
    }
}

#[async_trait::async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, body: &str) -> Result<(), PortError> {
        let left = self.fail_sends.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.fail_sends.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(PortError::unavailable("injected", std::io::Error::other("queue down")));
        }
        self.inner.send(body).await
    }
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        self.inner.receive(max, wait).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.inner.ack(receipt).await
    }
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        self.inner.retry_later(receipt, delay).await
    }
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), PortError> {
        self.inner.dead_letter(delivery, reason).await
    }
    async fn dead_letters(&self, max: u32) -> Result<Vec<wabridge::ports::DeadLetter>, PortError> {
        self.inner.dead_letters(max).await
    }
}
