//! The HTTP surface, as axum routers: the same routers serve API Gateway through `lambda_http` and the
//! local stack through one `axum::serve`.
//!
//! - [`webhook_verify_router`]: `GET /webhook` (Meta's handshake).
//! - [`webhook_ingest_router`]: `POST /webhook` (signed deliveries onto the inbound queue).
//! - [`query_router`]: `/v1/...` reads for frontends (API key) and `/health`.
//! - [`send_router`]: `POST /v1/messages` and read receipts (API key).
//!
//! Compose with [`finish`], which adds the JSON 404/405 answers and the body limit.

pub mod auth;
pub mod error;
pub mod idempotency;
mod query;
mod send;
mod webhook;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

pub use auth::ApiKeys;
pub use error::ApiError;
pub use query::{QueryState, query_router};
pub use send::{SendApi, send_router};
pub use webhook::{webhook_ingest_router, webhook_verify_router};

/// Largest request body accepted: Lambda's synchronous payload limit.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Adds what every deployed router needs: JSON answers for unknown routes and wrong methods, and the
/// body limit. Call once, on the composed router.
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
}
