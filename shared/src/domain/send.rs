//! The send state machine of an outbound message, before Meta's own statuses take over.

use serde::{Deserialize, Serialize};

use super::{CustomerKey, ErrorInfo, MessageId, StoredMessage, Wamid};

/// Where an outbound message is on its way to Meta (before Meta's own statuses take over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendState {
    /// Stored and on the outbound queue.
    Queued,
    /// A Graph call was made and its outcome is not known yet.
    Sending,
    /// Graph accepted it and gave a wamid.
    Accepted,
    /// It will not be sent: Meta refused it or retries ran out.
    Failed,
}

impl SendProgress {
    /// A message just queued.
    pub fn queued() -> Self {
        Self {
            state: SendState::Queued,
            attempts: 0,
            last_attempt_ms: None,
            wamid: None,
            error: None,
            requeues: 0,
        }
    }

    /// Shows the progress on the stored message, which the view then joins with Meta's statuses.
    pub fn overlay(&self, m: &mut StoredMessage) {
        m.status = self.state.as_str().to_owned();
        if self.wamid.is_some() {
            m.wamid = self.wamid.clone();
        }
        if self.error.is_some() {
            m.error = self.error.clone();
        }
    }
}

impl SendState {
    /// The word shown as the message's status until Meta reports one.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Accepted => "accepted",
            Self::Failed => "failed",
        }
    }

    /// Parses [`SendState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "accepted" => Self::Accepted,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Accepted and failed are final: nothing moves them.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Accepted | Self::Failed)
    }
}

/// The sender's bookkeeping for one outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendProgress {
    /// Where it is.
    pub state: SendState,
    /// Graph calls made so far.
    pub attempts: u32,
    /// When the last call was made, Unix ms.
    pub last_attempt_ms: Option<i64>,
    /// Meta's id, once known.
    pub wamid: Option<Wamid>,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
    /// How many times the sweep has put it back on the queue.
    #[serde(default)]
    pub requeues: u32,
}

/// An outbound message that has stopped moving, as the sweep finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stranded {
    /// Our id.
    pub id: MessageId,
    /// How many times the sweep has re-queued it already.
    pub requeues: u32,
}

/// A change to an outbound message's [`SendProgress`]. Each is a no-op on a message already in a final
/// state, so a redelivered queue record cannot undo an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendChange {
    /// A Graph call is about to be made. Takes effect only if the message has made exactly
    /// `after_attempts` attempts, so of two workers holding duplicate queue deliveries one wins.
    Attempt {
        /// When.
        at_ms: i64,
        /// Attempts the caller saw before this one.
        after_attempts: u32,
    },
    /// Graph answered with Meta's id.
    Accepted {
        /// Meta's id.
        wamid: Wamid,
        /// The customer as WhatsApp resolved the number (`contacts[0].wa_id`), when that is
        /// another form of the one the message was filed under (Brazil's ninth digit, Mexico's
        /// `521`/`52`): the message moves to that customer, so it sits in the conversation the
        /// customer's replies arrive in, and a conversation left holding nothing goes.
        resolved: Option<CustomerKey>,
    },
    /// A status webhook carrying our id proves Meta has the message: it becomes accepted even if
    /// we had given up on it (failed after attempts Graph never answered, `outcome_unknown`),
    /// and the failure we recorded goes. An accepted message keeps the wamid it has.
    Confirmed {
        /// Meta's id, from the status.
        wamid: Wamid,
    },
    /// The sweeper put a message that looked stranded back on the queue at `at_ms`: it counts as
    /// active from then, so the next sweep leaves it alone while that record waits its turn, and
    /// its re-queue count goes up by one.
    Requeued {
        /// When.
        at_ms: i64,
    },
    /// The attempt failed in a way worth retrying: back to `queued`, keeping the error.
    Deferred {
        /// Why this attempt failed.
        error: ErrorInfo,
    },
    /// It will not be sent.
    Failed {
        /// Why.
        error: ErrorInfo,
    },
}
