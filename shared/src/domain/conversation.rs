//! A conversation with one customer, and its 24-hour customer-service window.

use serde::{Deserialize, Serialize};

use crate::timefmt;

use super::Direction;

/// A short preview of the newest message in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastMessage {
    /// Our id.
    pub id: String,
    /// Meta's type.
    #[serde(rename = "type")]
    pub msg_type: String,
    /// Body, caption or title.
    pub text: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
}

/// The conversation object the HTTP API returns: one per customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// Customer's number.
    pub wa_id: Option<String>,
    /// Customer's business-scoped id.
    pub user_id: Option<String>,
    /// Business number of the latest message.
    pub phone_number_id: Option<String>,
    /// Customer's profile name.
    pub name: Option<String>,
    /// Preview of the newest message.
    pub last_message: Option<LastMessage>,
    /// When the newest message was sent or received.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub last_message_at: Option<i64>,
    /// Inbound messages counted once each.
    pub unread: i64,
    /// When the 24-hour customer-service window closes.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub window_expires_at: Option<i64>,
    /// Whether free-form messages may be sent now.
    pub window_open: bool,
    /// Internal: when the customer last wrote.
    #[serde(skip)]
    pub last_inbound_ms: Option<i64>,
    /// Internal: when Meta last refused a free-form message because the window was closed.
    #[serde(skip)]
    pub window_closed_ms: Option<i64>,
}

/// The 24-hour customer-service window, in milliseconds.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

impl Conversation {
    /// Fills the window fields from the last inbound time and the current time.
    pub fn with_window(mut self, now_ms: i64) -> Self {
        let mut expires = self.last_inbound_ms.map(|t| t + WINDOW_MS);
        // Meta said the window is closed (error 131047) after the customer's last message: trust it.
        if let (Some(closed), Some(inbound)) = (self.window_closed_ms, self.last_inbound_ms)
            && closed >= inbound
        {
            expires = expires.map(|e| e.min(closed));
        }
        self.window_expires_at = expires;
        self.window_open = expires.is_some_and(|e| now_ms < e);
        self
    }
}
