//! `Idempotency-Key` for POST routes: the first request under a key (per API key) does the work and
//! its answer is kept for 24 hours; a repeat with the same body gets that answer again (with
//! `Idempotent-Replayed: true`), a repeat with another body gets 409, and so does a repeat while the
//! first is still running, with `Retry-After`. A claim holds only for a short lease: if its request
//! crashed before answering, a retry after the lease claims the key afresh and does the work.
//! Answers of 500 and above are not kept, so a retry after an outage does the work.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::domain::IdempotencyClaim;
use crate::ports::{Clock, Idempotency, later};

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
    lease: Duration,
}

impl std::fmt::Debug for IdempotentRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotentRequests").finish_non_exhaustive()
    }
}

impl IdempotentRequests {
    /// Over the store's idempotency role, with claims held for `lease` until answered.
    pub fn new(keys: Arc<dyn Idempotency>, clock: Arc<dyn Clock>, lease: Duration) -> Self {
        Self { keys, clock, lease }
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
        let now = self.clock.now_ms();
        let (lease_until, expires) = (later(now, self.lease), now + IDEMPOTENCY_TTL_MS);
        match self
            .keys
            .claim_idempotency(&scoped, &fingerprint, lease_until, expires)
            .await?
        {
            IdempotencyClaim::New => {}
            IdempotencyClaim::Answered {
                fingerprint: f,
                status,
                body,
            } if f == fingerprint => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(Answer { status, body }.respond(true));
            }
            IdempotencyClaim::InProgress { lease_until_ms, .. } => {
                // Whole seconds, rounded up, so a client that waits as told finds the lease over.
                let wait_s = u64::try_from(lease_until_ms - now).unwrap_or(0).div_ceil(1000).max(1);
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    "a request with this Idempotency-Key is still being handled: retry after the time in Retry-After",
                )
                .with_details(serde_json::json!({"retry_after_seconds": wait_s}))
                .retry_after(wait_s));
            }
            IdempotencyClaim::Answered { .. } => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    "this Idempotency-Key was used for a different request",
                ));
            }
        }
        let answer = work.await;
        if answer.status.is_server_error() {
            self.keys.release_idempotency(&scoped, lease_until).await?;
        } else {
            self.keys
                .finish_idempotency(&scoped, lease_until, answer.status.as_u16(), &answer.body)
                .await?;
        }
        Ok(answer.respond(false))
    }
}
