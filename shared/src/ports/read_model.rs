//! The read model role of the store.

use async_trait::async_trait;

use super::PortError;
use crate::domain::{Conversation, CustomerKey, MessageRef, StoredMessage, Window};
use crate::read::{MessageView, Page, PageRequest};

/// A walk along one customer's timeline ([`ReadModel::timeline`]).
#[derive(Debug, Clone, Copy)]
pub struct Walk<'a> {
    /// Sequence keys ([`StoredMessage::seq`]) strictly after this one (`""`: from the start).
    pub lo: &'a str,
    /// And strictly before this one (`"~"`: to the end).
    pub hi: &'a str,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    /// At most this many messages.
    pub limit: u32,
    /// Only our own messages.
    pub ours_only: bool,
}

/// What the HTTP API reads: messages joined with their statuses, conversations, contacts.
#[async_trait]
pub trait ReadModel: Send + Sync + 'static {
    /// One message by our id or wamid, joined with its statuses; a status whose message is not stored
    /// comes back as an outbound message of unknown type.
    async fn message(&self, r: &MessageRef) -> Result<Option<MessageView>, PortError>;

    /// A conversation's messages: the newest page first, each page oldest first; the cursor walks
    /// back in time by (timestamp, id), so messages arriving meanwhile do not shift pages.
    async fn conversation_messages(
        &self,
        customer: &CustomerKey,
        page: &PageRequest,
    ) -> Result<Page<MessageView>, PortError>;

    /// The messages filed under `customer` that `walk` selects: a walk along one customer's
    /// timeline, for figures that depend on what came before or after a message. Finding our
    /// messages must not cost a read of every customer message between them.
    async fn timeline(&self, customer: &CustomerKey, walk: Walk<'_>) -> Result<Vec<StoredMessage>, PortError>;

    /// Conversations, newest activity first.
    async fn conversations(&self, page: &PageRequest, now_ms: i64) -> Result<Page<Conversation>, PortError>;

    /// One conversation.
    async fn conversation(&self, customer: &CustomerKey, now_ms: i64) -> Result<Option<Conversation>, PortError>;

    /// The customer-service window between business number `phone_number_id` and `customer`
    /// (empty if the customer never wrote to that number).
    async fn window(&self, phone_number_id: &str, customer: &CustomerKey) -> Result<Window, PortError>;

    /// A cheap round trip, for `/health`.
    async fn ping(&self) -> Result<(), PortError>;
}
