//! The sandbox's part of Meta's media API: media ids it knows, `GET /{version}/{media_id}` answering
//! Meta's media-URL body, and the URLs themselves, which need the access token and expire after
//! five minutes as Meta's do. Faults for the tests: a URL that has expired once, a 5xx, wrong
//! bytes (so the hash no longer matches).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use super::{Sandbox, meta_error, title_of, unauthorized};

/// How long a media URL stays valid, as Meta's do.
const URL_TTL_MS: i64 = 5 * 60 * 1000;

/// One fault, consumed by the next download of the media URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFault {
    /// The URL answers 403 as if it had expired.
    ExpiredUrl,
    /// The URL answers 503.
    ServerError,
    /// The URL serves the bytes with one changed: the hash no longer matches.
    WrongBytes,
    /// The URL serves half the bytes, then stalls this long before the rest: a slow CDN, or a
    /// connection that dies mid-file.
    SlowBody(std::time::Duration),
}

/// A media object the sandbox holds.
#[derive(Debug, Clone)]
pub(super) struct Held {
    bytes: Bytes,
    mime_type: String,
}

/// What the sandbox knows of media.
#[derive(Debug, Default)]
pub(super) struct MediaState {
    held: HashMap<String, Held>,
    faults: std::collections::VecDeque<MediaFault>,
    downloads: HashMap<String, usize>,
}

/// Meta's SHA-256 of `bytes` as its media-URL answer gives it (hex), and as its webhooks give it
/// (base64).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The base64 form webhooks carry.
pub fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

impl Sandbox {
    /// Holds `bytes` as a media object, as if a customer had sent it, and returns its media id.
    pub fn add_media(&self, bytes: impl Into<Bytes>, mime_type: &str) -> String {
        let id = format!("{}", 1_000_000_000_000_000u64 + u64::from(rand::random::<u32>()));
        let held = Held {
            bytes: bytes.into(),
            mime_type: mime_type.to_owned(),
        };
        self.with(|i| i.media.held.insert(id.clone(), held));
        id
    }

    /// Queues faults for the next downloads of media URLs, in order.
    pub fn inject_media(&self, faults: impl IntoIterator<Item = MediaFault>) {
        self.with(|i| i.media.faults.extend(faults));
    }

    /// The bytes and MIME type held as `media_id` (sent by a customer or uploaded).
    pub fn held_media(&self, media_id: &str) -> Option<(Bytes, String)> {
        self.with(|i| {
            i.media
                .held
                .get(media_id)
                .map(|h| (h.bytes.clone(), h.mime_type.clone()))
        })
    }

    /// How many times the bytes of `media_id` were served.
    pub fn downloads(&self, media_id: &str) -> usize {
        self.with(|i| i.media.downloads.get(media_id).copied().unwrap_or(0))
    }
}

/// `POST /{version}/{phone_number_id}/media` (multipart: `messaging_product`, `type`, `file`):
/// holds the file and answers `{"id"}`, as Meta does.
pub(super) async fn upload(State(sb): State<Sandbox>, req: Request) -> Response {
    // The token first: nothing about the body is said to a caller without it.
    if !sb.has_token(req.headers()) {
        return unauthorized();
    }
    let mut form = match Multipart::from_request(req, &sb).await {
        Ok(f) => f,
        Err(e) => return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", &e.body_text()),
    };
    let (mut product, mut declared, mut file) = (None, None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", &e.body_text()),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let mime = field.content_type().map(str::to_owned);
        let Ok(data) = field.bytes().await else {
            return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", "unreadable part");
        };
        match name.as_str() {
            "messaging_product" => product = Some(String::from_utf8_lossy(&data).into_owned()),
            "type" => declared = Some(String::from_utf8_lossy(&data).into_owned()),
            "file" => file = Some((data, mime)),
            _ => {}
        }
    }
    if product.as_deref() != Some("whatsapp") {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "messaging_product must be whatsapp",
        );
    }
    let Some((bytes, part_mime)) = file else {
        return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", "file is required");
    };
    let mime = declared
        .or(part_mime)
        .unwrap_or_else(|| "application/octet-stream".into());
    if wabridge::media::MediaKind::of_mime(&mime).is_none() {
        return meta_error(
            StatusCode::BAD_REQUEST,
            131053,
            title_of(131053),
            &format!("{mime} is not a supported media type"),
        );
    }
    let id = sb.add_media(bytes, &mime);
    axum::Json(json!({"id": id})).into_response()
}

/// `GET /{version}/{media_id}`: Meta's media-URL answer.
pub(super) async fn media_url(
    State(sb): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !sb.has_token(&headers) {
        return unauthorized();
    }
    let Some(held) = sb.with(|i| i.media.held.get(&id).cloned()) else {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            &format!("Unsupported get request. Object with ID '{id}' does not exist"),
        );
    };
    // The URL lives where this request arrived (under `/sandbox` on the local stack).
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let prefix = uri
        .path()
        .strip_suffix(&format!("/{version}/{id}"))
        .unwrap_or_default()
        .to_owned();
    let expires = chrono::Utc::now().timestamp_millis() + URL_TTL_MS;
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{host}{prefix}/_media/{id}?expires={expires}"),
        "mime_type": held.mime_type,
        "sha256": sha256_hex(&held.bytes),
        "file_size": held.bytes.len(),
        "id": id,
    }))
    .into_response()
}

/// `GET /_media/{media_id}?expires=`: the bytes, to a caller with the access token, until the URL
/// expires.
pub(super) async fn media_bytes(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !sb.has_token(&headers) {
        return (StatusCode::UNAUTHORIZED, "token required").into_response();
    }
    let expires = q.get("expires").and_then(|e| e.parse::<i64>().ok()).unwrap_or(0);
    if expires <= chrono::Utc::now().timestamp_millis() {
        return (StatusCode::FORBIDDEN, "URL signature expired").into_response();
    }
    let Some(held) = sb.with(|i| i.media.held.get(&id).cloned()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    // Served from the shared buffer, not a copy: a 100 MB file costs the sandbox nothing more.
    let fault = sb.with(|i| i.media.faults.pop_front());
    if let Some(MediaFault::SlowBody(stall)) = fault {
        sb.with(|i| *i.media.downloads.entry(id).or_default() += 1);
        let half = held.bytes.len() / 2;
        let (first, rest) = (held.bytes.slice(..half), held.bytes.slice(half..));
        let parts = futures::stream::iter([(first, Duration::ZERO), (rest, stall)]).then(|(part, wait)| async move {
            tokio::time::sleep(wait).await;
            Ok::<_, std::convert::Infallible>(part)
        });
        return ([(header::CONTENT_TYPE, held.mime_type)], Body::from_stream(parts)).into_response();
    }
    let bytes = match fault {
        Some(MediaFault::ExpiredUrl) => return (StatusCode::FORBIDDEN, "URL signature expired").into_response(),
        Some(MediaFault::ServerError) => return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response(),
        Some(MediaFault::WrongBytes) => {
            let mut wrong = held.bytes.to_vec();
            match wrong.first_mut() {
                Some(b) => *b ^= 0xff,
                None => wrong.push(0),
            }
            Bytes::from(wrong)
        }
        Some(MediaFault::SlowBody(_)) | None => held.bytes.clone(),
    };
    sb.with(|i| *i.media.downloads.entry(id).or_default() += 1);
    ([(header::CONTENT_TYPE, held.mime_type)], bytes).into_response()
}
