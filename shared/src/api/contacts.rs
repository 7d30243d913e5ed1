//! `/v1/contacts`: the contacts the business keeps. Create or merge (`POST`), change (`PATCH`),
//! list with filters, and import a CSV or JSON array of up to 100,000 rows.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::json_body;
use super::query::{One, Params, page_of, params, segment};
use crate::contacts::import::{self, ImportError};
use crate::contacts::{ContactError, Contacts, tag};
use crate::domain::{CustomerKey, InvalidInput, fold_name};
use crate::ports::ContactFilter;

/// Longest `q` a contacts search takes.
const MAX_QUERY: usize = 64;

/// The contact routes, behind the API key.
pub fn contacts_router(contacts: Contacts, keys: ApiKeys) -> Router {
    Router::new()
        .route(
            "/v1/contacts",
            get(list)
                .post(create)
                .layer(DefaultBodyLimit::max(super::MAX_V1_BODY_BYTES)),
        )
        .route(
            "/v1/contacts/import",
            post(import).layer(DefaultBodyLimit::max(super::MAX_BODY_BYTES)),
        )
        .route(
            "/v1/contacts/{wa_id}",
            get(show)
                .patch(change)
                .layer(DefaultBodyLimit::max(super::MAX_V1_BODY_BYTES)),
        )
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .with_state(contacts)
}

impl From<ContactError> for ApiError {
    fn from(e: ContactError) -> Self {
        match e {
            ContactError::Invalid(details) => ApiError::validation("the contact is not valid", &details),
            ContactError::NotFound => ApiError::not_found("contact"),
            ContactError::Port(p) => p.into(),
        }
    }
}

/// The list's filters from the query string.
fn filter_of(q: &std::collections::HashMap<String, String>) -> Result<ContactFilter, ApiError> {
    let mut f = ContactFilter::default();
    if let Some(t) = q.get("tag") {
        f.tag = Some(tag(t).map_err(|reason| InvalidInput { field: "tag", reason })?);
    }
    f.opted_out = match q.get("opted_out").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(InvalidInput {
                field: "opted_out",
                reason: "must be true or false".into(),
            }
            .into());
        }
    };
    if let Some(raw) = q.get("q").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if raw.chars().count() > MAX_QUERY {
            return Err(InvalidInput {
                field: "q",
                reason: format!("must be at most {MAX_QUERY} characters"),
            }
            .into());
        }
        // A number as people type it (`+27 82`, `082-`) searches numbers; anything else, names.
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() && raw.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
            f.number_prefix = Some(digits);
        } else {
            f.name_prefix = Some(fold_name(raw));
        }
    }
    Ok(f)
}

async fn list(State(c): State<Contacts>, q: Params) -> Result<Response, ApiError> {
    let q = params(q)?;
    let filter = filter_of(&q)?;
    let page = page_of(&q, "contacts")?;
    Ok(Json(c.find(&filter, &page).await?).into_response())
}

async fn show(State(c): State<Contacts>, wa_id: One) -> Result<Response, ApiError> {
    let key = CustomerKey::parse(&segment(wa_id, "wa_id")?)?;
    let contact = c.get(&key).await?.ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(Json(contact).into_response())
}

async fn create(State(c): State<Contacts>, body: Bytes) -> Result<Response, ApiError> {
    let (contact, created) = c.create(&json_body(&body)?).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(contact)).into_response())
}

async fn change(State(c): State<Contacts>, wa_id: One, body: Bytes) -> Result<Response, ApiError> {
    let key = CustomerKey::parse(&segment(wa_id, "wa_id")?)?;
    Ok(Json(c.patch(&key, &json_body(&body)?).await?).into_response())
}

async fn import(State(c): State<Contacts>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let rows = match kind.as_deref() {
        Some("text/csv") => import::from_csv(&body),
        Some("application/json") => import::from_json(&body),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the import as Content-Type: text/csv (header phone,name,tags) or application/json (an array of contacts)",
            ));
        }
    };
    let rows = rows.map_err(|e| match e {
        ImportError::TooManyRows => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_rows", e.to_string())
            .with_details(serde_json::json!({"limit": import::MAX_ROWS})),
        ImportError::Unreadable(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_import", e.to_string()),
    })?;
    Ok(Json(c.import(rows).await?).into_response())
}
