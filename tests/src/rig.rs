//! The sending rig: a whole stack on one backend, with the Graph API sandbox as Meta and workers
//! draining both queues, so tests drive it over HTTP and count what Meta received.

#![allow(missing_debug_implementations)]

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use wabridge::app::{App, Numbers, Ports, Secrets, Settings};
use wabridge::graph::GraphClient;
use wabridge::outbound::callback_data::decode;
use wabridge::outbound::sender::SenderConfig;
use wabridge::ports::{Store, SystemClock};
use wabridge::runtime::consume::{Handler, RetryPolicy};
use wabridge_infra::sandbox::{Sandbox, SandboxConfig};
use wabridge_infra::simulate;

use crate::{API_KEY, Backend, FlakyStore, SECRET, enc, settle_one_batch};

/// The business number the rig sends from.
pub const PNI: &str = "100000000000001";
/// The WABA the rig's templates belong to.
pub const WABA: &str = "200000000000001";

/// A whole sending stack on one backend, with the sandbox as Meta and workers draining both queues.
pub struct Rig {
    /// The stack's base URL.
    pub base: String,
    /// A client for it.
    pub http: reqwest::Client,
    /// Meta, played by the sandbox.
    pub sandbox: Sandbox,
    /// The ports the stack runs on.
    pub backend: Arc<Backend>,
    /// The use cases, as the stack builds them.
    pub app: App,
    inbound_paused: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The queues the rig's workers drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    Inbound,
    Outbound,
    Media,
}

/// Sender settings that retry in milliseconds, so faults resolve within a test.
pub fn fast_config() -> SenderConfig {
    SenderConfig {
        throughput_mps: 1000.0,
        max_attempts: 8,
        retry: RetryPolicy {
            max_receives: u32::MAX,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        },
        recheck_after: Duration::from_secs(3),
        max_receives: 100,
        throughput_pause: Duration::from_millis(100),
        pair_pause: Duration::from_millis(100),
        ..SenderConfig::default()
    }
}

