//! The Graph API sandbox: a real HTTP server that plays Meta for sends. It answers
//! `POST /{version}/{phone_number_id}/messages` the way Meta does (a `wamid`, or Meta's error body),
//! checks templates the way Meta does, and then posts signed status webhooks (sent → delivered →
//! read) to the stack's `/webhook`. Recipients can be set to fail with a code, fault knobs inject
//! 429s, 5xx, timeouts and throughput errors, and every request is recorded for tests to assert on.
//!
//! It is a development tool that may sit behind a tunnel, so nothing in it answers without the
//! stack's API key: the Graph routes take it as Meta's access token (and no other bearer), the
//! `/_sandbox` control routes as `Authorization: Bearer <key>` like `/v1`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use secrecy::SecretString;
use serde_json::{Value, json};
use wabridge::api::ApiKeys;
use wabridge::api::auth::{bearer, require_key};

use crate::simulate;

mod media;
mod templates;
pub use media::{MediaFault, sha256_base64, sha256_hex};
pub use templates::DEFAULT_REVIEW;

/// One injected fault, consumed by the next send request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 429 with Meta's throttling error (code 4).
    TooManyRequests,
    /// HTTP 503 with Meta's error body (131016, service unavailable): Meta refused it, retry.
    ServerError,
    /// Meta's error body with this code (130429 throughput, 131056 pair rate, …), HTTP 400.
    Code(i64),
    /// Hold the request this long without recording it, then fail: the request never arrived.
    TimeoutBeforeAccept(Duration),
    /// Accept it (record it, post its statuses), but answer only after this long: the sender sees a
    /// timeout although Meta has the message.
    TimeoutAfterAccept(Duration),
    /// Accept it and answer normally, after this long: a slow but successful call.
    Slow(Duration),
    /// Accept it (record it, post its statuses), then answer 502 with no Graph body: a gateway in
    /// front of Meta failing after Meta had the message.
    BadGatewayAfterAccept,
}

/// An approved template the sandbox knows, with how many body parameters it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `APPROVED`, `PENDING`, `REJECTED`, …
    pub status: String,
    /// `{{n}}` placeholders in the body.
    pub body_params: usize,
}

/// Where and how the sandbox posts status webhooks.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The stack's webhook URL; `None` posts no statuses.
    pub webhook_url: Option<String>,
    /// The app secret the webhooks are signed with.
    pub app_secret: SecretString,
    /// Delays before `sent`, then `delivered`, then `read`.
    pub status_delays: [Duration; 3],
    /// The keys that open the sandbox: the stack's API keys. The Graph routes accept them as the
    /// access token; with none, nothing is accepted.
    pub api_keys: Vec<SecretString>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<Value>,
    accepted_at: Vec<std::time::Instant>,
    reads: Vec<Value>,
    faults: VecDeque<Fault>,
    failing_recipients: HashMap<String, i64>,
    /// Numbers WhatsApp keys by another form (Brazil's ninth digit, Mexico's `521`/`52`).
    known_as: HashMap<String, String>,
    templates: HashMap<(String, String), templates::Held>,
    /// How long template review takes ([`DEFAULT_REVIEW`] unless set).
    review: Option<Duration>,
    /// While set, reviews that are due wait (see [`Sandbox::hold_template_reviews`]).
    holding_reviews: bool,
    /// While set, status webhooks wait in `held` (Meta's webhooks delayed by an incident).
    holding: bool,
    held: Vec<Statuses>,
    media: media::MediaState,
}

/// The status webhooks (sent, delivered, read) one accepted message is owed.
#[derive(Debug)]
struct Statuses {
    pni: String,
    to: String,
    wamid: String,
    callback: Option<String>,
}

/// The sandbox; cheap to clone, all clones share state.
#[derive(Debug, Clone)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
    config: Arc<SandboxConfig>,
    keys: ApiKeys,
    http: reqwest::Client,
}

