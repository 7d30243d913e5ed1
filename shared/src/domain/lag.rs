//! How far behind inbound processing is.

/// What the inbound processor last said of its progress: at `at_ms` it was working on webhooks
/// the inbound queue had received as early as `oldest_sent_ms`. A status for an earlier send that
/// is still waiting in a backlog cannot have been applied, so the sender reads this before it
/// resends a message whose first attempt Graph never answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundMark {
    /// When the processor wrote it, Unix ms.
    pub at_ms: i64,
    /// When the oldest record of the batch it was processing reached the queue, Unix ms.
    pub oldest_sent_ms: i64,
}

impl InboundMark {
    /// How far behind the queue the processor was when it wrote this.
    pub fn lag_ms(&self) -> i64 {
        (self.at_ms - self.oldest_sent_ms).max(0)
    }
}
