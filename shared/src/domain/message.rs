//! A message as stored, whichever way it went.

use super::{CustomerKey, Json, MessageId, Wamid};
use serde::{Deserialize, Serialize};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer to the business.
    Inbound,
    /// From the business to the customer.
    Outbound,
}

/// An error Meta attached to a message or status: `{"code","title","details"}` in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Meta's numeric error code.
    pub code: i64,
    /// Meta's short title.
    pub title: String,
    /// The longer explanation, when Meta gives one.
    pub details: Option<String>,
}

/// A message as kept in the messages table: everything but its delivery status, which lives in the
/// status record keyed by wamid so that statuses can arrive before, after or without the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Our id.
    pub id: MessageId,
    /// Meta's id, once known.
    pub wamid: Option<Wamid>,
    /// The business number it went through.
    pub phone_number_id: String,
    /// Which conversation it belongs to.
    pub customer: CustomerKey,
    /// Customer's number, when Meta gave it.
    pub wa_id: Option<String>,
    /// Customer's business-scoped user id, when Meta gave it.
    pub user_id: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Meta's type string (`text`, `image`, …).
    pub msg_type: String,
    /// Body, caption or reply title.
    pub text: Option<String>,
    /// Meta's type-specific object as received.
    pub content: Json,
    /// Meta's `context` object (reply, forwarded, referred product), as received.
    pub context: Option<Json>,
    /// Ad referral for click-to-WhatsApp messages, as received.
    pub referral: Option<Json>,
    /// The first error Meta attached to the message itself.
    pub error: Option<ErrorInfo>,
    /// Own status before Meta reports any: `received` for inbound, `queued`/`accepted` for outbound.
    pub status: String,
    /// Meta's timestamp (inbound) or creation time (outbound), Unix ms.
    pub timestamp_ms: i64,
    /// Whether this message opens or refreshes the 24-hour customer-service window.
    pub opens_window: bool,
    /// Profile name Meta sent with it.
    pub profile_name: Option<String>,
    /// Top-level fields of Meta's message we do not model, kept so nothing is lost.
    #[serde(default)]
    pub extra: Option<Json>,
}

impl StoredMessage {
    /// The key that orders messages inside a conversation: time, then id, so pages are stable while
    /// new messages arrive.
    pub fn seq(&self) -> String {
        seq_key(self.timestamp_ms, &self.id.to_string())
    }

    /// Shows what automation did with the message (kept beside it by the store) under
    /// `extra.automation`, where the message view reads it.
    pub fn show_automation(&mut self, outcome: &str) {
        let Ok(outcome) = serde_json::from_str::<serde_json::Value>(outcome) else {
            return;
        };
        let mut extra = match self.extra.as_ref().map(Json::value) {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        extra.insert("automation".into(), outcome);
        self.extra = Some(Json::from_value(&serde_json::Value::Object(extra)));
    }
}

/// Builds a sortable key from a time and a tiebreaker (zero-padded so text order is time order).
pub fn seq_key(ms: i64, tiebreak: &str) -> String {
    format!("{:015}#{tiebreak}", ms.max(0))
}