/// Meta's error body.
fn meta_error(status: StatusCode, code: i64, message: &str, details: &str) -> Response {
    let body = json!({"error": {"message": format!("(#{code}) {message}"), "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details}, "fbtrace_id": "SANDBOX"}});
    (status, axum::Json(body)).into_response()
}

/// Meta's answer to a wrong or missing access token: 401 with code 190.
fn unauthorized() -> Response {
    meta_error(
        StatusCode::UNAUTHORIZED,
        190,
        title_of(190),
        "the access token is not one of the stack's API keys",
    )
}

/// Meta's title for a code the sandbox answers with, from the shared catalogue.
fn title_of(code: i64) -> &'static str {
    wabridge::graph::errors::title(code)
}

impl Sandbox {
    /// A sandbox with Meta's default `hello_world` template (en_US, approved, no parameters).
    pub fn new(config: SandboxConfig) -> Self {
        let mut inner = Inner::default();
        inner.templates.insert(
            ("hello_world".into(), "en_US".into()),
            templates::Held::simple("hello_world", "en_US", "APPROVED", 0),
        );
        Self {
            inner: Arc::new(Mutex::new(inner)),
            keys: ApiKeys::new(config.api_keys.clone()),
            config: Arc::new(config),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Whether a request carries one of the stack's API keys as its access token.
    fn has_token(&self, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|t| self.keys.accepts(t))
    }

    /// The JSON body of a Graph call, or Meta's answer when the token is wrong (401, code 190) or
    /// the body is not JSON (400, code 100).
    fn authorized_json(&self, headers: &HeaderMap, raw: &[u8]) -> Result<Value, Box<Response>> {
        if !self.has_token(headers) {
            return Err(Box::new(unauthorized()));
        }
        serde_json::from_slice(raw).map_err(|_| {
            Box::new(meta_error(
                StatusCode::BAD_REQUEST,
                100,
                "Invalid parameter",
                "the body is not JSON",
            ))
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// Queues faults for the next send requests, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.with(|i| i.faults.extend(faults));
    }

    /// Makes every send to `wa_id` fail with Meta's `code`.
    pub fn fail_recipient(&self, wa_id: &str, code: i64) {
        self.with(|i| i.failing_recipients.insert(wa_id.to_owned(), code));
    }

    /// Makes WhatsApp know `number` as `wa_id`, as it does for Brazilian numbers registered
    /// before the ninth digit and Mexican ones with and without `1`: a send to `number` is
    /// answered with `contacts[0].wa_id` = `wa_id`, and its statuses name `wa_id` as recipient.
    pub fn known_as(&self, number: &str, wa_id: &str) {
        self.with(|i| i.known_as.insert(number.to_owned(), wa_id.to_owned()));
    }

    /// Holds back the status webhooks of messages accepted from now on, as during an incident at
    /// Meta or on the way to us, until [`Sandbox::release_statuses`].
    pub fn hold_statuses(&self) {
        self.with(|i| i.holding = true);
    }

    /// Posts every held status webhook and stops holding.
    pub fn release_statuses(&self) {
        let held = self.with(|i| {
            i.holding = false;
            std::mem::take(&mut i.held)
        });
        for statuses in held {
            self.post_statuses(statuses);
        }
    }

    /// Adds or replaces a template (its body takes `body_params` positional parameters).
    pub fn add_template(&self, name: &str, language: &str, template: Template) {
        let held = templates::Held::simple(name, language, &template.status, template.body_params);
        self.with(|i| i.templates.insert((name.to_owned(), language.to_owned()), held));
    }

    /// Every message request accepted so far (read receipts excluded), as received.
    pub fn accepted(&self) -> Vec<Value> {
        self.with(|i| i.requests.clone())
    }

    /// When each accepted request arrived, in order.
    pub fn accepted_at(&self) -> Vec<std::time::Instant> {
        self.with(|i| i.accepted_at.clone())
    }

    /// Every read receipt (`status: read`) received, as received.
    pub fn reads(&self) -> Vec<Value> {
        self.with(|i| i.reads.clone())
    }

    /// The routes, for nesting or serving on their own.
    pub fn router(&self) -> Router {
        let control = Router::new()
            .route("/_sandbox/requests", get(requests))
            .route("/_sandbox/faults", post(faults))
            .route("/_sandbox/recipients/{wa_id}", post(recipient))
            .route_layer(middleware::from_fn_with_state(self.keys.clone(), require_key));
        Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .route(
                "/{version}/{phone_number_id}/message_templates",
                post(templates::create).get(templates::list).delete(templates::delete),
            )
            .route("/{version}/{media_id}", get(media::media_url))
            // Meta takes uploads up to WhatsApp's largest media, a 100 MB document.
            .route(
                "/{version}/{phone_number_id}/media",
                post(media::upload).layer(axum::extract::DefaultBodyLimit::max(101 * 1024 * 1024)),
            )
            .route("/_media/{media_id}", get(media::media_bytes))
            .merge(control)
            .with_state(self.clone())
    }

    /// Serves the sandbox on `listener` until the task is dropped.
    pub fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let app = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
    }

    /// Posts sent → delivered → read for a message, signed like Meta's.
    fn post_statuses(&self, statuses: Statuses) {
        let Some(url) = self.config.webhook_url.clone() else {
            return;
        };
        let posting = self.with(|i| {
            if i.holding {
                i.held.push(statuses);
                None
            } else {
                Some(statuses)
            }
        });
        let Some(Statuses {
            pni,
            to,
            wamid,
            callback,
        }) = posting
        else {
            return;
        };
        let base = url.trim_end_matches("/webhook").to_owned();
        let (me, delays) = (self.clone(), self.config.status_delays);
        tokio::spawn(async move {
            for (status, delay) in ["sent", "delivered", "read"].into_iter().zip(delays) {
                tokio::time::sleep(delay).await;
                let mut body = simulate::status(&pni, &to, &wamid, status, chrono::Utc::now().timestamp());
                if let Some(cb) = &callback {
                    body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = json!(cb);
                }
                let raw = serde_json::to_vec(&body).unwrap_or_default();
                for _ in 0..5 {
                    match simulate::post(&me.http, &base, &me.config.app_secret, &raw).await {
                        Ok(200) => break,
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        });
    }
}

async fn requests(State(sb): State<Sandbox>) -> Response {
    axum::Json(json!({"data": sb.accepted()})).into_response()
}

/// `POST /_sandbox/faults` `{"faults": ["429", "5xx", "502_after_accept", "timeout", "timeout_after_accept", 130429, ...]}`:
/// the next sends fail that way, in order (for demos; tests call [`Sandbox::inject`]).
async fn faults(State(sb): State<Sandbox>, raw: Bytes) -> Response {
    let parsed: Option<Vec<Fault>> = serde_json::from_slice::<Value>(&raw).ok().and_then(|v| {
        v.get("faults")?
            .as_array()?
            .iter()
            .map(|f| match f {
                Value::Number(n) => n.as_i64().map(Fault::Code),
                Value::String(s) => match s.as_str() {
                    "429" => Some(Fault::TooManyRequests),
                    "5xx" => Some(Fault::ServerError),
                    "502_after_accept" => Some(Fault::BadGatewayAfterAccept),
                    "timeout" => Some(Fault::TimeoutBeforeAccept(Duration::from_secs(15))),
                    "timeout_after_accept" => Some(Fault::TimeoutAfterAccept(Duration::from_secs(15))),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    });
    match parsed {
        Some(f) => {
            let n = f.len();
            sb.inject(f);
            axum::Json(json!({"queued_faults": n})).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": "invalid_request", "message":
                "give {\"faults\": [...]} with \"429\", \"5xx\", \"timeout\", \"timeout_after_accept\" or Meta error codes",
                "details": null}})),
        )
            .into_response(),
    }
}

/// `POST /_sandbox/recipients/{number}` with `{"fail_with": 131026}`: every send to that number
/// fails; with `{"known_as": "551187654321"}`: WhatsApp resolves that number to another form.
async fn recipient(State(sb): State<Sandbox>, Path(number): Path<String>, raw: Bytes) -> Response {
    let body = serde_json::from_slice::<Value>(&raw).unwrap_or_default();
    if let Some(code) = body.get("fail_with").and_then(Value::as_i64) {
        sb.fail_recipient(&number, code);
        return axum::Json(json!({"wa_id": number, "fail_with": code})).into_response();
    }
    if let Some(wa_id) = body.get("known_as").and_then(Value::as_str) {
        sb.known_as(&number, wa_id);
        return axum::Json(json!({"wa_id": number, "known_as": wa_id})).into_response();
    }
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": {"code": "invalid_request",
            "message": "give {\"fail_with\": <Meta error code>} or {\"known_as\": <wa_id>}", "details": null}})),
    )
        .into_response()
}

/// Counts `{{n}}` placeholders Meta would find in a body: here, the parameters a template takes.
fn body_param_count(body: &Value) -> usize {
    body.pointer("/template/components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("body"))
        .map(|c| c.get("parameters").and_then(Value::as_array).map_or(0, Vec::len))
        .sum()
}

async fn messages(
    State(sb): State<Sandbox>,
    Path((_version, pni)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = match sb.authorized_json(&headers, &raw) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "messaging_product must be whatsapp",
        );
    }
    if body.get("status").and_then(Value::as_str) == Some("read") {
        sb.with(|i| i.reads.push(body.clone()));
        return axum::Json(json!({"success": true})).into_response();
    }
    let to = body
        .get("to")
        .or_else(|| body.get("recipient"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let msg_type = body.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    if to.is_empty() || msg_type.is_empty() || body.get(&msg_type).is_none() {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "to, type and the type's object are required",
        );
    }
    let fault = sb.with(|i| i.faults.pop_front());
    match &fault {
        Some(Fault::TooManyRequests) => {
            return meta_error(StatusCode::TOO_MANY_REQUESTS, 4, title_of(4), "too many calls");
        }
        Some(Fault::ServerError) => {
            return meta_error(StatusCode::SERVICE_UNAVAILABLE, 131016, title_of(131016), "injected");
        }
        Some(Fault::Code(code)) => return meta_error(StatusCode::BAD_REQUEST, *code, title_of(*code), "injected"),
        Some(Fault::TimeoutBeforeAccept(d)) => {
            tokio::time::sleep(*d).await;
            return (StatusCode::GATEWAY_TIMEOUT, "timed out").into_response();
        }
        _ => {}
    }
    if let Some(code) = sb.with(|i| i.failing_recipients.get(&to).copied()) {
        return meta_error(
            StatusCode::BAD_REQUEST,
            code,
            title_of(code),
            "configured to fail for this recipient",
        );
    }
    if msg_type == "template" {
        let name = body
            .pointer("/template/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let lang = body
            .pointer("/template/language/code")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let template = sb.with(|i| i.templates.get(&(name.clone(), lang.clone())).cloned());
        match template {
            None => {
                return meta_error(
                    StatusCode::NOT_FOUND,
                    132001,
                    title_of(132001),
                    &format!("{name} ({lang}) does not exist"),
                );
            }
            Some(t) if t.status != "APPROVED" => {
                return meta_error(
                    StatusCode::BAD_REQUEST,
                    132015,
                    "Template is paused",
                    &format!("{name} is {}", t.status),
                );
            }
            Some(t) if t.body_params() != body_param_count(&body) => {
                let details = format!(
                    "{name} takes {} body parameters, got {}",
                    t.body_params(),
                    body_param_count(&body)
                );
                return meta_error(StatusCode::BAD_REQUEST, 132000, title_of(132000), &details);
            }
            Some(_) => {}
        }
    }
    let wa_id = sb.with(|i| i.known_as.get(&to).cloned()).unwrap_or_else(|| to.clone());
    let wamid = format!("wamid.SANDBOX{}", ulid::Ulid::new());
    let callback = body
        .get("biz_opaque_callback_data")
        .and_then(Value::as_str)
        .map(str::to_owned);
    sb.with(|i| {
        i.requests.push(body.clone());
        i.accepted_at.push(std::time::Instant::now());
    });
    sb.post_statuses(Statuses {
        pni,
        to: wa_id.clone(),
        wamid: wamid.clone(),
        callback,
    });
    if let Some(Fault::TimeoutAfterAccept(d) | Fault::Slow(d)) = fault {
        tokio::time::sleep(d).await;
    }
    if let Some(Fault::BadGatewayAfterAccept) = fault {
        return (StatusCode::BAD_GATEWAY, "bad gateway").into_response();
    }
    let status = if msg_type == "template" {
        json!({"id": wamid, "message_status": "accepted"})
    } else {
        json!({"id": wamid})
    };
    axum::Json(
        json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}], "messages": [status]}),
    )
    .into_response()
}
