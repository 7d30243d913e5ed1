//! `GET /webhook` (subscription handshake) and `POST /webhook` (signed deliveries).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;

use super::error::{ApiError, error_chain};
use crate::inbound::ingest::{IngestError, Ingestor};
use crate::inbound::webhook::verify_subscription;

/// Longest `hub.challenge` echoed (Meta sends a number of about ten digits).
const MAX_CHALLENGE_LEN: usize = 128;

/// `GET /webhook`: answers `hub.challenge` as text/plain when `hub.mode=subscribe` and the token
/// matches; 403 otherwise.
pub fn webhook_verify_router(verify_token: SecretString) -> Router {
    Router::new()
        .route("/webhook", get(handshake))
        .with_state(Arc::new(verify_token))
}

async fn handshake(
    State(token): State<Arc<SecretString>>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let get = |k: &str| q.get(k).map(String::as_str);
    match verify_subscription(&token, get("hub.mode"), get("hub.verify_token"), get("hub.challenge")) {
        // Echoed back as text: only the short token Meta sends (digits) is, never a page of markup.
        Some(challenge)
            if challenge.len() > MAX_CHALLENGE_LEN
                || !challenge
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_challenge",
                format!("hub.challenge must be at most {MAX_CHALLENGE_LEN} letters, digits, '-', '_' or '.'"),
            )
            .into_response()
        }
        Some(challenge) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.to_owned(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "hub.mode or hub.verify_token is wrong",
        )
        .into_response(),
    }
}

/// `POST /webhook`: 200 only once the body is on the inbound queue; 401 on a bad signature (nothing
/// queued); 503 when the queue fails, so Meta retries.
pub fn webhook_ingest_router(ingestor: Ingestor) -> Router {
    Router::new()
        .route("/webhook", post(receive))
        .with_state(Arc::new(ingestor))
}

async fn receive(State(ingestor): State<Arc<Ingestor>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    match ingestor.ingest(&body, signature).await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "queued"}))).into_response(),
        Err(IngestError::Signature(e)) => {
            tracing::warn!(reason = %e, bytes = body.len(), "webhook refused");
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string()).into_response()
        }
        Err(e @ IngestError::Queue(_)) => {
            tracing::error!(error = %error_chain(&e), "webhook not queued; Meta will retry");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_unavailable",
                "could not queue the webhook; retry",
            )
            .into_response()
        }
    }
}
