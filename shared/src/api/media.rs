//! Media for the frontend: where a copy stands and a short-lived URL to it, a redirect to the
//! bytes, and (locally) the signed URLs themselves.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde_json::json;

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::query::{One, QueryState, segment};
use crate::media::upload::Uploader;
use crate::media::url::{UrlRefused, UrlSigner};
use crate::media::{MediaRecord, MediaStatus, blob_key};
use crate::ports::{Blobs, Clock, MediaStore};
use crate::read::MessageView;
use crate::timefmt::rfc3339;

/// Shows each message's media as its record stands (a message whose record is not yet written
/// keeps the webhook's facts, `pending`).
pub(super) async fn attach(media: &dyn MediaStore, views: &mut [MessageView]) -> Result<(), ApiError> {
    // Read together, not one after another: a page of photos costs one round trip of latency.
    let shown: Vec<&mut crate::media::MediaView> = views.iter_mut().filter_map(|v| v.media.as_mut()).collect();
    let records = futures::future::try_join_all(shown.iter().map(|m| media.media(&m.id))).await?;
    for (m, record) in shown.into_iter().zip(records) {
        if let Some(record) = record {
            *m = record.into();
        }
    }
    Ok(())
}

/// The URL a record's copy is served at, and when it expires; `None` until it is stored.
async fn url_of(s: &QueryState, headers: &HeaderMap, r: &MediaRecord) -> Result<Option<(String, i64)>, ApiError> {
    if r.status != MediaStatus::Stored {
        return Ok(None);
    }
    let url = s.blobs.url(&r.key(), s.media_url_ttl).await?;
    let ttl_ms = i64::try_from(s.media_url_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires = s.clock.now_ms().saturating_add(ttl_ms);
    // Local URLs are paths on the stack that answered: put the host the caller used in front.
    let url = if url.starts_with('/') {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:8080");
        format!("http://{host}{url}")
    } else {
        url
    };
    Ok(Some((url, expires)))
}

async fn record(s: &QueryState, id: One) -> Result<MediaRecord, ApiError> {
    let id = segment(id, "id")?;
    s.media.media(&id).await?.ok_or_else(|| ApiError::not_found("media"))
}

/// `GET /v1/media/{id}`.
pub(super) async fn media(State(s): State<QueryState>, headers: HeaderMap, id: One) -> Result<Response, ApiError> {
    let r = record(&s, id).await?;
    let url = url_of(&s, &headers, &r).await?;
    Ok(Json(json!({
        "id": r.id,
        "mime_type": r.mime_type,
        "sha256": r.sha256,
        "file_size": r.file_size,
        "filename": r.filename,
        "status": r.status,
        "error": r.error,
        "url": url.as_ref().map(|(u, _)| u),
        "url_expires_at": url.as_ref().map(|(_, e)| rfc3339(*e)),
    }))
    .into_response())
}

/// `GET /v1/media/{id}/content`: a redirect to the bytes, for clients that just want them.
pub(super) async fn content(State(s): State<QueryState>, headers: HeaderMap, id: One) -> Result<Response, ApiError> {
    let r = record(&s, id).await?;
    match url_of(&s, &headers, &r).await? {
        Some((url, _)) => Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response()),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "media_not_stored",
            format!("media {} is {}, not stored", r.id, r.status.as_str()),
        )
        .with_details(json!({"status": r.status, "error": r.error}))),
    }
}

/// What the local media route needs.
#[derive(Clone)]
struct LocalFiles {
    media: Arc<dyn MediaStore>,
    blobs: Arc<dyn Blobs>,
    signer: UrlSigner,
    clock: Arc<dyn Clock>,
}

/// `GET /media/{phone_number_id}/{media_id}?expires=&signature=`: the local stack serving the
/// URLs its folder storage signs. No API key (the signature is the permission): a wrong or
/// expired signature is a 403.
pub fn local_media_router(
    media: Arc<dyn MediaStore>,
    blobs: Arc<dyn Blobs>,
    signer: UrlSigner,
    clock: Arc<dyn Clock>,
) -> Router {
    Router::new()
        .route("/media/{pni}/{id}", get(local_file))
        .with_state(LocalFiles {
            media,
            blobs,
            signer,
            clock,
        })
}

async fn local_file(
    State(f): State<LocalFiles>,
    Path((pni, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let key = blob_key(&pni, &id);
    let forbidden = |why: &str| ApiError::new(StatusCode::FORBIDDEN, "forbidden", why.to_owned());
    let expires = q
        .get("expires")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(|| forbidden("the link has no valid expiry"))?;
    let signature = q.get("signature").ok_or_else(|| forbidden("the link is not signed"))?;
    // The key signed is the one this path names: a path that normalises differently is refused.
    if key != format!("media/{pni}/{id}") {
        return Err(forbidden("the link does not name stored media"));
    }
    f.signer
        .verify(&key, expires, signature, f.clock.now_ms())
        .map_err(|e| match e {
            UrlRefused::BadSignature => forbidden("the link's signature does not match"),
            UrlRefused::Expired => forbidden("the link has expired"),
        })?;
    let mime = f
        .media
        .media(&id)
        .await?
        .and_then(|r| r.mime_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    match f.blobs.get(&key).await? {
        Some(bytes) => Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response()),
        None => Err(ApiError::not_found("media")),
    }
}

/// `POST /v1/media?filename=&phone_number_id=`: the file as the raw body, its MIME type as
/// `Content-Type`; `201` with Meta's media id. Without an [`Uploader`] (a deployment that cannot
/// reach Graph) it answers 503.
pub fn upload_router(uploader: Option<Uploader>, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/media", post(upload))
        .route_layer(middleware::from_fn_with_state(keys, require_key))
        .layer(DefaultBodyLimit::max(super::MAX_BODY_BYTES))
        .with_state(Arc::new(uploader))
}

async fn upload(
    State(uploader): State<Arc<Option<Uploader>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uploader = uploader.as_ref().as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sending_not_configured",
            "uploads go to Meta: set WHATSAPP_ACCESS_TOKEN (locally, the sandbox plays Meta)",
        )
    })?;
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let r = uploader
        .upload(
            q.get("phone_number_id").map(String::as_str),
            body.to_vec(),
            &mime,
            q.get("filename").map(String::as_str),
        )
        .await?;
    let answer = json!({
        "id": r.id,
        "mime_type": r.mime_type,
        "sha256": r.sha256,
        "file_size": r.file_size,
        "filename": r.filename,
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
