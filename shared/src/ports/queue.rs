//! The work queue port.

use std::time::Duration;

use async_trait::async_trait;

use super::PortError;

/// The longest [`Queue::send_later`] delay: SQS's `DelaySeconds` limit, kept by every adapter.
pub const MAX_SEND_DELAY: Duration = Duration::from_secs(15 * 60);

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
    /// When the queue first received it, Unix ms (SQS's `SentTimestamp`), if the queue says.
    pub sent_ms: Option<i64>,
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

    /// Enqueues a message that becomes visible after `delay` (SQS delays at most 15 minutes; a longer
    /// `delay` is cut to that). It is a new message: its receive count starts at zero.
    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), PortError>;

    /// Takes up to `max` visible messages, waiting up to `wait` for one to appear.
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<Delivery>, PortError>;

    /// Done: removes the message.
    async fn ack(&self, receipt: &str) -> Result<(), PortError>;

    /// Makes the message visible again after `delay` (back-off before the next attempt).
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), PortError>;

    /// Moves the message to the dead-letter queue with `reason`, and removes it from this queue.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), PortError>;

    /// How many messages are on the queue, waiting or in flight (SQS: approximate).
    async fn backlog(&self) -> Result<u64, PortError>;

    /// Reads up to `max` dead letters without removing them (for operators and tests).
    async fn dead_letters(&self, max: u32) -> Result<Vec<DeadLetter>, PortError>;
}
