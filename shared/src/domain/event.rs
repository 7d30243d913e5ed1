//! Webhook changes kept raw for features that come later.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A webhook change we do not model yet (template updates, account alerts, history, calls, value-level
/// errors, unparseable items): kept whole so later features can replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    /// Content hash: the same change delivered twice is stored once.
    pub id: String,
    /// The webhook `field` (`message_template_status_update`, …).
    pub field: String,
    /// What part of the change it is (`change`, `errors`, `status`, `message`).
    pub kind: String,
    /// The WABA id of the entry.
    pub entry_id: Option<String>,
    /// The business number, when the change names one.
    pub phone_number_id: Option<String>,
    /// The item exactly as received.
    pub payload: Value,
    /// The entry's `time` (Unix ms), which orders changes about the same thing (template
    /// webhooks); not part of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_time_ms: Option<i64>,
}

impl RawEvent {
    /// Builds an event whose id is the hash of what identifies it.
    pub fn new(
        field: &str,
        kind: &str,
        entry_id: Option<String>,
        phone_number_id: Option<String>,
        payload: Value,
    ) -> Self {
        let mut h = Sha256::new();
        for part in [
            field,
            kind,
            entry_id.as_deref().unwrap_or(""),
            phone_number_id.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(payload.to_string().as_bytes());
        Self {
            id: hex::encode(&h.finalize()[..16]),
            field: field.to_owned(),
            kind: kind.to_owned(),
            entry_id,
            phone_number_id,
            payload,
            entry_time_ms: None,
        }
    }

    /// The same event, dated by its entry's `time`.
    pub fn at(mut self, entry_time_ms: Option<i64>) -> Self {
        self.entry_time_ms = entry_time_ms;
        self
    }
}
