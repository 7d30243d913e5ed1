//! `GET /v1/analytics`: a report over any range, summed from hour counters.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router, middleware};

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::query::{Params, params};
use crate::analytics::report::{self, AnalyticsQuery, Report};
use crate::ports::Counters;

/// The analytics route, behind the API key.
pub fn analytics_router(counters: Arc<dyn Counters>, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/analytics", get(analytics))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .with_state(counters)
}

async fn analytics(State(counters): State<Arc<dyn Counters>>, q: Params) -> Result<Json<Report>, ApiError> {
    let q = params(q)?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let query = AnalyticsQuery::parse(
        get("from"),
        get("to"),
        get("granularity"),
        get("tz"),
        get("phone_number_id"),
    )
    .map_err(ApiError::invalid_query)?;
    Ok(Json(report::report(counters.as_ref(), &query).await?))
}
