//! The read API a frontend uses: conversations, messages, media, and `/health`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::json;

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use crate::domain::{CustomerKey, InvalidInput, MessageId, MessageRef, Wamid};
use crate::ports::{Blobs, Clock, MediaStore, ReadModel};
use crate::read::{PageRequest, messages_list};

/// What the query handlers need.
#[derive(Clone)]
pub struct QueryState {
    /// The read model.
    pub read: Arc<dyn ReadModel>,
    /// Media records.
    pub media: Arc<dyn MediaStore>,
    /// Where stored media lives, and who signs its URLs.
    pub blobs: Arc<dyn Blobs>,
    /// How long a media URL handed out stays valid.
    pub media_url_ttl: std::time::Duration,
    /// The clock (for the 24-hour window).
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for QueryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryState").finish_non_exhaustive()
    }
}

/// `/v1/...` behind the API key, and `/health` without it.
pub fn query_router(state: QueryState, keys: ApiKeys) -> Router {
    let v1 = Router::new()
        .route("/v1/conversations", get(conversations))
        .route("/v1/conversations/{wa_id}", get(conversation))
        .route("/v1/conversations/{wa_id}/messages", get(conversation_messages))
        .route("/v1/messages", get(message_by_query))
        .route("/v1/messages/{id}", get(message))
        .route("/v1/media/{id}", get(super::media::media))
        .route("/v1/media/{id}/content", get(super::media::content))
        .route_layer(middleware::from_fn_with_state(keys, require_key));
    Router::new().route("/health", get(health)).merge(v1).with_state(state)
}

/// A route's query parameters, or why axum could not read them.
pub(super) type Params = Result<Query<HashMap<String, String>>, QueryRejection>;
pub(super) type One = Result<Path<String>, PathRejection>;

/// The query parameters, or 400 when they cannot be read.
pub(super) fn params(params: Params) -> Result<HashMap<String, String>, ApiError> {
    Ok(params.map(|Query(q)| q).map_err(|_| InvalidInput {
        field: "query",
        reason: "unreadable".into(),
    })?)
}

/// The page `limit` and `cursor` ask for, on list `list`.
pub(super) fn page_of(q: &HashMap<String, String>, list: &str) -> Result<PageRequest, ApiError> {
    Ok(PageRequest::parse(
        q.get("limit").map(String::as_str),
        q.get("cursor").map(String::as_str),
        list,
    )?)
}

fn page(p: Params, list: &str) -> Result<PageRequest, ApiError> {
    page_of(&params(p)?, list)
}

pub(super) fn segment(path: One, field: &'static str) -> Result<String, ApiError> {
    path.map(|Path(p)| p).map_err(|_| {
        InvalidInput {
            field,
            reason: "unreadable path segment".into(),
        }
        .into()
    })
}

/// Says whether the store answers, and nothing else: it is open to anyone, so it carries no
/// version, configuration or error detail an attacker could use.
async fn health(State(s): State<QueryState>) -> Response {
    match s.read.ping().await {
        Ok(()) => Json(json!({"status": "ok", "checks": {"store": "ok"}})).into_response(),
        Err(e) => {
            tracing::error!(error = %super::error::error_chain(&e), "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "degraded", "checks": {"store": "unavailable"}})),
            )
                .into_response()
        }
    }
}

async fn conversations(State(s): State<QueryState>, q: Params) -> Result<Response, ApiError> {
    let p = page(q, "conversations")?;
    Ok(Json(s.read.conversations(&p, s.clock.now_ms()).await?).into_response())
}

async fn conversation(State(s): State<QueryState>, wa_id: One) -> Result<Response, ApiError> {
    let key = CustomerKey::parse(&segment(wa_id, "wa_id")?)?;
    let c = s.read.conversation(&key, s.clock.now_ms()).await?;
    c.map(|c| Json(c).into_response())
        .ok_or_else(|| ApiError::not_found("conversation"))
}

async fn conversation_messages(State(s): State<QueryState>, wa_id: One, q: Params) -> Result<Response, ApiError> {
    let key = CustomerKey::parse(&segment(wa_id, "wa_id")?)?;
    let p = page(q, &messages_list(&key))?;
    let mut page = s.read.conversation_messages(&key, &p).await?;
    super::media::attach(s.media.as_ref(), &mut page.data).await?;
    Ok(Json(page).into_response())
}

async fn message(State(s): State<QueryState>, id: One) -> Result<Response, ApiError> {
    show_message(&s, &MessageRef::parse(&segment(id, "id")?)?).await
}

async fn show_message(s: &QueryState, r: &MessageRef) -> Result<Response, ApiError> {
    let mut m = s.read.message(r).await?.ok_or_else(|| ApiError::not_found("message"))?;
    super::media::attach(s.media.as_ref(), std::slice::from_mut(&mut m)).await?;
    Ok(Json(m).into_response())
}

/// `GET /v1/messages?wamid=` (or `?id=`): the same answer as `GET /v1/messages/{id}`, for wamids
/// carrying `/`, which API Gateway decodes out of a path before the function sees it.
async fn message_by_query(State(s): State<QueryState>, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    let r = match (q.get("wamid"), q.get("id")) {
        // A wamid never holds a space: one here is a `+` the caller did not percent-encode.
        (Some(w), None) => MessageRef::Wamid(Wamid::parse(&w.replace(' ', "+")).map_err(|e| InvalidInput {
            field: "wamid",
            reason: e.reason,
        })?),
        (None, Some(id)) => MessageRef::Id(MessageId::parse(id)?),
        _ => {
            return Err(InvalidInput {
                field: "wamid",
                reason: "give exactly one of wamid (Meta's id) or id (ours)".into(),
            }
            .into());
        }
    };
    show_message(&s, &r).await
}
