//! Signed event callbacks to the systems we serve (a CRM, a ticketing or factory system).
//!
//! What happens here that an integration cares about (a customer's message, a delivery status, an
//! opt-out, an escalation, a completed flow) is raised as an [`Event`] onto the callbacks queue by
//! the reaction that saw it; the [`deliver::Deliverer`] posts each to `WABRIDGE_CALLBACK_URL`,
//! signed as Meta signs its webhooks to us (`X-Wabridge-Signature-256: sha256=<HMAC-SHA256 of the
//! raw body>`), retrying with back-off until the receiver answers 2xx or the attempts run out (then
//! the event is dead-lettered with the last answer, never dropped).
//!
//! Delivery is at least once. An event's id is derived from what raised it (the wamid, the status,
//! the purpose), and its body from what was stored, so every copy of one event (a retry, or the
//! same webhook redelivered by Meta) carries the same id and the same body: a receiver de-duplicates
//! by `id`.

pub mod deliver;

use std::sync::Arc;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ports::{PortError, Queue};

/// A customer's message was stored.
pub const MESSAGE_RECEIVED: &str = "message.received";
/// A message we sent moved to a new status (sent, delivered, read, failed).
pub const MESSAGE_STATUS: &str = "message.status";
/// A customer opted out of marketing (or back in: `data.opted_out` says which).
pub const CONTACT_OPTED_OUT: &str = "contact.opted_out";
/// A conversation was escalated to people by a rule.
pub const CONVERSATION_ESCALATED: &str = "conversation.escalated";
/// A flow session reached its end: the data is the interaction's audit record.
pub const FLOW_COMPLETED: &str = "flow.completed";

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Wabridge-Signature-256";

/// One event, as posted: `{"id","type","created_at","data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable across every copy of the event: receivers de-duplicate by it.
    pub id: String,
    /// What happened ([`MESSAGE_RECEIVED`], …).
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339): the time of the message or status that raised it, so copies
    /// are identical.
    pub created_at: String,
    /// The event's object.
    pub data: Value,
}

impl Event {
    /// An event of `kind` at `at_ms`, with an id derived from `key` (the parts that make it this
    /// event and no other).
    pub fn new(kind: &str, key: &[&str], at_ms: i64, data: Value) -> Self {
        Self {
            id: event_id(kind, key),
            kind: kind.to_owned(),
            created_at: crate::timefmt::rfc3339(at_ms).unwrap_or_default(),
            data,
        }
    }
}

/// `evt_` and the first 128 bits of SHA-256 over the kind and the key parts, in hex.
pub fn event_id(kind: &str, key: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"event\0");
    h.update(kind.as_bytes());
    for part in key {
        h.update([0]);
        h.update(part.as_bytes());
    }
    format!("evt_{}", hex::encode(&h.finalize()[..16]))
}

/// The signature header's value for `body`: the same scheme as Meta's `X-Hub-Signature-256`.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    crate::inbound::webhook::sign(secret, body)
}

/// Where callbacks go. Without a URL no event is raised.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    /// `WABRIDGE_CALLBACK_URL`.
    pub url: String,
    /// `WABRIDGE_CALLBACK_SECRET`: signs every body.
    pub secret: SecretString,
}

/// Raises events onto the callbacks queue.
#[derive(Clone)]
pub struct Events {
    queue: Arc<dyn Queue>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// Raises onto `queue`, which the [`deliver::Deliverer`] consumes.
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue }
    }

    /// Queues `event` for delivery. Once this returns `Ok` the event will be posted (or
    /// dead-lettered with why); an error is the queue's, and the caller retries.
    pub async fn raise(&self, event: &Event) -> Result<(), PortError> {
        let body = serde_json::to_string(event).map_err(|e| PortError::invalid("raise event", e.to_string()))?;
        self.queue.send(&body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_depends_on_its_kind_and_every_key_part_and_nothing_else() {
        let a = event_id(MESSAGE_STATUS, &["wamid.A", "read"]);
        assert_eq!(a, event_id(MESSAGE_STATUS, &["wamid.A", "read"]));
        assert!(a.starts_with("evt_") && a.len() == 4 + 32, "{a}");
        assert_ne!(a, event_id(MESSAGE_STATUS, &["wamid.A", "delivered"]));
        assert_ne!(a, event_id(MESSAGE_RECEIVED, &["wamid.A", "read"]));
        // Parts are separated, so moving text between them makes another id.
        assert_ne!(event_id("k", &["ab", "c"]), event_id("k", &["a", "bc"]));
    }

    #[test]
    fn an_event_serialises_with_the_documented_field_names() {
        let e = Event::new(
            MESSAGE_RECEIVED,
            &["wamid.A"],
            1_763_800_000_000,
            serde_json::json!({"x": 1}),
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], MESSAGE_RECEIVED);
        assert_eq!(v["created_at"], "2025-11-22T08:26:40Z");
        assert_eq!(v["data"]["x"], 1);
        assert_eq!(v["id"], e.id.as_str());
    }
}
