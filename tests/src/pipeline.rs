//! The inbound pipeline wired the way each deployment wires it, and settling queue batches the way
//! each deployment does (the local worker's loop, the Lambda event source's batch response).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Numbers, Settings};
use wabridge::callbacks::Events;
use wabridge::inbound::process::Processor;
use wabridge::inbound::webhook::sign;
use wabridge::ports::{Clock, Delivery, Queue, Store, SystemClock};
use wabridge::runtime::consume::{self, RetryPolicy};

use crate::{API_KEY, Backend, Kind, SECRET, VERIFY_TOKEN};

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

/// The WABA of the deployed pipelines: template replies are checked against the templates copy.
pub const WABA: &str = "200000000000001";

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

    /// Wires a pipeline with `settings` instead of the tests' own.
    pub fn with_settings(backend: Backend, settings: Settings) -> Self {
        Self::wire(backend.store.clone(), backend, settings, |app| app)
    }

    /// Wires the processor as deployed by default (every built-in reaction: media, templates,
    /// analytics, opt-out, automation; no callbacks) with `settings`.
    pub fn deployed(backend: Backend, settings: Settings) -> Self {
        Self::deployed_on(backend, settings, Arc::new(SystemClock), false)
    }

    /// [`Pipeline::deployed`] raising callbacks onto the backend's callbacks queue, as with
    /// `WABRIDGE_CALLBACK_URL` set.
    pub fn deployed_with_callbacks(backend: Backend, settings: Settings) -> Self {
        Self::deployed_on(backend, settings, Arc::new(SystemClock), true)
    }

    /// [`Pipeline::deployed`] on `clock` (a [`crate::ManualClock`] in tests that move time), with
    /// callbacks when `callbacks`.
    pub fn deployed_on(backend: Backend, settings: Settings, clock: Arc<dyn Clock>, callbacks: bool) -> Self {
        let mut p = Self::wire_on(backend.store.clone(), backend, settings, clock.clone(), |app| app);
        let app = App::new(settings, clock);
        let b = &p.backend;
        p.processor = app.full_processor(
            b.store.clone(),
            b.blobs.clone(),
            b.media.clone(),
            Some(b.outbound.clone()),
            callbacks.then(|| Events::new(b.callbacks.clone())),
            &Numbers {
                phone_number_id: None,
                waba_id: Some(WABA.into()),
            },
        );
        p
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
        Self::wire(store, backend, settings, register)
    }

    fn wire(store: Arc<dyn Store>, backend: Backend, settings: Settings, register: impl FnOnce(App) -> App) -> Self {
        Self::wire_on(store, backend, settings, Arc::new(SystemClock), register)
    }

    fn wire_on(
        store: Arc<dyn Store>,
        backend: Backend,
        settings: Settings,
        clock: Arc<dyn Clock>,
        register: impl FnOnce(App) -> App,
    ) -> Self {
        let app = register(App::new(settings, clock));
        let ingestor = app.ingestor(SecretString::from(SECRET), backend.queue.clone(), backend.blobs.clone());
        let router = api::finish(
            api::webhook_verify_router(SecretString::from(VERIFY_TOKEN))
                .merge(api::webhook_ingest_router(ingestor))
                .merge(api::query_router(
                    app.query_state(backend.store.clone(), backend.store.clone(), backend.blobs.clone()),
                    ApiKeys::new(vec![SecretString::from(API_KEY)]),
                ))
                .merge(api::contacts_router(
                    app.contacts(backend.store.clone()),
                    ApiKeys::new(vec![SecretString::from(API_KEY)]),
                ))
                .merge(api::rules_router(
                    backend.store.clone(),
                    ApiKeys::new(vec![SecretString::from(API_KEY)]),
                ))
                .merge(api::flows_router(
                    app.flows_state(backend.store.clone()),
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

    /// `method path` with the API key and `body` as JSON.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("content-type", "application/json");
        let body = body.map_or_else(Body::empty, |b| Body::from(serde_json::to_vec(b).unwrap_or_default()));
        self.request(req.body(body).unwrap()).await
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
