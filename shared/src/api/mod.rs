//! The HTTP surface, as axum routers: the same routers serve API Gateway through `lambda_http` and the
//! local stack through one `axum::serve`.
//!
//! - [`webhook_verify_router`]: `GET /webhook` (Meta's handshake).
//! - [`webhook_ingest_router`]: `POST /webhook` (signed deliveries onto the inbound queue).
//! - [`query_router`]: `/v1/...` reads for frontends (API key) and `/health`.
//! - [`send_router`]: `POST /v1/messages` and read receipts (API key).
//! - [`templates_router`]: `/v1/templates` (API key).
//! - [`contacts_router`]: `/v1/contacts` (API key).
//! - [`schedule_router`]: `/v1/reminders` and `/v1/sequences` (API key).
//! - [`rules_router`]: `/v1/rules`, keyword rules (API key).
//! - [`flows_router`]: `/v1/flows`, menu-bot flows, their sessions and interactions (API key).
//!
//! Compose with [`finish`], which adds the JSON 404/405 answers and the body limit.

mod analytics;
pub mod auth;
mod contacts;
pub mod error;
mod flows;
pub mod idempotency;
mod media;
mod query;
mod rules;
mod schedule;
mod send;
mod templates;
mod webhook;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use analytics::analytics_router;
pub use auth::ApiKeys;
pub use contacts::contacts_router;
pub use error::ApiError;
pub use flows::{FlowsState, flows_router};
pub use media::{local_media_router, upload_router};
pub use query::{QueryState, query_router};
pub use rules::rules_router;
pub use schedule::schedule_router;
pub use send::{SendApi, send_router};
pub use templates::templates_router;
pub use webhook::{webhook_ingest_router, webhook_verify_router};

/// Largest request body accepted: Lambda's synchronous payload limit.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Largest body of a `/v1` request: the biggest message WhatsApp takes (a 4,096-character text, an
/// interactive list, a template with its parameters) fits many times over. Media uploads get their
/// own route and limit.
pub const MAX_V1_BODY_BYTES: usize = 64 * 1024;

/// A request body as JSON, or 400 `invalid_json` saying why not.
fn json_body(body: &axum::body::Bytes) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("body is not JSON: {e}"),
        )
    })
}

/// Adds what every deployed router needs: JSON answers for unknown routes and wrong methods, the
/// body limit, and JSON for every error axum answers before a handler runs (a body over the limit,
/// an unreadable path). Call once, on the composed router.
pub fn finish(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_errors))
}

/// Rewrites an error answer that is not JSON (axum's plain-text rejections) into
/// `{"error":{"code","message","details"}}` with the same status, keeping its other headers.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    // A server error's text may name internals: it is replaced, not passed on.
    let message = match String::from_utf8_lossy(&text).trim() {
        _ if status.is_server_error() => "internal error".to_owned(),
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => t.to_owned(),
    };
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNAUTHORIZED => "unauthorized",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    // The JSON answer keeps whatever other headers the rejection set.
    let mut json = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().append(name.clone(), value.clone());
        }
    }
    json
}
