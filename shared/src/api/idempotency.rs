//! `Idempotency-Key` for POST routes: the first request under a key (per API key) does the work and
//! its answer is kept for 24 hours; a repeat with the same body gets that answer again (with
//! `Idempotent-Replayed: true`), a repeat with another body, or while the first is still running,
//! gets 409. Answers of 500 and above are not kept, so a retry after an outage does the work.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::domain::IdempotencyClaim;
use crate::ports::{Clock, Idempotency};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// A JSON answer that can be kept and replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
}

impl Answer {
    /// A success answer.
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }

    fn respond(self, replayed: bool) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        if replayed {
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        res
    }
}

impl From<ApiError> for Answer {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status(),
            body: e.body(),
        }
    }
}

/// The key a request carries, checked: absent, or 1 to 255 visible characters.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 characters",
        )
    };
    match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => Ok(None),
        Some(Err(_)) => Err(ApiError::from(crate::domain::InvalidInput {
            field: "Idempotency-Key",
            reason: "must be visible ASCII".into(),
        })),
        Some(Ok(k)) => {
            let k = k.trim();
            if k.is_empty() || k.len() > 255 || k.chars().any(char::is_control) {
                return Err(invalid());
            }
            Ok(Some(k.to_owned()))
        }
    }
}

/// Runs `work` at most once per (`caller`, `key`) and request body.
#[derive(Clone)]
pub struct IdempotentRequests {
    keys: Arc<dyn Idempotency>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for IdempotentRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotentRequests").finish_non_exhaustive()
    }
}

impl IdempotentRequests {
    /// Over the store's idempotency role.
    pub fn new(keys: Arc<dyn Idempotency>, clock: Arc<dyn Clock>) -> Self {
        Self { keys, clock }
    }

    /// Answers the request: `work`'s answer the first time, the kept one on a repeat.
    pub async fn run<F>(&self, caller: &str, key: Option<&str>, body: &Value, work: F) -> Result<Response, ApiError>
    where
        F: Future<Output = Answer>,
    {
        let Some(key) = key else {
            return Ok(work.await.respond(false));
        };
        let scoped = format!("{caller}:{key}");
        let fingerprint = hex::encode(Sha256::digest(body.to_string().as_bytes()));
        let expires = self.clock.now_ms() + IDEMPOTENCY_TTL_MS;
        match self.keys.claim_idempotency(&scoped, &fingerprint, expires).await? {
            IdempotencyClaim::New => {}
            IdempotencyClaim::Answered {
                fingerprint: f,
                status,
                body,
            } if f == fingerprint => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(Answer { status, body }.respond(true));
            }
            IdempotencyClaim::Answered { .. } | IdempotencyClaim::InProgress { .. } => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    "this Idempotency-Key was used for a different request, or that request is still being handled",
                ));
            }
        }
        let answer = work.await;
        if answer.status.is_server_error() {
            self.keys.release_idempotency(&scoped).await?;
        } else {
            self.keys
                .finish_idempotency(&scoped, answer.status.as_u16(), &answer.body)
                .await?;
        }
        Ok(answer.respond(false))
    }
}
