//! `POST /v1/messages` and `POST /v1/messages/{id}/read`: the send API a frontend uses.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use serde_json::Value;

use super::auth::{ApiKeys, Caller, require_key};
use super::error::ApiError;
use crate::domain::{InvalidInput, Wamid};
use crate::outbound::service::{Answer, SendService};

/// The send routes, behind the API key.
pub fn send_router(service: SendService, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/messages", post(send))
        .route("/v1/messages/{id}/read", post(mark_read))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .with_state(Arc::new(service))
}

fn respond(a: Answer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, Json(a.body)).into_response();
    if a.replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

async fn send(
    State(service): State<Arc<SendService>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) => Some(k.trim()),
        Some(Err(_)) => {
            return Err(InvalidInput {
                field: "Idempotency-Key",
                reason: "must be visible ASCII".into(),
            }
            .into());
        }
    };
    Ok(respond(service.submit(&caller.0, key, &body).await?))
}

async fn mark_read(
    State(service): State<Arc<SendService>>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = id.map(|Path(p)| p).map_err(|_| InvalidInput {
        field: "id",
        reason: "unreadable".into(),
    })?;
    let wamid = Wamid::parse(&id)?;
    let typing = if body.is_empty() {
        false
    } else {
        let v: Value = serde_json::from_slice(&body).map_err(|_| InvalidInput {
            field: "body",
            reason: "must be JSON like {\"typing_indicator\": true}".into(),
        })?;
        match v.get("typing_indicator") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(InvalidInput {
                    field: "typing_indicator",
                    reason: "must be true or false".into(),
                }
                .into());
            }
        }
    };
    Ok(respond(service.mark_read(&wamid, typing).await?))
}
