//! The outbox role of the store.

use async_trait::async_trait;

use super::PortError;
use crate::domain::{CustomerKey, InboundMark, MessageId, Recorded, SendChange, SendProgress, StoredMessage, Stranded};

/// The send state machine of outbound messages (queued, sending, accepted, failed) and what a
/// send learns about the customer's window.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Stores an outbound message once per id, in state `queued` (or `accepted` when it already has a
    /// wamid). Statuses already applied to its wamid show through once the wamid is known.
    async fn record_outbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError>;

    /// An outbound message with its send progress.
    async fn outbound(&self, id: MessageId) -> Result<Option<(StoredMessage, SendProgress)>, PortError>;

    /// Applies a change to an outbound message's progress; a message already accepted or failed is
    /// left as it is. Returns the progress after, or `None` for an unknown id.
    async fn update_outbound(&self, id: MessageId, change: &SendChange) -> Result<Option<SendProgress>, PortError>;

    /// Up to `limit` outbound messages not yet final (`queued` or `sending`) whose last activity
    /// (stored, attempted, re-queued) was before `before_ms`: the ones whose queue record may be
    /// lost (a crash between storing and queueing, a record SQS dead-lettered), each with how
    /// often the sweep has re-queued it.
    async fn stranded(&self, before_ms: i64, limit: u32) -> Result<Vec<Stranded>, PortError>;

    /// Records that Meta refused a free-form message from `phone_number_id` because its window
    /// with the customer is closed; the customer's windows with other numbers are untouched.
    async fn close_window(&self, phone_number_id: &str, customer: &CustomerKey, at_ms: i64) -> Result<(), PortError>;

    /// The inbound processor's latest [`InboundMark`], if it has written one.
    async fn inbound_mark(&self) -> Result<Option<InboundMark>, PortError>;
}
