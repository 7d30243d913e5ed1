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
    /// Inbound messages after the one last marked read, each counted once, up to
    /// [`UNREAD_SHOWN`].
    pub unread: i64,
    /// Whether more than [`UNREAD_SHOWN`] are unread (`unread` then shows the cap).
    pub unread_more: bool,
    /// When the 24-hour customer-service window with `phone_number_id` closes.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub window_expires_at: Option<i64>,
    /// Whether free-form messages may be sent now.
    pub window_open: bool,
    /// Internal: when the customer last wrote to `phone_number_id`.
    #[serde(skip)]
    pub last_inbound_ms: Option<i64>,
    /// Internal: when Meta last refused a free-form message from `phone_number_id` because the
    /// window was closed.
    #[serde(skip)]
    pub window_closed_ms: Option<i64>,
    /// Labels escalation rules gave it (`"support"`, `"billing"`), each once, in name order.
    pub labels: Vec<String>,
    /// When a rule last handed it to people.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub escalated_at: Option<i64>,
}

/// The most unread messages a conversation counts exactly; past it, `unread_more` says so. The
/// bound keeps a recount after a mark-read to a few reads, however long the history.
pub const UNREAD_SHOWN: i64 = 1000;

impl Conversation {
    /// Sets `unread` and `unread_more` from a stored count.
    pub fn with_unread(mut self, count: i64) -> Self {
        self.unread = count.clamp(0, UNREAD_SHOWN);
        self.unread_more = count > UNREAD_SHOWN;
        self
    }
}

/// The 24-hour customer-service window, in milliseconds.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The customer-service window between one business number and one customer: it opens (or
/// refreshes) when the customer writes to that number and closes 24 hours later, or when Meta
/// refuses a free-form message from that number with 131047. Another number's window is another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// When the customer last wrote to the number (Unix ms).
    pub last_inbound_ms: Option<i64>,
    /// When Meta last said the window is closed (Unix ms).
    pub closed_ms: Option<i64>,
}

impl Window {
    /// When the window closes (or closed); `None` if the customer never wrote to the number.
    pub fn expires_at(&self) -> Option<i64> {
        let expires = self.last_inbound_ms.map(|t| t + WINDOW_MS)?;
        // Meta said the window is closed after the customer's last message: trust it.
        Some(match (self.closed_ms, self.last_inbound_ms) {
            (Some(closed), Some(inbound)) if closed >= inbound => expires.min(closed),
            _ => expires,
        })
    }

    /// Whether free-form messages may be sent at `now_ms`.
    pub fn is_open(&self, now_ms: i64) -> bool {
        self.expires_at().is_some_and(|e| now_ms < e)
    }
}

impl Conversation {
    /// Fills the window fields, for the conversation's business number, at `now_ms`.
    pub fn with_window(mut self, now_ms: i64) -> Self {
        let window = Window {
            last_inbound_ms: self.last_inbound_ms,
            closed_ms: self.window_closed_ms,
        };
        self.window_expires_at = window.expires_at();
        self.window_open = window.is_open(now_ms);
        self
    }
}
