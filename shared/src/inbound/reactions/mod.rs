//! Reactions: everything an applied inbound message or status triggers (linking a status to our
//! send, a counter, a media download, an auto-reply, a flow step, a template's new status).
//!
//! The processor runs every reaction each time an update is applied: on the first delivery and on
//! every redelivery alike, including after a crash between storing the message and reacting to it.
//! So a reaction must make itself idempotent: its effects carry ids derived from the triggering
//! wamid ([`crate::domain::MessageId::derived`]), the store's conditional writes refuse the second
//! copy, and the sender treats a final state as done. That is what makes side effects exactly once
//! over at-least-once webhooks.

mod link_outbound;

use std::sync::Arc;

use async_trait::async_trait;

pub use link_outbound::LinkOutbound;

use crate::domain::{RawEvent, Recorded, StatusUpdate, StoredMessage};
use crate::outbound::enqueue::SendError;
use crate::ports::{BoxError, PortError};

/// An update the processor has just applied.
#[derive(Debug, Clone, Copy)]
pub enum Applied<'a> {
    /// A customer's message, and whether this delivery stored it for the first time.
    Message {
        /// The message as stored.
        message: &'a StoredMessage,
        /// New or seen before. Reactions must not rely on `New`: a crash may have come between
        /// the store write and the reaction.
        recorded: Recorded,
    },
    /// A delivery status of a message the business sent.
    Status(&'a StatusUpdate),
    /// A webhook change kept raw (template updates, account alerts, …).
    Event(&'a RawEvent),
}

/// Why a reaction did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    /// Infrastructure trouble that may pass: the whole webhook is retried (every reaction is
    /// idempotent, so those that already ran change nothing the second time).
    #[error("may succeed later: {0}")]
    Retry(#[source] BoxError),
    /// It can never take effect (a rule whose reply breaks WhatsApp's rules, a closed window):
    /// logged, and the other reactions and updates go on.
    #[error("{0}")]
    Permanent(String),
}

impl From<PortError> for ReactionError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Unavailable { .. } => Self::Retry(Box::new(e)),
            other => Self::Permanent(other.to_string()),
        }
    }
}

impl From<SendError> for ReactionError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Port(p) => p.into(),
            SendError::QueueUnavailable(_) => Self::Retry(Box::new(e)),
            SendError::Invalid { .. } | SendError::WindowClosed { .. } => Self::Permanent(e.to_string()),
        }
    }
}

/// Something that happens because an update was applied.
#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// A short stable name, for logs and derived ids (`"link-outbound"`, `"rule:42"`).
    fn name(&self) -> &str;

    /// Reacts to one applied update; most reactions ignore most updates.
    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError>;
}

/// The reactions a processor runs, in order.
#[derive(Clone, Default)]
pub struct Reactions(Vec<Arc<dyn Reaction>>);

impl std::fmt::Debug for Reactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|r| r.name())).finish()
    }
}

impl Reactions {
    /// No reactions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reaction after the ones already registered.
    pub fn with(mut self, reaction: Arc<dyn Reaction>) -> Self {
        self.0.push(reaction);
        self
    }

    /// Runs every reaction on `applied`. A permanent failure is logged and skipped; the first
    /// retryable one stops here and is returned, so the webhook is retried.
    pub async fn run(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        for r in &self.0 {
            match r.react(applied).await {
                Ok(()) => {}
                Err(ReactionError::Permanent(reason)) => {
                    tracing::warn!(reaction = r.name(), reason = %reason, "reaction skipped");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