/// A sandbox that posts no webhooks, serving on loopback, and a Graph client of it.
pub async fn sandbox_on_loopback() -> (Sandbox, GraphClient, tokio::task::JoinHandle<()>) {
    let sandbox = Sandbox::new(SandboxConfig {
        webhook_url: None,
        app_secret: SecretString::from(SECRET),
        status_delays: [Duration::ZERO; 3],
        api_keys: vec![SecretString::from(API_KEY)],
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = sandbox.serve(listener);
    let graph = GraphClient::new(&base, "v25.0", SecretString::from(API_KEY), Duration::from_secs(5)).unwrap();
    (sandbox, graph, serving)
}

impl Rig {
    pub async fn start(backend: Backend, config: SenderConfig, store_faults: Vec<usize>) -> Self {
        let backend = Arc::new(backend);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sandbox = Sandbox::new(SandboxConfig {
            webhook_url: Some(format!("http://{addr}/webhook")),
            app_secret: SecretString::from(SECRET),
            status_delays: [Duration::from_millis(50); 3],
            api_keys: vec![SecretString::from(API_KEY)],
        });
        let sb_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sb_base = format!("http://{}", sb_listener.local_addr().unwrap());
        let mut tasks = vec![sandbox.serve(sb_listener)];
        let graph = GraphClient::new(&sb_base, "v25.0", SecretString::from(API_KEY), Duration::from_secs(1)).unwrap();
        let store: Arc<dyn Store> = if store_faults.is_empty() {
            backend.store.clone()
        } else {
            Arc::new(FlakyStore::new(backend.store.clone(), store_faults))
        };
        let settings = Settings {
            inbound_retry: RetryPolicy {
                max_receives: 5,
                base_delay: Duration::ZERO,
                max_delay: Duration::ZERO,
            },
            sender: config,
            ..Settings::for_tests()
        };
        let app = App::new(settings, Arc::new(SystemClock));
        let ports = Ports {
            store: backend.store.clone(),
            inbound: backend.queue.clone(),
            outbound: backend.outbound.clone(),
            media: backend.media.clone(),
            callbacks: backend.callbacks.clone(),
            blobs: backend.blobs.clone(),
            limiter: backend.limiter.clone(),
            media_urls: backend.media_urls.clone(),
        };
        let secrets = Secrets {
            app_secret: SecretString::from(SECRET),
            verify_token: SecretString::from("unused"),
            api_keys: vec![SecretString::from(API_KEY)],
        };
        let numbers = Numbers {
            phone_number_id: Some(PNI.into()),
            waba_id: Some(WABA.into()),
        };
        let router = app.router(&ports, &secrets, Some(graph.clone()), &numbers);
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
        let processor: Arc<dyn Handler> = Arc::new(app.full_processor(
            backend.store.clone(),
            backend.blobs.clone(),
            backend.media.clone(),
            Some(backend.outbound.clone()),
            None,
            &numbers,
        ));
        let downloader: Arc<dyn Handler> =
            Arc::new(app.downloader(store.clone(), backend.blobs.clone(), graph.clone()));
        // The sender writes through `store`, which may inject faults.
        let watch = app.lag_watch(store.clone(), backend.queue.clone());
        let sender = app.sender(store, backend.limiter.clone(), graph).watching(watch);
        let handler: Arc<dyn Handler> = Arc::new(sender.clone());
        let inbound_paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for (h, which) in [
            (processor, Drain::Inbound),
            (handler, Drain::Outbound),
            (downloader, Drain::Media),
        ] {
            let b = backend.clone();
            let paused = inbound_paused.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    if which == Drain::Inbound && paused.load(std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let q = match which {
                        Drain::Inbound => b.queue.as_ref(),
                        Drain::Outbound => b.outbound.as_ref(),
                        Drain::Media => b.media.as_ref(),
                    };
                    if settle_one_batch(b.kind, h.as_ref(), q).await == 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            sandbox,
            backend,
            app,
            inbound_paused,
            tasks,
        }
    }

    /// Stops (or restarts) the inbound processor between batches: webhooks then wait on the
    /// inbound queue, as in a processor outage.
    pub fn pause_inbound(&self, paused: bool) {
        self.inbound_paused.store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    pub async fn post(&self, path: &str, body: &Value, idempotency_key: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .json(body);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    /// The customer writes, which opens the 24-hour window.
    pub async fn customer_writes(&self, from: &str) {
        self.customer_writes_wamid(from, &simulate::new_wamid()).await;
    }

    /// The customer writes a message Meta identifies by `wamid`.
    pub async fn customer_writes_wamid(&self, from: &str, wamid: &str) {
        self.customer_writes_at(from, wamid, chrono::Utc::now().timestamp())
            .await;
    }

    /// The customer writes a message Meta identifies by `wamid` and stamps `ts` (Unix seconds).
    pub async fn customer_writes_at(&self, from: &str, wamid: &str, ts: i64) {
        let body = simulate::inbound(PNI, from, "Customer", wamid, ts, "text", json!({"body": "hello"}));
        let raw = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            simulate::post(&self.http, &self.base, &SecretString::from(SECRET), &raw)
                .await
                .unwrap(),
            200
        );
        self.wait(wamid, |m| m["status"] == "received", 10).await;
    }

    /// The customer sends media the sandbox holds (a `msg_type` of image, audio, document, …,
    /// with `content` as Meta's webhook has it), in a webhook posted `times` times.
    pub async fn customer_sends(&self, from: &str, wamid: &str, msg_type: &str, content: Value, times: usize) {
        let ts = chrono::Utc::now().timestamp();
        let body = simulate::inbound(PNI, from, "Customer", wamid, ts, msg_type, content);
        let raw = serde_json::to_vec(&body).unwrap();
        for _ in 0..times {
            assert_eq!(
                simulate::post(&self.http, &self.base, &SecretString::from(SECRET), &raw)
                    .await
                    .unwrap(),
                200
            );
        }
    }

    /// Waits until `GET /v1/media/{id}` matches `pred`.
    pub async fn wait_media(&self, id: &str, pred: impl Fn(&Value) -> bool, secs: u64) -> Value {
        self.wait_for(&format!("/v1/media/{}", enc(id)), pred, secs).await
    }

    /// Waits until `GET /v1/messages/{id}` matches `pred`.
    pub async fn wait(&self, id: &str, pred: impl Fn(&Value) -> bool, secs: u64) -> Value {
        self.wait_for(&format!("/v1/messages/{}", enc(id)), pred, secs).await
    }

    /// Posts `body` to `/webhook`, signed as Meta signs, and expects it taken.
    pub async fn post_webhook(&self, body: &Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let code = simulate::post(&self.http, &self.base, &SecretString::from(SECRET), &raw)
            .await
            .unwrap();
        assert_eq!(code, 200);
    }

    /// `method path` with the API key and a body of `content_type`.
    pub async fn request(&self, method: http::Method, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    /// `PATCH path` with a JSON body and the API key.
    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request(
            http::Method::PATCH,
            path,
            "application/json",
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    /// `DELETE path` with the API key.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let res = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    /// Polls `path` until it answers 200 with a body matching `pred`, for at most `secs`.
    pub async fn wait_for(&self, path: &str, pred: impl Fn(&Value) -> bool, secs: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut last = Value::Null;
        while tokio::time::Instant::now() < deadline {
            let (code, m) = self.get(path).await;
            if code == 200 && pred(&m) {
                return m;
            }
            last = m;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path} never matched; last seen {last}");
    }

    /// Sends a request `lambda_http` decoded from an API Gateway event, as the function would see it.
    pub async fn replay(&self, req: http::Request<Vec<u8>>) -> (u16, Value) {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let res = self
            .http
            .request(parts.method, format!("{}{path}", self.base))
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    pub fn sent_to(&self, id: &str) -> usize {
        self.sandbox
            .accepted()
            .iter()
            .filter(|r| {
                let data = r["biz_opaque_callback_data"].as_str().unwrap_or_default();
                decode(data).0.is_some_and(|ours| ours.to_string() == id)
            })
            .count()
    }
}
