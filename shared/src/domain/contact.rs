//! A customer as the business knows them: what WhatsApp told us (profile name, first and last
//! message) and what the business keeps itself (its name for them, tags, attributes, opt-out).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::timefmt;

/// What the business keeps about a contact, set only through the contacts API and, for the
/// opt-out, the customer's keywords and Meta's `user_preferences`. Stored as one document beside what messages tell, so a message never
/// overwrites it and an API write never moves first/last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    /// The business's name for the contact; shown instead of the WhatsApp profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Sorted, without repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// String values, usable as template parameters (`{{attr.first_name}}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The contact asked for no more marketing.
    #[serde(default)]
    pub opted_out: bool,
    /// When `opted_out` last changed to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opted_out_at: Option<i64>,
    /// When the latest opt-out choice applied was made: an older one arriving later is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_changed_at: Option<i64>,
    /// When the API created the contact (absent when a message created it first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// When the API last changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// What messages told us about a contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Customer's number.
    pub wa_id: Option<String>,
    /// Customer's business-scoped id.
    pub user_id: Option<String>,
    /// WhatsApp profile name, as last seen.
    pub profile_name: Option<String>,
    /// Business number the customer last wrote to.
    pub phone_number_id: Option<String>,
    /// First message time.
    pub first_seen_at: Option<i64>,
    /// Latest message time.
    pub last_seen_at: Option<i64>,
}

/// The contact object the HTTP API returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// Customer's number.
    pub wa_id: Option<String>,
    /// Customer's business-scoped id.
    pub user_id: Option<String>,
    /// The business's name for the contact, else the WhatsApp profile name.
    pub name: Option<String>,
    /// The WhatsApp profile name, as last seen.
    pub profile_name: Option<String>,
    /// Business number the customer last wrote to.
    pub phone_number_id: Option<String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// No marketing to this contact.
    pub opted_out: bool,
    /// When the contact opted out.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub opted_out_at: Option<i64>,
    /// First message time.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub first_seen_at: Option<i64>,
    /// Latest message time.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub last_seen_at: Option<i64>,
    /// When wabridge first knew the contact: created through the API, or its first message.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub created_at: Option<i64>,
    /// When the business last changed the contact through the API.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub updated_at: Option<i64>,
}

impl Contact {
    /// The view of a stored contact: what messages told and what the business keeps.
    pub fn of(seen: Seen, managed: Managed) -> Self {
        Self {
            name: managed.name.clone().or_else(|| seen.profile_name.clone()),
            created_at: match (managed.created_at, seen.first_seen_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            wa_id: seen.wa_id,
            user_id: seen.user_id,
            profile_name: seen.profile_name,
            phone_number_id: seen.phone_number_id,
            tags: managed.tags,
            attributes: managed.attributes,
            opted_out: managed.opted_out,
            opted_out_at: managed.opted_out_at,
            first_seen_at: seen.first_seen_at,
            last_seen_at: seen.last_seen_at,
            updated_at: managed.updated_at,
        }
    }
}

/// How names are compared in a search: trimmed and lower-cased (Unicode), so `ÉMILE` finds `émile`.
pub fn fold_name(name: &str) -> String {
    name.trim().to_lowercase()
}
