//! `/v1/flows`: menu-bot flow definitions (`PUT` to write one at its id, list, read, delete), the
//! customers' sessions in them, and the audit records of completed sessions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::{Value, json};

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::json_body;
use super::query::{One, Params, page_of, params, segment};
use crate::domain::{CustomerKey, InvalidInput};
use crate::flows::definition::Flow;
use crate::flows::session::Status;
use crate::outbound::request::FieldError;
use crate::ports::{Automation, Clock, InteractionFilter, MAX_FLOWS, RuleWrite, SessionFilter};

/// What the flow routes need.
#[derive(Clone)]
pub struct FlowsState {
    /// Flows, sessions and interactions.
    pub store: Arc<dyn Automation>,
    /// Sessions show as expired by it.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FlowsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowsState")
    }
}

/// The flow routes, behind the API key.
pub fn flows_router(state: FlowsState, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/flows", get(list))
        .route("/v1/flows/sessions", get(sessions))
        .route("/v1/flows/sessions/{wa_id}", get(session))
        .route("/v1/flows/interactions", get(interactions))
        .route("/v1/flows/{id}", get(show).put(put).delete(delete))
        .layer(DefaultBodyLimit::max(super::MAX_V1_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .with_state(state)
}

type Flows = State<FlowsState>;

fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::invalid_query(vec![FieldError {
        field: field.to_owned(),
        code: "invalid",
        reason: reason.into(),
    }])
}

async fn list(State(s): Flows) -> Result<Response, ApiError> {
    Ok(Json(json!({ "data": s.store.flows().await? })).into_response())
}

async fn show(State(s): Flows, id: One) -> Result<Response, ApiError> {
    let id = segment(id, "id")?;
    let flow = s.store.flow(&id).await?.ok_or_else(|| ApiError::not_found("flow"))?;
    Ok(Json(flow).into_response())
}

async fn put(State(s): Flows, id: One, body: Bytes) -> Result<Response, ApiError> {
    let id = segment(id, "id")?;
    // `/v1/flows/sessions` and `/v1/flows/interactions` are lists: their routes answer 405 to a
    // PUT, so no flow can take those ids.
    let flow = Flow::parse(&json_body(&body)?, &id)
        .map_err(|details| ApiError::validation("the flow is not valid", &details))?;
    if s.store.flow(&id).await?.is_none() && s.store.flows().await?.len() >= MAX_FLOWS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_flows",
            format!("at most {MAX_FLOWS} flows; delete one first"),
        )
        .with_details(json!({"limit": MAX_FLOWS})));
    }
    let status = match s.store.put_flow(&flow).await? {
        RuleWrite::Created => StatusCode::CREATED,
        RuleWrite::Replaced => StatusCode::OK,
    };
    Ok((status, Json(flow)).into_response())
}

async fn delete(State(s): Flows, id: One) -> Result<Response, ApiError> {
    let id = segment(id, "id")?;
    if !s.store.delete_flow(&id).await? {
        return Err(ApiError::not_found("flow"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn status_of(s: &str) -> Result<Status, ApiError> {
    match s {
        "active" => Ok(Status::Active),
        "completed" => Ok(Status::Completed),
        "expired" => Ok(Status::Expired),
        "abandoned" => Ok(Status::Abandoned),
        _ => Err(invalid("status", "must be active, completed, expired or abandoned")),
    }
}

async fn sessions(State(s): Flows, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    let now = s.clock.now_ms();
    let filter = SessionFilter {
        status: q.get("status").map(|v| status_of(v)).transpose()?,
        flow: q.get("flow").cloned(),
        now_ms: now,
    };
    let page = s.store.sessions(&filter, &page_of(&q, "sessions")?).await?;
    let data: Vec<Value> = page.data.iter().map(|x| x.view(now)).collect();
    Ok(Json(json!({"data": data, "next_cursor": page.next_cursor})).into_response())
}

async fn session(State(s): Flows, wa_id: One, q: Params) -> Result<Response, ApiError> {
    let key = CustomerKey::parse(&segment(wa_id, "wa_id")?)?;
    let q = params(q)?;
    let all = s.store.sessions_of(key.as_str()).await?;
    let found = match q.get("phone_number_id") {
        Some(pni) => all.iter().find(|x| &x.phone_number_id == pni),
        None => all.first(),
    };
    let session = found.ok_or_else(|| ApiError::not_found("session"))?;
    Ok(Json(session.view(s.clock.now_ms())).into_response())
}

async fn interactions(State(s): Flows, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    let time = |name: &'static str| -> Result<Option<i64>, ApiError> {
        q.get(name)
            .map(|v| crate::analytics::report::instant(name, v, chrono_tz::UTC))
            .transpose()
            .map_err(|e| ApiError::invalid_query(vec![e]))
    };
    let filter = InteractionFilter {
        kind: q.get("kind").cloned(),
        from_ms: time("from")?,
        to_ms: time("to")?,
    };
    if let (Some(f), Some(t)) = (filter.from_ms, filter.to_ms)
        && f >= t
    {
        return Err(InvalidInput::new("to", "must be after from").into());
    }
    let page = s.store.interactions(&filter, &page_of(&q, "interactions")?).await?;
    let data: Vec<Value> = page.data.iter().map(|i| i.view()).collect();
    Ok(Json(json!({"data": data, "next_cursor": page.next_cursor})).into_response())
}
