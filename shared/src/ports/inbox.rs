//! The inbox role of the store.

use async_trait::async_trait;

use super::PortError;
use crate::domain::{
    CustomerKey, InboundMark, Json, MessageId, RawEvent, Recorded, StatusUpdate, StoredMessage, Wamid,
};

/// What the inbound processor writes: customers' messages, delivery statuses and raw webhook
/// events. Every write is idempotent, so a redelivered webhook changes nothing the first did.
#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Stores an inbound message once per wamid, atomically with its conversation's unread count.
    /// Returns [`Recorded::Duplicate`] (and changes no counter) when the wamid is already stored.
    /// Either way it then advances, idempotently, what only moves forward: the conversation's last
    /// message and `last_inbound_at` (for messages that open the window), and the contact's profile
    /// name and first/last seen, so a crash between the two steps heals on redelivery.
    async fn record_inbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError>;

    /// Moves the read position of the conversation holding the customer's message `wamid` up to
    /// that message (never back) and recounts its unread messages: the inbound ones after it, up
    /// to [`crate::domain::UNREAD_SHOWN`] and one more. Inbound messages recorded later count only
    /// when they come after the position, so duplicates and late arrivals keep the count exact.
    /// Returns false when no inbound message `wamid` is stored.
    async fn mark_read(&self, wamid: &Wamid) -> Result<bool, PortError>;

    /// Applies a status to the wamid's status record: every status's timestamp is kept, the status
    /// itself only moves up in [`crate::domain::DeliveryStatus::rank`], and a failure keeps its
    /// first error. Works whether or not the message is stored.
    async fn apply_status(&self, status: &StatusUpdate) -> Result<(), PortError>;

    /// Keeps a webhook change we do not model, once per [`RawEvent::id`].
    async fn record_event(&self, event: &RawEvent) -> Result<Recorded, PortError>;

    /// Raw events of one webhook field, oldest first, at most `limit`.
    async fn events(&self, field: &str, limit: u32) -> Result<Vec<RawEvent>, PortError>;

    /// Records what automation did with the customer's message `id` (`{"rule_id","outcome"}`),
    /// once: the first outcome recorded stays, so a redelivery that decides differently (a later
    /// message has since started a cooldown) does not rewrite history. No-op when the message is
    /// not stored.
    async fn set_automation(&self, id: MessageId, outcome: &Json) -> Result<(), PortError>;

    /// Adds `label` to the customer's conversation (kept once) and moves its `escalated_at` up to
    /// `at_ms` (never back). No-op when there is no conversation.
    async fn label_conversation(&self, customer: &CustomerKey, label: &str, at_ms: i64) -> Result<(), PortError>;

    /// Keeps the processor's latest [`InboundMark`]; an older mark than the one kept is ignored,
    /// so processors writing at once leave the newest.
    async fn mark_inbound(&self, mark: InboundMark) -> Result<(), PortError>;
}
