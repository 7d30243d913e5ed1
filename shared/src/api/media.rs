//! Media for the frontend: where a copy stands and a short-lived URL to it, a redirect to the
//! bytes, and (locally) the signed URLs themselves.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use serde_json::json;

use super::auth::{ApiKeys, require_key};
use super::error::ApiError;
use super::query::{One, QueryState, segment};
use crate::domain::InvalidInput;
use crate::media::upload::Uploader;
use crate::media::url::{UrlRefused, UrlSigner};
use crate::media::{MediaKind, MediaRecord, MediaStatus, blob_key};
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
    Ok(Some((absolute(url, headers), expires)))
}

async fn record(s: &QueryState, id: One) -> Result<MediaRecord, ApiError> {
    let id = segment(id, "id")?;
    s.media.media(&id).await?.ok_or_else(|| ApiError::not_found("media"))
}

/// `GET /v1/media/{id}`.
pub(super) async fn media(State(s): State<QueryState>, headers: HeaderMap, id: One) -> Result<Response, ApiError> {
    let r = record(&s, id).await?;
    let url = url_of(&s, &headers, &r).await?;
    let mut answer = file_facts(&r);
    answer["status"] = json!(r.status);
    answer["error"] = json!(r.error);
    answer["url"] = json!(url.as_ref().map(|(u, _)| u));
    answer["url_expires_at"] = json!(url.as_ref().map(|(_, e)| rfc3339(*e)));
    Ok(Json(answer).into_response())
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

fn forbidden(why: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", why.to_owned())
}

impl LocalFiles {
    /// Checks a signed link's `expires` and `signature` for `key`: any fault is a 403.
    fn check_link(&self, key: &str, q: &HashMap<String, String>) -> Result<(), ApiError> {
        let expires = q
            .get("expires")
            .and_then(|e| e.parse::<i64>().ok())
            .ok_or_else(|| forbidden("the link has no valid expiry"))?;
        let signature = q.get("signature").ok_or_else(|| forbidden("the link is not signed"))?;
        self.signer
            .verify(key, expires, signature, self.clock.now_ms())
            .map_err(|e| match e {
                UrlRefused::BadSignature => forbidden("the link's signature does not match"),
                UrlRefused::Expired => forbidden("the link has expired"),
            })
    }
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
        .route(
            "/uploads/{upload_id}",
            put(local_upload).layer(DefaultBodyLimit::disable()),
        )
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
    // The key signed is the one this path names: a path that normalises differently is refused.
    if key != format!("media/{pni}/{id}") {
        return Err(forbidden("the link does not name stored media"));
    }
    f.check_link(&key, &q)?;
    let mime = f
        .media
        .media(&id)
        .await?
        .and_then(|r| r.mime_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    // Streamed from the folder: a 100 MB document is never held whole.
    match f.blobs.reader(&key).await? {
        Some((size, stream)) => Ok((
            [(header::CONTENT_TYPE, mime), (header::CONTENT_LENGTH, size.to_string())],
            axum::body::Body::from_stream(stream),
        )
            .into_response()),
        None => Err(ApiError::not_found("media")),
    }
}

/// `POST /v1/media?filename=&phone_number_id=`: the file as the raw body, its MIME type as
/// `Content-Type`; `201` with Meta's media id. Without an [`Uploader`] (a deployment that cannot
/// reach Graph) it answers 503.
pub fn upload_router(uploader: Option<Uploader>, keys: ApiKeys) -> Router {
    Router::new()
        .route("/v1/media", post(upload))
        .route("/v1/media/uploads", post(begin_upload))
        .route("/v1/media/uploads/{upload_id}/complete", post(complete_upload))
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
    let uploader = uploads(&uploader)?;
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let r = uploader
        .upload(
            q.get("phone_number_id").map(String::as_str),
            body,
            &mime,
            q.get("filename").map(String::as_str),
        )
        .await?;
    Ok(uploaded(&r))
}

fn uploads(uploader: &Option<Uploader>) -> Result<&Uploader, ApiError> {
    uploader.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sending_not_configured",
            "uploads go to Meta: set WHATSAPP_ACCESS_TOKEN (locally, the sandbox plays Meta)",
        )
    })
}

/// The answer to a finished upload, direct or through an upload URL.
fn uploaded(r: &MediaRecord) -> Response {
    (StatusCode::CREATED, Json(file_facts(r))).into_response()
}

/// What every media answer says of the file.
fn file_facts(r: &MediaRecord) -> serde_json::Value {
    json!({
        "id": r.id,
        "mime_type": r.mime_type,
        "sha256": r.sha256,
        "file_size": r.file_size,
        "filename": r.filename,
    })
}

/// A path-only URL (the local stack's own) made absolute with the host the caller used.
fn absolute(url: String, headers: &HeaderMap) -> String {
    if url.starts_with('/') {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:8080");
        format!("http://{host}{url}")
    } else {
        url
    }
}

/// `POST /v1/media/uploads` `{"mime_type","file_size","filename"?,"phone_number_id"?}`: a URL to
/// `PUT` a file too large for the API (documents up to 100 MB, audio and video up to 16 MB).
async fn begin_upload(
    State(uploader): State<Arc<Option<Uploader>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uploader = uploads(&uploader)?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("body is not JSON: {e}"),
        )
    })?;
    let field = |name: &'static str, reason: &str| InvalidInput {
        field: name,
        reason: reason.into(),
    };
    let mime = v
        .get("mime_type")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| field("mime_type", "required: the file's MIME type"))?;
    let size = v
        .get("file_size")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| field("file_size", "required: the file's size in bytes"))?;
    let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
    let t = uploader
        .begin(text("phone_number_id"), mime, size, text("filename"))
        .await?;
    let answer = json!({
        "upload_id": t.upload_id,
        "upload_url": absolute(t.upload_url, &headers),
        "expires_at": rfc3339(t.expires_at_ms),
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /v1/media/uploads/{upload_id}/complete`: the file goes to Meta; the answer is a direct
/// upload's.
async fn complete_upload(
    State(uploader): State<Arc<Option<Uploader>>>,
    Path(upload_id): Path<String>,
) -> Result<Response, ApiError> {
    let r = uploads(&uploader)?.complete(&upload_id).await?;
    Ok(uploaded(&r))
}

/// `PUT /uploads/{upload_id}?expires=&signature=`: the local stack taking the file an upload URL
/// was handed out for, streamed to its folder. A wrong or expired signature is a 403.
async fn local_upload(
    State(f): State<LocalFiles>,
    Path(upload_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    if !upload_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(forbidden("the link does not name an upload"));
    }
    let key = format!("uploads/{upload_id}");
    f.check_link(&key, &q)?;
    let limit = MediaKind::Document.limit_bytes();
    let mut writer = f.blobs.writer(&key, "application/octet-stream").await?;
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                writer.abort().await?;
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("body: {e}"),
                ));
            }
        };
        total += chunk.len() as u64;
        if total > limit {
            writer.abort().await?;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("over the {limit}-byte limit of the largest media WhatsApp takes"),
            )
            .with_details(json!({"limit": limit})));
        }
        writer.write(&chunk).await?;
    }
    writer.commit().await?;
    Ok(StatusCode::OK.into_response())
}
