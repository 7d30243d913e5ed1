//! Message templates: our always-current copy of the WABA's templates, how Meta's template
//! webhooks change it, the checks a new template passes before it goes to Meta ([`rules`]), and
//! the checks a template send passes before it is queued ([`params`]).
//!
//! The copy changes from four places: a create through our API, a sync from Graph, Meta's
//! template webhooks (through a reaction) and a delete. Each aspect of a template (status,
//! category, quality, components) remembers when it was last set, so an older webhook never
//! overwrites a newer fact whatever order they arrive in; writes use a revision check, never
//! read-then-write.

pub mod catalog;
pub mod events;
pub mod params;
pub mod rules;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Meta's status of an approved template that may be sent.
pub const APPROVED: &str = "APPROVED";
/// What a template deleted at Meta (or gone from it) is kept as.
pub const DELETED: &str = "DELETED";

/// When each aspect of a template was last set (Unix ms: a webhook entry's `time`, or the moment
/// of a sync or create), so older news never overwrites newer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamps {
    /// Status (and rejection reason).
    pub status: i64,
    /// Category.
    pub category: i64,
    /// Quality score.
    pub quality: i64,
    /// Components.
    pub components: i64,
}

/// One template in one language, as we know it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Meta's template id, once known.
    pub id: Option<String>,
    /// The name (`order_confirmation`).
    pub name: String,
    /// The language code (`en_US`).
    pub language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: Option<String>,
    /// Meta's status, as Meta spells it (APPROVED, PENDING, REJECTED, PAUSED, …, or a new one).
    pub status: String,
    /// GREEN, YELLOW, RED or UNKNOWN.
    pub quality: String,
    /// POSITIONAL or NAMED.
    pub parameter_format: String,
    /// Meta's components (HEADER, BODY, FOOTER, BUTTONS).
    pub components: Value,
    /// Why Meta rejected it.
    pub rejected_reason: Option<String>,
    /// The category before Meta changed it.
    pub previous_category: Option<String>,
    /// When our copy last changed (Unix ms).
    pub updated_at: i64,
    /// Known only from a webhook: the next sync fills in the rest.
    #[serde(default)]
    pub needs_sync: bool,
    /// When each aspect was last set.
    #[serde(default)]
    pub stamps: Stamps,
    /// The stored revision this copy was read at (0: not stored); a write succeeds only if the
    /// store is still at it. The store keeps it beside the document, not in it.
    #[serde(skip)]
    pub rev: u64,
}

impl Template {
    /// A template known by name and language only: pending, no components.
    pub fn new(name: &str, language: &str) -> Self {
        Self {
            id: None,
            name: name.to_owned(),
            language: language.to_owned(),
            category: None,
            status: "PENDING".into(),
            quality: "UNKNOWN".into(),
            parameter_format: "POSITIONAL".into(),
            components: Value::Array(Vec::new()),
            rejected_reason: None,
            previous_category: None,
            updated_at: 0,
            needs_sync: false,
            stamps: Stamps::default(),
            rev: 0,
        }
    }

    /// Reads a template as Graph lists it (`GET /{waba_id}/message_templates`), as of `now`.
    pub fn from_graph(v: &Value, now: i64) -> Option<Self> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let t = Self {
            id: v.get("id").and_then(id_text),
            category: s("category"),
            status: s("status").unwrap_or_else(|| "PENDING".into()),
            quality: v
                .get("quality_score")
                .and_then(|q| q.get("score"))
                .and_then(Value::as_str)
                .unwrap_or("UNKNOWN")
                .to_owned(),
            parameter_format: s("parameter_format").unwrap_or_else(|| "POSITIONAL".into()),
            components: v.get("components").cloned().unwrap_or(Value::Array(Vec::new())),
            rejected_reason: s("rejected_reason").filter(|r| r != "NONE"),
            previous_category: s("previous_category"),
            ..Self::new(&s("name")?, &s("language")?)
        };
        Some(t.as_of(now))
    }

    /// Every aspect dated `now`, to the second: Meta dates its webhooks in whole seconds, and a
    /// webhook from the same second as our read or create is the newer news.
    pub fn as_of(mut self, now: i64) -> Self {
        let second = now - now.rem_euclid(1000);
        self.updated_at = now;
        self.stamps = Stamps {
            status: second,
            category: second,
            quality: second,
            components: second,
        };
        self
    }

    /// The same template gone: `DELETED` as of `now`.
    pub fn deleted(&self, now: i64) -> Self {
        Self {
            status: DELETED.into(),
            stamps: Stamps {
                status: now,
                ..self.stamps
            },
            ..self.clone()
        }
    }

    /// Whether a send of this template may go to Meta.
    pub fn sendable(&self) -> bool {
        self.status == APPROVED
    }

    /// The text of the component of `kind` (`BODY`, `HEADER`, …).
    pub fn component(&self, kind: &str) -> Option<&Value> {
        self.components.as_array()?.iter().find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    }

    /// What the API shows: every field but the bookkeeping.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "quality": self.quality,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "rejected_reason": self.rejected_reason,
            "previous_category": self.previous_category,
            "updated_at": crate::timefmt::rfc3339(self.updated_at),
        })
    }
}

/// An id Meta writes as a number or a string.
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Which templates a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this name.
    pub name: Option<String>,
    /// Only this language.
    pub language: Option<String>,
    /// Continue after this name and language.
    pub after: Option<(String, String)>,
    /// At most this many.
    pub limit: u32,
}

impl TemplateQuery {
    /// Whether `t` passes the filters (not the paging).
    pub fn admits(&self, t: &Template) -> bool {
        let is = |want: &Option<String>, got: Option<&str>| want.as_deref().is_none_or(|w| Some(w) == got);
        is(&self.status, Some(&t.status))
            && is(&self.category, t.category.as_deref())
            && is(&self.name, Some(&t.name))
            && is(&self.language, Some(&t.language))
    }
}
