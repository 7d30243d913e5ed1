//! What every kind of schedule shares: one scheduled send's progress (a reminder's send, a
//! sequence's step), how the tick claims and settles it, and the request fields every kind takes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Outcome;
use crate::outbound::phone;
use crate::outbound::request::Check;

/// Longest external id.
pub const MAX_EXTERNAL_ID: usize = 256;

/// Where one scheduled send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendStatus {
    /// Waiting for its time.
    Scheduled,
    /// A scheduler took it and is queueing it (shown as `sending`).
    Claimed,
    /// Queued for sending: `message_id` follows the message.
    Queued,
    /// Passed over: its time had passed when it was scheduled, or a free-form send found the
    /// window closed.
    Skipped,
    /// Cancelled before its time.
    Cancelled,
    /// The send was refused (the template is not sendable, …): `reason` says why.
    Failed,
}

impl SendStatus {
    /// What the API shows.
    pub fn shown(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Claimed => "sending",
            Self::Queued => "queued",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    /// Still to go out.
    pub fn pending(self) -> bool {
        matches!(self, Self::Scheduled | Self::Claimed)
    }
}

/// One send's progress, kept (flattened) in its schedule's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Where it stands.
    pub status: SendStatus,
    /// When a scheduler claimed it (a claim older than the lease is taken over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at_ms: Option<i64>,
    /// The message, once queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Why it was skipped, cancelled or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Progress {
    /// A send waiting for its time.
    pub fn scheduled() -> Self {
        Self {
            status: SendStatus::Scheduled,
            claimed_at_ms: None,
            message_id: None,
            reason: None,
        }
    }

    /// When the tick next has work on it: its due time (if known) while scheduled, or when a
    /// claim on it runs out (`lease_ms` after it was taken).
    pub fn next_due(&self, due_at_ms: Option<i64>, lease_ms: i64) -> Option<i64> {
        match self.status {
            SendStatus::Scheduled => due_at_ms,
            SendStatus::Claimed => Some(self.claimed_at_ms.unwrap_or(0).saturating_add(lease_ms)),
            _ => None,
        }
    }

    /// Claims it for the tick at `now` if that work is due; whether it did.
    pub fn claim(&mut self, due_at_ms: Option<i64>, now: i64, lease_ms: i64) -> bool {
        if self.next_due(due_at_ms, lease_ms).is_none_or(|d| d > now) {
            return false;
        }
        self.status = SendStatus::Claimed;
        self.claimed_at_ms = Some(now);
        true
    }

    /// Records how the claimed send went; nothing (false) if it is no longer claimed.
    pub fn settle(&mut self, outcome: &Outcome) -> bool {
        if self.status != SendStatus::Claimed {
            return false;
        }
        match outcome {
            Outcome::Queued(m) => {
                self.status = SendStatus::Queued;
                self.message_id = Some(m.to_string());
            }
            Outcome::Failed(reason) => {
                self.status = SendStatus::Failed;
                self.reason = Some(reason.clone());
            }
            Outcome::Skipped(reason) => {
                self.status = SendStatus::Skipped;
                self.reason = Some(reason.clone());
            }
        }
        true
    }

    /// Cancels it if it is still waiting; a claimed send is on its way and goes.
    pub fn cancel(&mut self, reason: Option<&str>) {
        if self.status == SendStatus::Scheduled {
            self.status = SendStatus::Cancelled;
            self.reason = reason.map(str::to_owned);
        }
    }
}

/// The request fields every kind of schedule takes.
#[derive(Debug, Default)]
pub(crate) struct Common {
    /// The customer, normalised; `None` when missing or not a number (the error is in the check).
    pub to: Option<String>,
    /// The business number, if not the default.
    pub phone_number_id: Option<String>,
    /// The caller's id for it.
    pub external_id: Option<String>,
}

/// Reads the fields every kind takes, and names every field of `o` that is not in `known`.
pub(crate) fn common(c: &mut Check, o: &Map<String, Value>, what: &str, known: &[&str]) -> Common {
    for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
        c.err(
            k.clone(),
            "unknown_field",
            format!("is not a {what} field (known: {})", known.join(", ")),
        );
    }
    let to = match o.get("to").and_then(Value::as_str) {
        Some(t) => phone::normalize(t)
            .map_err(|e| c.err("to", "invalid_phone_number", e.0))
            .ok(),
        None => {
            c.err("to", "required", "the customer's number is required");
            None
        }
    };
    let external_id = match o.get("external_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) if !e.is_empty() && e.len() <= MAX_EXTERNAL_ID => Some(e.clone()),
        Some(_) => {
            c.err(
                "external_id",
                "invalid",
                format!("must be a string of 1 to {MAX_EXTERNAL_ID} bytes"),
            );
            None
        }
    };
    Common {
        to,
        phone_number_id: o.get("phone_number_id").and_then(Value::as_str).map(str::to_owned),
        external_id,
    }
}

/// The `POST /v1/messages` body of `message` (a message object without `to`) to `to`.
pub(crate) fn send_body(to: &str, phone_number_id: Option<&str>, message: Value) -> Value {
    let mut body = message;
    body["to"] = json!(to);
    if let Some(p) = phone_number_id {
        body["phone_number_id"] = json!(p);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageId;

    #[test]
    fn a_send_is_claimed_when_due_taken_over_after_the_lease_and_settled_once() {
        let mut p = Progress::scheduled();
        assert!(!p.claim(Some(100), 99, 10), "not yet due");
        assert!(!p.claim(None, 1_000, 10), "no due time yet");
        assert!(p.claim(Some(100), 100, 10));
        assert_eq!(p.next_due(Some(100), 10), Some(110), "the claim's lease");
        assert!(!p.claim(Some(100), 109, 10), "the claim holds");
        assert!(p.claim(Some(100), 110, 10), "taken over after the lease");
        let id = MessageId::new();
        assert!(p.settle(&Outcome::Queued(id)));
        assert!(!p.settle(&Outcome::Failed("late".into())), "settled once");
        assert_eq!(
            (p.status, p.message_id.clone()),
            (SendStatus::Queued, Some(id.to_string()))
        );
        assert_eq!(p.next_due(Some(100), 10), None);
        p.cancel(Some("too late"));
        assert_eq!(p.status, SendStatus::Queued, "a send that went is not cancelled");
    }
}
