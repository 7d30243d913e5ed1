//! `POST /v1/messages`, `POST /v1/messages/{id}/read` and `POST /v1/conversations/{wa_id}/read`:
//! the send API a frontend uses. The use
//! cases ([`Enqueuer`], [`ReadReceipts`]) know nothing of HTTP; this file parses the request, runs
//! `Idempotency-Key`, and lets [`super::error`] turn their errors into answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use serde_json::{Value, json};

use super::auth::{ApiKeys, Caller, require_key};
use super::error::ApiError;
use super::idempotency::{Answer, IdempotentRequests, key_of};
use crate::domain::{CustomerKey, InvalidInput, MessageId, Wamid};
use crate::media::upload::Uploader;
use crate::outbound::enqueue::{Enqueuer, SendError};
use crate::outbound::read_receipt::ReadReceipts;
use crate::outbound::request::validate;

/// What the send routes need.
#[derive(Debug, Clone)]
pub struct SendApi {
    /// Validated sends go here.
    pub enqueuer: Enqueuer,
    /// Read receipts.
    pub receipts: ReadReceipts,
    /// `Idempotency-Key` handling.
    pub idempotency: IdempotentRequests,
    /// Our uploads, renewed at Meta when a send names one Meta is about to forget.
    pub uploads: Uploader,
}

/// The send routes' state: `None` where this deployment cannot send.
type Sending = Arc<Option<SendApi>>;

/// The send routes, behind the API key. Without a [`SendApi`] (a local stack with neither an access
/// token nor the sandbox) each answers 503 naming what to set.
pub fn send_router(api: Option<SendApi>, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/messages", post(send))
        .route("/v1/messages/read", post(mark_read_by_body))
        .route("/v1/messages/{id}/read", post(mark_read))
        .route("/v1/conversations/{wa_id}/read", post(mark_conversation_read))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .layer(DefaultBodyLimit::max(super::MAX_V1_BODY_BYTES))
        .with_state(Arc::new(api))
}

fn sending(api: &Sending) -> Result<&SendApi, ApiError> {
    api.as_ref().as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sending_not_configured",
            "sending is off: set WHATSAPP_ACCESS_TOKEN to send through Meta \
             (locally, WABRIDGE_SANDBOX=1 sends to the built-in sandbox instead)",
        )
    })
}

async fn send(
    State(api): State<Sending>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let json = super::json_body(&body)?;
    let api = sending(&api)?;
    let key = key_of(&headers)?;
    let work = async {
        match enqueue(api, &json).await {
            Ok(id) => Answer::new(StatusCode::ACCEPTED, json!({"id": id.to_string(), "status": "queued"})),
            Err(e) => e.into(),
        }
    };
    api.idempotency.run(&caller.0, key.as_deref(), &json, work).await
}

async fn enqueue(api: &SendApi, json: &Value) -> Result<MessageId, ApiError> {
    let mut cmd = validate(json).map_err(SendError::invalid)?;
    for id in cmd.media_ids_mut() {
        *id = api.uploads.sendable_id(id).await?;
    }
    Ok(api.enqueuer.enqueue(&cmd).await?)
}

async fn mark_read(
    State(api): State<Sending>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let api = sending(&api)?;
    let id = id.map(|Path(p)| p).map_err(|_| InvalidInput {
        field: "id",
        reason: "unreadable".into(),
    })?;
    let wamid = Wamid::parse(&id)?;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|_| InvalidInput {
            field: "body",
            reason: "must be JSON like {\"typing_indicator\": true}".into(),
        })?
    };
    receipt(api, &wamid, &body).await
}

/// `POST /v1/messages/read` with `{"message_id": wamid, "typing_indicator"?}`: the form that works
/// for every wamid on API Gateway, which decodes a `%2F` in a path into a `/` before we see it.
async fn mark_read_by_body(State(api): State<Sending>, body: Bytes) -> Result<Response, ApiError> {
    let api = sending(&api)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| InvalidInput {
        field: "body",
        reason: "must be JSON like {\"message_id\": \"wamid...\", \"typing_indicator\": true}".into(),
    })?;
    let wamid = match body.get("message_id") {
        Some(Value::String(w)) => Wamid::parse(w).map_err(|e| InvalidInput {
            field: "message_id",
            reason: e.reason,
        })?,
        _ => {
            return Err(InvalidInput {
                field: "message_id",
                reason: "is required: the wamid of the customer's message".into(),
            }
            .into());
        }
    };
    receipt(api, &wamid, &body).await
}

/// `POST /v1/conversations/{wa_id}/read`: everything the customer wrote is read, here and at Meta.
async fn mark_conversation_read(
    State(api): State<Sending>,
    wa_id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let api = sending(&api)?;
    let wa_id = wa_id.map(|Path(p)| p).map_err(|_| InvalidInput {
        field: "wa_id",
        reason: "unreadable".into(),
    })?;
    let customer = CustomerKey::parse(&wa_id)?;
    let newest = api.receipts.mark_conversation_read(&customer).await?;
    Ok(Json(json!({"status": "read", "message_id": newest.as_ref().map(Wamid::as_str)})).into_response())
}

async fn receipt(api: &SendApi, wamid: &Wamid, body: &Value) -> Result<Response, ApiError> {
    let typing = match body.get("typing_indicator") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(InvalidInput {
                field: "typing_indicator",
                reason: "must be true or false".into(),
            }
            .into());
        }
    };
    api.receipts.mark_read(wamid, typing).await?;
    Ok(Json(json!({"status": "read", "typing_indicator": typing})).into_response())
}
