//! The one place errors become HTTP: `{"error":{"code","message","details"}}` with the right status.
//! Infrastructure failures are logged once here with their source chain and answered opaquely.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::InvalidInput;
use crate::media::upload::UploadError;
use crate::outbound::enqueue::SendError;
use crate::outbound::read_receipt::ReadReceiptError;
use crate::outbound::request::FieldError;
use crate::ports::PortError;
use crate::templates::catalog::{CatalogError, SendCheck};
use crate::timefmt::rfc3339;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
    retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with a status, a stable machine-readable code and a message for people.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after_s: None,
        }
    }

    /// Tells the client when to come back: a `Retry-After` header in whole seconds.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 400 for query parameters that are wrong, one `details` entry each.
    pub fn invalid_query(details: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "the query parameters are not valid",
        )
        .with_details(field_details(&details))
    }

    /// 400 for a body whose fields are wrong, one `details` entry each.
    pub fn validation(message: &str, details: &[FieldError]) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message.to_owned()).with_details(field_details(details))
    }

    /// 401 for a missing or wrong API key.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// 404 for something that does not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body: `{"error":{"code","message","details"}}`.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid { code, message, details } => {
                Self::new(StatusCode::BAD_REQUEST, code, message).with_details(field_details(&details))
            }
            SendError::WindowClosed { window_expires_at } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "window_closed",
                "the customer has not written in the last 24 hours: only a template message can be sent",
            )
            .with_details(json!({
                "window_expires_at": window_expires_at.and_then(rfc3339),
                "hint": "send type \"template\" to re-open the conversation",
            })),
            SendError::QueueUnavailable(source) => {
                tracing::error!(error = %error_chain(&source), "outbound queue unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "queue_unavailable",
                    "the message could not be queued; retry",
                )
            }
            SendError::Template(check) => check.into(),
            SendError::OptedOut => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "opted_out",
                "the customer opted out of marketing messages: send a utility or authentication template, or nothing",
            ),
            SendError::Port(p) => p.into(),
        }
    }
}

/// Field errors as `details` entries.
fn field_details(details: &[FieldError]) -> Value {
    details
        .iter()
        .map(|d| json!({"field": d.field, "code": d.code, "reason": d.reason}))
        .collect()
}

impl From<SendCheck> for ApiError {
    fn from(e: SendCheck) -> Self {
        match e {
            SendCheck::NotFound { ref name, ref language } => {
                let details = json!({"name": name, "language": language});
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "template_not_found", e.to_string()).with_details(details)
            }
            SendCheck::NotSendable {
                ref name,
                ref language,
                ref status,
            } => {
                let details = json!({"name": name, "language": language, "status": status});
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "template_not_sendable", e.to_string())
                    .with_details(details)
            }
            SendCheck::Params(details) => Self::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "the template's parameters do not match the template",
            )
            .with_details(field_details(&details)),
            SendCheck::Port(p) => p.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotConfigured => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "templates_not_configured",
                e.to_string(),
            ),
            CatalogError::Invalid(details) => Self::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "the template does not meet WhatsApp's rules",
            )
            .with_details(field_details(&details)),
            CatalogError::Duplicate { .. } => Self::new(StatusCode::CONFLICT, "template_exists", e.to_string()),
            CatalogError::NotFound => Self::not_found("template"),
            CatalogError::Graph(g) => {
                let info = g.info();
                Self::new(StatusCode::BAD_GATEWAY, "graph_error", info.title)
                    .with_details(json!({"code": info.code, "details": info.details}))
            }
            CatalogError::Port(p) => p.into(),
        }
    }
}

impl From<ReadReceiptError> for ApiError {
    fn from(e: ReadReceiptError) -> Self {
        match e {
            ReadReceiptError::UnknownMessage | ReadReceiptError::UnknownConversation => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            ReadReceiptError::NotInbound => Self::new(StatusCode::BAD_REQUEST, "validation_failed", e.to_string()),
            ReadReceiptError::Graph(g) => {
                let info = g.info();
                Self::new(StatusCode::BAD_GATEWAY, "graph_error", info.title)
                    .with_details(json!({"code": info.code, "details": info.details}))
            }
            ReadReceiptError::Port(p) => p.into(),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::UnsupportedType(_) => Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", e.to_string())
                .with_details(json!({"hint": "send the file's MIME type as Content-Type: image/jpeg, image/png, image/webp, video/mp4, video/3gpp, audio/aac, audio/amr, audio/mpeg, audio/mp4, audio/ogg, text/plain, application/pdf or an Office type"})),
            UploadError::TooLarge { size, limit, why } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.to_string())
                    .with_details(json!({"size": size, "limit": limit, "limit_of": why}))
            }
            UploadError::Empty => Self::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()),
            UploadError::UnknownUpload(_) => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            UploadError::Expired(_) => Self::new(StatusCode::GONE, "upload_expired", e.to_string()),
            UploadError::NotUploaded(_) => Self::new(StatusCode::CONFLICT, "upload_incomplete", e.to_string()),
            UploadError::CopyGone(_) => Self::new(StatusCode::GONE, "media_expired", e.to_string()),
            UploadError::SizeMismatch { declared, actual } => {
                Self::new(StatusCode::BAD_REQUEST, "size_mismatch", e.to_string())
                    .with_details(json!({"declared": declared, "actual": actual}))
            }
            UploadError::Graph(g) => {
                let info = g.info();
                Self::new(StatusCode::BAD_GATEWAY, "graph_error", info.title)
                    .with_details(json!({"code": info.code, "details": info.details}))
            }
            UploadError::Port(p) => p.into(),
        }
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
            .with_details(json!([{ "field": e.field, "reason": e.reason }]))
    }
}

impl From<PortError> for ApiError {
    fn from(e: PortError) -> Self {
        let chain = error_chain(&e);
        tracing::error!(error = %chain, "request failed on infrastructure");
        match e {
            PortError::Unavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage is unavailable; retry shortly",
            ),
            PortError::Misconfigured { .. } | PortError::Invalid { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

/// Renders an error and its sources on one line, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut res = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misconfigured_deployment_is_an_opaque_500_and_an_outage_a_503() {
        let io = || std::io::Error::other("AccessDeniedException: messages table");
        let e = ApiError::from(PortError::misconfigured("record inbound", io()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = e.body().to_string();
        assert!(
            body.contains("\"internal\"") && !body.contains("retry") && !body.contains("AccessDenied"),
            "{body}"
        );
        let e = ApiError::from(PortError::unavailable("record inbound", io()));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
