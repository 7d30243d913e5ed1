//! Scheduled work: `/v1/reminders` (appointment reminders: create, idempotent by
//! `external_id`, read, list, move with `PATCH {"at"}`, cancel with `DELETE`) and
//! `/v1/sequences` (follow-ups: create, read, cancel) and `/v1/campaigns` (create, read with
//! counts, recipients, pause, resume, cancel). The scheduler sends them.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde_json::Value;

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::json_body;
use super::query::{One, Params, page_of, params, segment};
use crate::domain::InvalidInput;
use crate::schedule::{Action, ScheduleError, Scheduler};

/// The recipient statuses `GET /v1/campaigns/{id}/recipients?status=` takes.
const RECIPIENT_STATUSES: [&str; 8] = [
    "skipped",
    "pending",
    "cancelled",
    "queued",
    "sent",
    "delivered",
    "read",
    "failed",
];

/// The reminder and sequence routes, behind the API key.
pub fn schedule_router(scheduler: Scheduler, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/reminders", get(list).post(create))
        .route("/v1/reminders/{id}", get(show).patch(reschedule).delete(cancel))
        .route("/v1/sequences", post(create_sequence))
        .route("/v1/sequences/{id}", get(show_sequence).delete(cancel_sequence))
        .route("/v1/campaigns", post(create_campaign))
        .route("/v1/campaigns/{id}", get(show_campaign))
        .route("/v1/campaigns/{id}/recipients", get(campaign_recipients))
        .route("/v1/campaigns/{id}/pause", post(pause))
        .route("/v1/campaigns/{id}/resume", post(resume))
        .route("/v1/campaigns/{id}/cancel", post(cancel_campaign))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .layer(DefaultBodyLimit::max(super::MAX_V1_BODY_BYTES))
        .with_state(scheduler)
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Invalid(details) => ApiError::validation("the request is not valid", &details),
            ScheduleError::NotFound => ApiError::not_found("schedule"),
            ScheduleError::Template(check) => check.into(),
            ScheduleError::Conflict(reason) => ApiError::new(StatusCode::CONFLICT, "invalid_state", reason),
            ScheduleError::Busy => ApiError::new(StatusCode::CONFLICT, "busy", e.to_string()).retry_after(1),
            ScheduleError::Port(p) => p.into(),
        }
    }
}

fn id_of(id: One) -> Result<String, ApiError> {
    let id = segment(id, "id")?;
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(InvalidInput {
            field: "id",
            reason: "not a reminder, sequence or campaign id".into(),
        }
        .into());
    }
    Ok(id)
}

async fn create(State(s): State<Scheduler>, body: Bytes) -> Result<Response, ApiError> {
    let (view, created) = s.create_reminder(&json_body(&body)?).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(view)).into_response())
}

async fn list(State(s): State<Scheduler>, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    if let Some(external) = q.get("external_id") {
        let data: Vec<Value> = s.reminder_by_external_id(external).await?.into_iter().collect();
        return Ok(Json(serde_json::json!({"data": data, "next_cursor": null})).into_response());
    }
    let status = match q.get("status").map(String::as_str) {
        None => None,
        Some(st @ ("scheduled" | "completed" | "cancelled")) => Some(st),
        Some(_) => {
            return Err(InvalidInput {
                field: "status",
                reason: "must be scheduled, completed or cancelled".into(),
            }
            .into());
        }
    };
    let page = page_of(&q, "schedules")?;
    Ok(Json(s.reminders(status, &page).await?).into_response())
}

async fn show(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    let view = s
        .reminder(&id_of(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("reminder"))?;
    Ok(Json(view).into_response())
}

async fn reschedule(State(s): State<Scheduler>, id: One, body: Bytes) -> Result<Response, ApiError> {
    Ok(Json(s.reschedule_reminder(&id_of(id)?, &json_body(&body)?).await?).into_response())
}

async fn cancel(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    Ok(Json(s.cancel_reminder(&id_of(id)?).await?).into_response())
}

async fn create_sequence(State(s): State<Scheduler>, body: Bytes) -> Result<Response, ApiError> {
    let (view, created) = s.create_sequence(&json_body(&body)?).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(view)).into_response())
}

async fn show_sequence(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    let view = s
        .sequence(&id_of(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("sequence"))?;
    Ok(Json(view).into_response())
}

async fn cancel_sequence(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    Ok(Json(s.cancel_sequence(&id_of(id)?).await?).into_response())
}

async fn create_campaign(State(s): State<Scheduler>, body: Bytes) -> Result<Response, ApiError> {
    let view = s.create_campaign(&json_body(&body)?).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn show_campaign(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    let view = s
        .campaign(&id_of(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign"))?;
    Ok(Json(view).into_response())
}

async fn campaign_recipients(State(s): State<Scheduler>, id: One, q: Params) -> Result<Response, ApiError> {
    let id = id_of(id)?;
    let q = params(q)?;
    let status = match q.get("status").map(String::as_str) {
        None => None,
        Some(st) if RECIPIENT_STATUSES.contains(&st) => Some(st),
        Some(_) => {
            return Err(InvalidInput {
                field: "status",
                reason: format!("must be one of {}", RECIPIENT_STATUSES.join(", ")),
            }
            .into());
        }
    };
    let page = page_of(&q, "recipients")?;
    let found = s
        .campaign_recipients(&id, status, &page)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign"))?;
    Ok(Json(found).into_response())
}

async fn act(s: &Scheduler, id: One, action: Action) -> Result<Response, ApiError> {
    Ok(Json(s.campaign_action(&id_of(id)?, action).await?).into_response())
}

async fn pause(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    act(&s, id, Action::Pause).await
}

async fn resume(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    act(&s, id, Action::Resume).await
}

async fn cancel_campaign(State(s): State<Scheduler>, id: One) -> Result<Response, ApiError> {
    act(&s, id, Action::Cancel).await
}
