//! The sandbox reviews templates as Meta does: `POST /{version}/{waba_id}/message_templates`
//! holds a new template as PENDING; after the review delay it becomes APPROVED (or REJECTED with
//! `INVALID_FORMAT` when its name contains `reject`) and the sandbox posts the signed
//! `message_template_status_update` webhook. `GET` lists the templates with Meta's paging;
//! `DELETE` removes them by name (and `hsm_id`).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Sandbox, meta_error, unauthorized};
use crate::simulate;

/// How long the sandbox takes to review a template unless told otherwise.
pub const DEFAULT_REVIEW: Duration = Duration::from_millis(2_000);

/// A template the sandbox holds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Held {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) language: String,
    pub(super) category: String,
    pub(super) status: String,
    pub(super) parameter_format: String,
    pub(super) components: Value,
    pub(super) rejected_reason: Option<String>,
}

impl Held {
    /// A template of `status` whose body takes `body_params` positional parameters.
    pub(super) fn simple(name: &str, language: &str, status: &str, body_params: usize) -> Self {
        let params: Vec<String> = (1..=body_params).map(|n| format!("{{{{{n}}}}}")).collect();
        let text = if params.is_empty() {
            "Hello from the sandbox".to_owned()
        } else {
            format!("Hello {} from the sandbox", params.join(" and "))
        };
        Self {
            id: new_id(),
            name: name.to_owned(),
            language: language.to_owned(),
            category: "UTILITY".into(),
            status: status.to_owned(),
            parameter_format: "POSITIONAL".into(),
            components: json!([{"type": "BODY", "text": text}]),
            rejected_reason: None,
        }
    }

    /// `{{..}}` placeholders of the body: the body parameters a send must give.
    pub(super) fn body_params(&self) -> usize {
        let body = self
            .components
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
            })
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut seen: Vec<String> = wabridge::templates::rules::placeholders(body);
        seen.sort();
        seen.dedup();
        seen.len()
    }

    fn listed(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "language": self.language, "status": self.status,
            "category": self.category, "parameter_format": self.parameter_format,
            "components": self.components, "rejected_reason": self.rejected_reason.as_deref().unwrap_or("NONE"),
            "quality_score": {"score": "UNKNOWN"},
        })
    }
}

fn new_id() -> String {
    format!("{}", 1_500_000_000_000_000u64 + u64::from(rand::random::<u32>()))
}

impl Sandbox {
    /// Sets how long a template waits in review before it is approved or rejected.
    pub fn review_templates_after(&self, delay: Duration) {
        self.with(|i| i.review = Some(delay));
    }

    /// Holds every template review until [`Sandbox::release_template_reviews`], so a test can
    /// act on a template while it is certainly still PENDING.
    pub fn hold_template_reviews(&self) {
        self.with(|i| i.holding_reviews = true);
    }

    /// Lets held reviews finish.
    pub fn release_template_reviews(&self) {
        self.with(|i| i.holding_reviews = false);
    }

    /// Changes a held template's status, as Meta does when it pauses or disables one (no webhook).
    pub fn set_template_status(&self, name: &str, language: &str, status: &str) {
        self.with(|i| {
            if let Some(t) = i.templates.get_mut(&(name.to_owned(), language.to_owned())) {
                t.status = status.to_owned();
            }
        });
    }

    /// Forgets a template, as if it had been deleted in Meta's UI (no webhook).
    pub fn forget_template(&self, name: &str, language: &str) {
        self.with(|i| i.templates.remove(&(name.to_owned(), language.to_owned())));
    }

    /// Reviews a new template after the delay and posts Meta's status webhook.
    fn review(&self, key: (String, String), waba_id: String) {
        let delay = self.with(|i| i.review).unwrap_or(DEFAULT_REVIEW);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            while me.with(|i| i.holding_reviews) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let reviewed = me.with(|i| {
                let t = i.templates.get_mut(&key)?;
                let (status, reason) = if t.name.contains("reject") {
                    ("REJECTED", Some("INVALID_FORMAT"))
                } else {
                    ("APPROVED", None)
                };
                t.status = status.into();
                t.rejected_reason = reason.map(str::to_owned);
                Some(t.clone())
            });
            let (Some(t), Some(url)) = (reviewed, me.config.webhook_url.clone()) else {
                return;
            };
            let body = json!({"object": "whatsapp_business_account", "entry": [{
                "id": waba_id, "time": chrono::Utc::now().timestamp(),
                "changes": [{"field": "message_template_status_update", "value": {
                    "event": t.status, "message_template_id": t.id.parse::<u64>().ok(),
                    "message_template_name": t.name, "message_template_language": t.language,
                    "reason": t.rejected_reason.as_deref().unwrap_or("NONE"),
                    "message_template_category": t.category}}]}]});
            let raw = serde_json::to_vec(&body).unwrap_or_default();
            let base = url.trim_end_matches("/webhook").to_owned();
            for _ in 0..5 {
                match simulate::post(&me.http, &base, &me.config.app_secret, &raw).await {
                    Ok(200) => break,
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
    }
}

/// `POST /{version}/{waba_id}/message_templates`.
pub(super) async fn create(
    State(sb): State<Sandbox>,
    Path((_, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = match sb.authorized_json(&headers, &raw) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(name), Some(language), Some(category)) = (s("name"), s("language"), s("category")) else {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "name, language and category are required",
        );
    };
    let key = (name.clone(), language.clone());
    if sb.with(|i| i.templates.contains_key(&key)) {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Content in this language already exists",
        );
    }
    let held = Held {
        id: new_id(),
        name,
        language,
        category: category.to_ascii_uppercase(),
        status: "PENDING".into(),
        parameter_format: s("parameter_format")
            .unwrap_or_else(|| "POSITIONAL".into())
            .to_ascii_uppercase(),
        components: body.get("components").cloned().unwrap_or_else(|| json!([])),
        rejected_reason: None,
    };
    let answer = json!({"id": held.id, "status": held.status, "category": held.category});
    sb.with(|i| i.templates.insert(key.clone(), held));
    sb.review(key, waba_id);
    axum::Json(answer).into_response()
}

/// `GET /{version}/{waba_id}/message_templates?limit=&after=`: Meta's list with its paging.
pub(super) async fn list(
    State(sb): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !sb.has_token(&headers) {
        return unauthorized();
    }
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let start = q.get("after").and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
    let mut all: Vec<Held> = sb.with(|i| i.templates.values().cloned().collect());
    all.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    let page: Vec<Value> = all.iter().skip(start).take(limit).map(Held::listed).collect();
    let end = start + page.len();
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < all.len() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        paging["next"] = json!(format!("http://{host}{}?limit={limit}&after={end}", uri.path()));
    }
    axum::Json(json!({"data": page, "paging": paging})).into_response()
}

/// `DELETE /{version}/{waba_id}/message_templates?name=&hsm_id=`.
pub(super) async fn delete(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !sb.has_token(&headers) {
        return unauthorized();
    }
    let Some(name) = q.get("name") else {
        return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter", "name is required");
    };
    let removed = sb.with(|i| {
        let before = i.templates.len();
        i.templates
            .retain(|(n, _), t| n != name || q.get("hsm_id").is_some_and(|id| *id != t.id));
        before - i.templates.len()
    });
    if removed == 0 {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            &format!("Message template \"{name}\" was not found"),
        );
    }
    axum::Json(json!({"success": true})).into_response()
}
