//! `/v1/rules`: keyword rules that answer or escalate customers' messages. Create (`POST`, the id
//! made unless given), list, read, replace or create at an id (`PUT`), delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::json;

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::json_body;
use super::query::{One, segment};
use crate::automation::rules::Rule;
use crate::ports::{Automation, MAX_RULES, RuleWrite};

/// The rule routes, behind the API key.
pub fn rules_router(rules: Arc<dyn Automation>, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/rules", get(list).post(create))
        .route("/v1/rules/{id}", get(show).put(put).delete(delete))
        .layer(DefaultBodyLimit::max(super::MAX_V1_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .with_state(rules)
}

type Rules = State<Arc<dyn Automation>>;

fn parse(body: &Bytes, id: &str) -> Result<Rule, ApiError> {
    Rule::parse(&json_body(body)?, id).map_err(|details| ApiError::validation("the rule is not valid", &details))
}

/// 422 when the store already holds as many rules as matching is measured for.
async fn room_for_one(rules: &dyn Automation) -> Result<(), ApiError> {
    if rules.rules().await?.len() >= MAX_RULES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_rules",
            format!("at most {MAX_RULES} rules; delete one first"),
        )
        .with_details(json!({"limit": MAX_RULES})));
    }
    Ok(())
}

async fn list(State(rules): Rules) -> Result<Response, ApiError> {
    let mut all = rules.rules().await?;
    // The order they are tried in: highest priority first, ties to the lower id.
    all.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(json!({ "data": all })).into_response())
}

async fn create(State(rules): Rules, body: Bytes) -> Result<Response, ApiError> {
    let made = format!("rule_{}", ulid::Ulid::new().to_string().to_lowercase());
    let rule = parse(&body, &made)?;
    room_for_one(rules.as_ref()).await?;
    if !rules.create_rule(&rule).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rule_exists",
            format!(
                "a rule with id {:?} exists; PUT /v1/rules/{} replaces it",
                rule.id, rule.id
            ),
        ));
    }
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

async fn show(State(rules): Rules, id: One) -> Result<Response, ApiError> {
    let id = segment(id, "id")?;
    let rule = rules.rule(&id).await?.ok_or_else(|| ApiError::not_found("rule"))?;
    Ok(Json(rule).into_response())
}

async fn put(State(rules): Rules, id: One, body: Bytes) -> Result<Response, ApiError> {
    let id = segment(id, "id")?;
    let rule = parse(&body, &id)?;
    if rule.id != id {
        return Err(ApiError::validation(
            "the rule is not valid",
            &[crate::outbound::request::FieldError {
                field: "id".into(),
                code: "mismatch",
                reason: format!("must be {id:?}, the id in the path, or absent"),
            }],
        ));
    }
    if rules.rule(&id).await?.is_none() {
        room_for_one(rules.as_ref()).await?;
    }
    let status = match rules.put_rule(&rule).await? {
        RuleWrite::Created => StatusCode::CREATED,
        RuleWrite::Replaced => StatusCode::OK,
    };
    Ok((status, Json(rule)).into_response())
}

async fn delete(State(rules): Rules, id: One) -> Result<Response, ApiError> {
    let id = segment(id, "id")?;
    if !rules.delete_rule(&id).await? {
        return Err(ApiError::not_found("rule"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
