//! The ports: what the use cases need from infrastructure. Each has an AWS adapter and an embedded
//! one in [`crate::adapters`], and one conformance suite (in `tests/`) runs against both.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    Contact, Conversation, CustomerKey, IdempotencyClaim, MessageId, MessageRef, MessageView, Page, PageRequest,
    RawEvent, Recorded, SendChange, SendProgress, StatusUpdate, StoredMessage,
};

/// A boxed error from an SDK or driver, kept as the source of a [`PortError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How an adapter failed, classified so the use cases know whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Infrastructure trouble that may pass (throttling, timeouts, a lock): retry later.
    #[error("{op} failed, may succeed later")]
    Unavailable {
        /// What was being done.
        op: &'static str,
        /// The SDK or driver error.
        #[source]
        source: BoxError,
    },
    /// Data the adapter cannot read back or write (a corrupt row, a missing key): retrying will not help.
    #[error("{op}: {reason}")]
    Invalid {
        /// What was being done.
        op: &'static str,
        /// Why.
        reason: String,
    },
}

impl PortError {
    /// Wraps an infrastructure error as retryable.
    pub fn unavailable(op: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            op,
            source: source.into(),
        }
    }

    /// A permanent data problem.
    pub fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            op,
            reason: reason.into(),
        }
    }
}

/// For `map_err`: wraps an SDK or driver error as retryable, naming what was being done.
pub fn unavailable<E: Into<BoxError>>(op: &'static str) -> impl Fn(E) -> PortError {
    move |e| PortError::unavailable(op, e)
}

/// Messages, statuses, contacts, conversations and raw webhook events.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores an inbound message once per wamid, atomically with its conversation's unread count.
    /// Returns [`Recorded::Duplicate`] (and changes no counter) when the wamid is already stored.
    /// Either way it then advances, idempotently, what only moves forward: the conversation's last
    /// message and `last_inbound_at` (for messages that open the window), and the contact's profile
    /// name and first/last seen, so a crash between the two steps heals on redelivery.
    async fn record_inbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError>;

    /// Stores an outbound message once per id, in state `queued` (or `accepted` when it already has a
    /// wamid). Statuses already applied to its wamid show through once the wamid is known.
    async fn record_outbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError>;

    /// An outbound message with its send progress.
    async fn outbound(&self, id: MessageId) -> Result<Option<(StoredMessage, SendProgress)>, PortError>;

    /// Applies a change to an outbound message's progress; a message already accepted or failed is
    /// left as it is. Returns the progress after, or `None` for an unknown id.
    async fn update_outbound(&self, id: MessageId, change: &SendChange) -> Result<Option<SendProgress>, PortError>;

    /// Records that Meta refused a free-form message because the customer's window is closed.
    async fn close_window(&self, customer: &CustomerKey, at_ms: i64) -> Result<(), PortError>;

    /// Claims an `Idempotency-Key` (already scoped to the caller) for a request with `fingerprint`,
    /// kept until `expires_ms`. Exactly one concurrent claimant gets [`IdempotencyClaim::New`].
    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        expires_ms: i64,
    ) -> Result<IdempotencyClaim, PortError>;

    /// Records the answer given under a claimed key.
    async fn finish_idempotency(&self, key: &str, status: u16, body: &serde_json::Value) -> Result<(), PortError>;

    /// Gives a claimed key back (the request failed in a way worth retrying).
    async fn release_idempotency(&self, key: &str) -> Result<(), PortError>;

    /// Applies a status to the wamid's status record: every status's timestamp is kept, the status
    /// itself only moves up in [`crate::domain::DeliveryStatus::rank`], and a failure keeps its
    /// first error. Works whether or not the message is stored.
    async fn apply_status(&self, status: &StatusUpdate) -> Result<(), PortError>;

    /// Keeps a webhook change we do not model, once per [`RawEvent::id`].
    async fn record_event(&self, event: &RawEvent) -> Result<Recorded, PortError>;

    /// Raw events of one webhook field, oldest first, at most `limit`.
    async fn events(&self, field: &str, limit: u32) -> Result<Vec<RawEvent>, PortError>;

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

    /// Conversations, newest activity first.
    async fn conversations(&self, page: &PageRequest, now_ms: i64) -> Result<Page<Conversation>, PortError>;

    /// One conversation.
    async fn conversation(&self, customer: &CustomerKey, now_ms: i64) -> Result<Option<Conversation>, PortError>;

    /// Contacts, ordered by wa_id (or user_id).
    async fn contacts(&self, page: &PageRequest) -> Result<Page<Contact>, PortError>;

    /// One contact.
    async fn contact(&self, customer: &CustomerKey) -> Result<Option<Contact>, PortError>;

    /// A cheap round trip, for `/health`.
    async fn ping(&self) -> Result<(), PortError>;
}

/// A message taken off a queue, invisible to other consumers until acked, retried or its
/// visibility runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The queue's id for the message.
    pub id: String,
    /// What was sent.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
    /// Handle for ack, retry and dead-letter.
    pub receipt: String,
}

/// A message moved aside after its last attempt, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// What was sent.
    pub body: String,
    /// The last failure.
    pub reason: String,
}

/// An at-least-once work queue with visibility timeouts, receive counts and a dead-letter queue.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Enqueues a message. Once this returns `Ok`, the message survives a crash.
    async fn send(&self, body: &str) -> Result<(), PortError>;

    /// Takes up to `max` visible messages, waiting up to `wait` for one to appear.
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<Delivery>, PortError>;

    /// Done: removes the message.
    async fn ack(&self, receipt: &str) -> Result<(), PortError>;

    /// Makes the message visible again after `delay` (back-off before the next attempt).
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), PortError>;

    /// Moves the message to the dead-letter queue with `reason`, and removes it from this queue.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), PortError>;

    /// Reads up to `max` dead letters without removing them (for operators and tests).
    async fn dead_letters(&self, max: u32) -> Result<Vec<DeadLetter>, PortError>;
}

/// Object storage for bodies too large for the queue, and (later) media.
#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PortError>;

    /// Reads `key`; `None` if nothing is stored there.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;
}

/// A grant from a [`RateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Tokens granted now (0 to the number asked).
    pub granted: u32,
    /// When none were granted: how long until one will be.
    pub wait: Duration,
}

/// Token buckets shared by every sender invocation, so limits hold across processes.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes up to `want` tokens from bucket `key`, which refills at `rate` per second up to `burst`.
    async fn acquire(&self, key: &str, want: u32, rate: f64, burst: f64, now_ms: i64) -> Result<Grant, PortError>;

    /// Empties the bucket and puts it `pause` into debt: Meta said we were too fast.
    async fn penalize(&self, key: &str, rate: f64, pause: Duration, now_ms: i64) -> Result<(), PortError>;
}

/// The time, injectable so tests can move it.
pub trait Clock: Send + Sync + 'static {
    /// Unix milliseconds now.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}
