//! Meta's Graph API client: real HTTP (reqwest) with an injected base URL, a timeout, and errors
//! classified by what the sender should do next. The same client talks to Meta and to our sandbox.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::errors::{self, Meaning};
use crate::domain::{ErrorInfo, Wamid};

/// What Graph answered to a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The new message's id.
    pub wamid: Wamid,
    /// The recipient as WhatsApp resolved it (Meta sometimes pads it with spaces; trimmed here).
    pub wa_id: Option<String>,
    /// `accepted`, `held_for_quality_assessment`, … when Meta says.
    pub message_status: Option<String>,
}

/// What the sender should do after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again later with back-off (throttling, Meta's transient errors, 5xx, connection failures).
    Retry,
    /// Meta said no for good: record the error and stop.
    Fail,
    /// The request may have reached Meta (a timeout after sending): do not blindly send again.
    Ambiguous,
}

/// A failed Graph call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Meta's error body.
    #[error("Graph error {code}: {title}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Meta's error code (`131047`, `130429`, …).
        code: i64,
        /// `error_subcode`.
        subcode: Option<i64>,
        /// A short title.
        title: String,
        /// The longer explanation.
        details: Option<String>,
    },
    /// A non-Graph error answer (a proxy's 502 page, say).
    #[error("Graph answered HTTP {status} without an error body")]
    Http {
        /// HTTP status.
        status: u16,
    },
    /// No answer in time after the request was sent: Meta may have accepted it.
    #[error("Graph did not answer in time")]
    Timeout,
    /// The request never reached Graph.
    #[error("could not reach Graph: {0}")]
    Connect(String),
    /// A 2xx answer we could not read.
    #[error("unreadable Graph answer: {0}")]
    Decode(String),
}

impl GraphError {
    /// What to do next.
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::Api { code, status, .. }
                if errors::meaning(*code).is_retryable() || *status == 429 || *status >= 500 =>
            {
                Disposition::Retry
            }
            Self::Api { .. } => Disposition::Fail,
            Self::Http { status: 429 } => Disposition::Retry,
            // A 5xx without Meta's error body came from an edge in front of Graph (a 502 or 504
            // gateway): it may have answered after Meta accepted, so it is not known unsent.
            Self::Http { status } if *status >= 500 => Disposition::Ambiguous,
            Self::Http { .. } => Disposition::Fail,
            Self::Connect(_) => Disposition::Retry,
            Self::Timeout | Self::Decode(_) => Disposition::Ambiguous,
        }
    }

    /// What Meta's code means, when Meta gave one.
    pub fn meaning(&self) -> Option<Meaning> {
        self.code().map(errors::meaning)
    }

    /// Meta's code, when Meta gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The error as stored on a failed message.
    pub fn info(&self) -> ErrorInfo {
        match self {
            Self::Api {
                code, title, details, ..
            } => ErrorInfo {
                code: *code,
                title: title.clone(),
                details: details.clone(),
            },
            other => ErrorInfo {
                code: 0,
                title: other.to_string(),
                details: None,
            },
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    #[serde(default)]
    message: Option<String>,
    code: Value,
    #[serde(default)]
    error_subcode: Option<Value>,
    #[serde(default)]
    error_user_title: Option<String>,
    #[serde(default)]
    error_user_msg: Option<String>,
    #[serde(default)]
    error_data: Option<Value>,
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Reads Meta's error body (`{"error":{"message","code","error_subcode","error_data",...}}`).
pub fn parse_error(status: u16, body: &[u8]) -> GraphError {
    let Ok(ErrorBody { error: e }) = serde_json::from_slice::<ErrorBody>(body) else {
        return GraphError::Http { status };
    };
    let Some(code) = int(&e.code) else {
        return GraphError::Http { status };
    };
    let message = e.message.unwrap_or_default();
    // "(#130429) Rate limit hit" → "Rate limit hit"
    let plain = match message.strip_prefix("(#") {
        Some(rest) => rest.split_once(") ").map_or(message.as_str(), |(_, m)| m).to_owned(),
        None => message.clone(),
    };
    let details = e
        .error_data
        .as_ref()
        .and_then(|d| d.get("details"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(e.error_user_msg);
    GraphError::Api {
        status,
        code,
        subcode: e.error_subcode.as_ref().and_then(int),
        title: e.error_user_title.unwrap_or(plain),
        details,
    }
}

/// Reads a send's success body.
pub fn parse_accepted(body: &[u8]) -> Result<Accepted, GraphError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| GraphError::Decode(e.to_string()))?;
    let m = v
        .pointer("/messages/0")
        .ok_or_else(|| GraphError::Decode("no messages[0]".into()))?;
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::Decode("no message id".into()))?;
    Ok(Accepted {
        wamid: Wamid::parse(id).map_err(|e| GraphError::Decode(e.to_string()))?,
        wa_id: v
            .pointer("/contacts/0/wa_id")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_owned()),
        message_status: m.get("message_status").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Reads `{"success": true}` (Meta sometimes writes `"true"`).
pub fn parse_success(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("success").cloned())
        .is_some_and(|s| s == Value::Bool(true) || s == Value::String("true".into()))
}

/// What Graph says about a media id (`GET /{version}/{media_id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Where the bytes are, for five minutes, to a caller with the access token.
    pub url: String,
    /// MIME type.
    pub mime_type: Option<String>,
    /// SHA-256 of the bytes.
    pub sha256: Option<String>,
    /// Size in bytes.
    pub file_size: Option<u64>,
}

/// Reads Graph's media-URL answer (Meta writes `file_size` as a number or a string).
pub fn parse_media_info(body: &[u8]) -> Result<MediaInfo, GraphError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| GraphError::Decode(e.to_string()))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(MediaInfo {
        url: s("url").ok_or_else(|| GraphError::Decode("no url".into()))?,
        mime_type: s("mime_type"),
        sha256: s("sha256"),
        file_size: v
            .get("file_size")
            .and_then(|f| f.as_u64().or_else(|| f.as_str()?.parse().ok())),
    })
}

