//! `/v1/templates`: the WABA's templates as our copy holds them, and create, delete and sync
//! through Graph. Every route needs `WHATSAPP_BUSINESS_ACCOUNT_ID` (503 naming it otherwise).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::query::{Params, page_of, params};
use crate::domain::InvalidInput;
use crate::read::Page;
use crate::templates::catalog::{Catalog, CatalogError};
use crate::templates::{Template, TemplateQuery};

/// The cursor list of `GET /v1/templates`.
const LIST: &str = "templates";

/// The template routes, behind the API key.
pub fn templates_router(catalog: Catalog, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/templates", get(list).post(create))
        .route("/v1/templates/sync", post(sync))
        .route("/v1/templates/{name}", get(named).delete(delete_named))
        .route("/v1/templates/{name}/{language}", get(one).delete(delete_one))
        // The key is checked first (the outer layer): a caller without one learns nothing more.
        .route_layer(middleware::from_fn_with_state(catalog.clone(), require_managed))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .layer(DefaultBodyLimit::max(super::MAX_V1_BODY_BYTES))
        .with_state(catalog)
}

/// 503 naming `WHATSAPP_BUSINESS_ACCOUNT_ID` on every route while it is not set.
async fn require_managed(State(c): State<Catalog>, req: Request, next: Next) -> Response {
    if c.manages() {
        next.run(req).await
    } else {
        ApiError::from(CatalogError::NotConfigured).into_response()
    }
}

/// A cursor key for a (name, language) pair: opaque, printable, whatever the name holds.
fn key_of(t: &Template) -> String {
    URL_SAFE_NO_PAD.encode(json!([t.name, t.language]).to_string())
}

fn pair_of(key: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(key).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn one_template(found: Vec<Template>) -> Result<Response, ApiError> {
    let t = found
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("template"))?;
    Ok(Json(t.view()).into_response())
}

async fn list(State(c): State<Catalog>, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    let page = page_of(&q, LIST)?;
    let after = page
        .after
        .as_deref()
        .map(|k| pair_of(k).ok_or_else(|| InvalidInput::new("cursor", "not a cursor this list issued")))
        .transpose()?;
    let filter = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let query = TemplateQuery {
        status: filter("status").map(|s| s.to_ascii_uppercase()),
        category: filter("category").map(|s| s.to_ascii_uppercase()),
        name: filter("name"),
        language: filter("language"),
        after,
        limit: page.limit + 1,
    };
    let rows = c.list(&query).await?.into_iter().map(|t| {
        let k = key_of(&t);
        (t.view(), k)
    });
    let page: Page<Value> = Page::from_rows(rows.collect(), page.limit, LIST);
    Ok(Json(page).into_response())
}

async fn named(State(c): State<Catalog>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let found = c.get(&name, None).await?;
    Ok(Json(json!({"data": found.iter().map(Template::view).collect::<Vec<_>>()})).into_response())
}

async fn one(State(c): State<Catalog>, Path((name, language)): Path<(String, String)>) -> Result<Response, ApiError> {
    one_template(c.get(&name, Some(&language)).await?)
}

async fn create(State(c): State<Catalog>, body: Bytes) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("body is not JSON: {e}"),
        )
    })?;
    let t = c.create(&body).await?;
    Ok((StatusCode::CREATED, Json(t.view())).into_response())
}

async fn delete_named(State(c): State<Catalog>, Path(name): Path<String>) -> Result<Response, ApiError> {
    c.delete(&name, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_one(
    State(c): State<Catalog>,
    Path((name, language)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    c.delete(&name, Some(&language)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sync(State(c): State<Catalog>) -> Result<Response, ApiError> {
    let done = c.sync().await?;
    Ok(Json(json!({"synced": done.synced, "deleted": done.deleted})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Cursor;

    #[test]
    fn cursor_keys_carry_any_name_and_pass_the_cursor_check() {
        let t = Template::new("My message template", "en-US");
        let k = key_of(&t);
        assert_eq!(pair_of(&k), Some(("My message template".into(), "en-US".into())));
        assert!(Cursor::decode(&Cursor::encode(LIST, &k), LIST).is_ok());
    }
}