/// A failed call to fetch media or upload it (idempotent reads and uploads, so whether it
/// reached Graph does not matter): a timeout, or Graph unreachable.
fn unsent(e: reqwest::Error) -> GraphError {
    if e.is_timeout() {
        GraphError::Timeout
    } else {
        GraphError::Connect(e.without_url().to_string())
    }
}

/// The body of a 2xx answer, or Meta's error from any other.
async fn answer(res: reqwest::Response) -> Result<axum::body::Bytes, GraphError> {
    let status = res.status().as_u16();
    let body = res.bytes().await.map_err(|_| GraphError::Timeout)?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(parse_error(status, &body))
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The client.
#[derive(Clone)]
pub struct GraphClient {
    pub(super) http: reqwest::Client,
    /// For media bytes, both ways: no overall deadline (a 100 MB document takes a while), only
    /// one between reads, so a stalled transfer still ends.
    transfers: reqwest::Client,
    pub(super) base: String,
    pub(super) version: String,
    token: SecretString,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// A client for `base` (`https://graph.facebook.com` or the sandbox) and API `version`.
    pub fn new(base: &str, version: &str, token: SecretString, timeout: Duration) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| GraphError::Connect(e.to_string()))?;
        let transfers = reqwest::Client::builder()
            .read_timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| GraphError::Connect(e.to_string()))?;
        Ok(Self {
            http,
            transfers,
            base: base.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
            token,
        })
    }

    async fn post(&self, phone_number_id: &str, body: &Value) -> Result<(u16, Vec<u8>), GraphError> {
        let url = format!("{}/{}/{}/messages", self.base, self.version, phone_number_id);
        let res = self
            .http
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    GraphError::Timeout
                } else if e.is_connect() {
                    GraphError::Connect(e.without_url().to_string())
                } else {
                    // A failure after the request went out (reset mid-answer): Meta may have it.
                    GraphError::Timeout
                }
            })?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await.map_err(|_| GraphError::Timeout)?;
        Ok((status, bytes.to_vec()))
    }

    /// The client for Meta's Graph API as configured (`WHATSAPP_GRAPH_URL`, `WHATSAPP_API_VERSION`,
    /// `WHATSAPP_ACCESS_TOKEN`); a missing token is an error naming the variable.
    pub fn from_config(config: &crate::Config, timeout: Duration) -> Result<Self, crate::config::ConfigError> {
        let token = config
            .access_token
            .clone()
            .ok_or_else(|| crate::config::ConfigError::missing("WHATSAPP_ACCESS_TOKEN"))?;
        Self::new(&config.graph_url, &config.api_version, token, timeout).map_err(|e| crate::config::ConfigError {
            var: "WHATSAPP_GRAPH_URL",
            reason: e.to_string(),
        })
    }

    /// `POST /{version}/{phone_number_id}/messages` with Meta's message object.
    pub async fn send_message(&self, phone_number_id: &str, body: &Value) -> Result<Accepted, GraphError> {
        let (status, bytes) = self.post(phone_number_id, body).await?;
        if (200..300).contains(&status) {
            parse_accepted(&bytes)
        } else {
            Err(parse_error(status, &bytes))
        }
    }

    /// Makes a call whose outcome does not hang on whether it reached Graph (a read, an upload,
    /// a template call Meta refuses to repeat) with the access token: the body of a 2xx answer,
    /// or Meta's error.
    pub(super) async fn call(&self, req: reqwest::RequestBuilder) -> Result<axum::body::Bytes, GraphError> {
        let res = req
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(unsent)?;
        answer(res).await
    }

    /// `GET /{version}/{media_id}`: where a media object's bytes are, and their hash and size.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, GraphError> {
        let url = format!("{}/{}/{}", self.base, self.version, urlencode(media_id));
        parse_media_info(&self.call(self.http.get(url)).await?)
    }

    /// `POST /{version}/{phone_number_id}/media` (multipart, `messaging_product=whatsapp`): uploads a
    /// file Meta keeps for 30 days, and answers its media id.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        bytes: axum::body::Bytes,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let len = bytes.len() as u64;
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(bytes), len);
        self.upload_part(phone_number_id, part, mime_type, filename).await
    }

    /// [`GraphClient::upload_media`] with the bytes streamed from `body` (`len` of them), so a large
    /// file goes from storage to Meta without being held in memory.
    pub async fn upload_media_stream(
        &self,
        phone_number_id: &str,
        body: crate::ports::BlobStream,
        len: u64,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), len);
        self.upload_part(phone_number_id, part, mime_type, filename).await
    }

    async fn upload_part(
        &self,
        phone_number_id: &str,
        part: reqwest::multipart::Part,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let url = format!("{}/{}/{}/media", self.base, self.version, urlencode(phone_number_id));
        let part = part
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(|e| GraphError::Decode(format!("MIME type {mime_type:?}: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", part);
        let body = self.call(self.transfers.post(url).multipart(form)).await?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| GraphError::Decode(e.to_string()))?;
        v.get("id")
            .and_then(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .or_else(|| i.as_u64().map(|n| n.to_string()))
            })
            .ok_or_else(|| GraphError::Decode("no media id".into()))
    }

    /// Starts downloading media bytes from a URL [`GraphClient::media_info`] gave, with the
    /// access token; the caller reads the body chunk by chunk. An error answer is returned as it
    /// came (its status says whether the URL has expired).
    pub async fn download(&self, url: &str) -> Result<reqwest::Response, GraphError> {
        self.transfers
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(unsent)
    }

    /// Marks a customer's message read, optionally showing the typing indicator (one call).
    pub async fn mark_read(&self, phone_number_id: &str, wamid: &Wamid, typing: bool) -> Result<(), GraphError> {
        let mut body =
            serde_json::json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid.as_str()});
        if typing {
            body["typing_indicator"] = serde_json::json!({"type": "text"});
        }
        let (status, bytes) = self.post(phone_number_id, &body).await?;
        if (200..300).contains(&status) && parse_success(&bytes) {
            Ok(())
        } else if (200..300).contains(&status) {
            Err(GraphError::Decode("no success flag".into()))
        } else {
            Err(parse_error(status, &bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_error_bodies_keep_code_subcode_title_and_details() {
        let body = br#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
            "error_data":{"messaging_product":"whatsapp","details":"Too many messages"},"error_subcode":2494055}}"#;
        let e = parse_error(400, body);
        assert_eq!(
            e,
            GraphError::Api {
                status: 400,
                code: 130429,
                subcode: Some(2494055),
                title: "Rate limit hit".into(),
                details: Some("Too many messages".into())
            }
        );
        assert_eq!(e.disposition(), Disposition::Retry);
    }

    #[test]
    fn permanent_codes_fail_and_transient_ones_retry() {
        let api = |code| GraphError::Api {
            status: 400,
            code,
            subcode: None,
            title: String::new(),
            details: None,
        };
        for code in [4, 80007, 130429, 131000, 131016, 131048, 131056, 131057] {
            assert_eq!(api(code).disposition(), Disposition::Retry, "{code}");
        }
        for code in [
            100, 131026, 131030, 131047, 131049, 131051, 132000, 132001, 132012, 132015, 132016, 190, 368,
        ] {
            assert_eq!(api(code).disposition(), Disposition::Fail, "{code}");
        }
        // Meta's spam rate limit slows the whole number, as its throughput limit does.
        assert_eq!(
            crate::graph::errors::meaning(131048),
            crate::graph::errors::meaning(130429)
        );
        assert_eq!(GraphError::Http { status: 503 }.disposition(), Disposition::Ambiguous);
        assert_eq!(GraphError::Http { status: 429 }.disposition(), Disposition::Retry);
        assert_eq!(GraphError::Http { status: 404 }.disposition(), Disposition::Fail);
        assert_eq!(GraphError::Timeout.disposition(), Disposition::Ambiguous);
        assert_eq!(GraphError::Connect("refused".into()).disposition(), Disposition::Retry);
    }

    #[test]
    fn a_success_body_gives_the_wamid_and_the_trimmed_wa_id() {
        let a = parse_accepted(
            br#"{"messaging_product":"whatsapp","contacts":[{"input":"48 1","wa_id":"481 "}],
            "messages":[{"id":"wamid.X","message_status":"accepted"}]}"#,
        )
        .unwrap();
        assert_eq!(
            (a.wamid.as_str(), a.wa_id.as_deref(), a.message_status.as_deref()),
            ("wamid.X", Some("481"), Some("accepted"))
        );
        assert!(matches!(parse_accepted(b"{}"), Err(GraphError::Decode(_))));
    }

    #[test]
    fn success_flags_may_be_strings() {
        assert!(parse_success(br#"{"success":true}"#));
        assert!(parse_success(br#"{"success":"true"}"#));
        assert!(!parse_success(br#"{"success":false}"#));
    }
}
