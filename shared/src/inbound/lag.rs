//! How far behind inbound processing is, so the sender can tell "Meta never had it" from "its
//! status is still waiting in our backlog" before it resends.
//!
//! The processor writes an [`InboundMark`] after a batch, at most every
//! [`LagConfig::mark_every`] per instance: when it ran, and when the oldest record of the batch
//! reached the queue. The sender reads it together with the queue's backlog: an empty queue is
//! current; a queue with a backlog is current only if the processor reported recently and was
//! then less behind than the sender's re-check; otherwise the processor is behind or stuck, and
//! the resend waits. SQS gives no age of its oldest message through its API (only through
//! CloudWatch, minutes late), hence the mark.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tracing::warn;

use crate::domain::InboundMark;
use crate::ports::{Clock, Delivery, Inbox, Outbox, PortError, Queue};

/// How the processor reports its progress and how recent a report must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagConfig {
    /// Least time between two marks from one processor instance.
    pub mark_every: Duration,
    /// A mark older than this, with a backlog on the queue, means the processor is not running.
    pub fresh_within: Duration,
}

impl Default for LagConfig {
    fn default() -> Self {
        Self {
            mark_every: Duration::from_secs(10),
            fresh_within: Duration::from_secs(60),
        }
    }
}

/// The processor's side: writes a mark after a batch, at most every `mark_every`.
#[derive(Clone)]
pub struct LagMarker {
    inbox: Arc<dyn Inbox>,
    clock: Arc<dyn Clock>,
    every_ms: i64,
    last_ms: Arc<AtomicI64>,
}

impl std::fmt::Debug for LagMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LagMarker").field("every_ms", &self.every_ms).finish()
    }
}

impl LagMarker {
    /// Marks through the inbox role.
    pub fn new(inbox: Arc<dyn Inbox>, clock: Arc<dyn Clock>, config: LagConfig) -> Self {
        Self {
            inbox,
            clock,
            every_ms: i64::try_from(config.mark_every.as_millis()).unwrap_or(i64::MAX),
            last_ms: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// Notes a processed batch. A mark that cannot be written is logged and skipped: it is advice
    /// to the sender, never a reason to retry webhooks.
    pub async fn processed(&self, batch: &[Delivery]) {
        let Some(oldest_sent_ms) = batch.iter().filter_map(|d| d.sent_ms).min() else {
            return;
        };
        let now = self.clock.now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.every_ms
            || self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mark = InboundMark {
            at_ms: now,
            oldest_sent_ms,
        };
        if let Err(e) = self.inbox.mark_inbound(mark).await {
            warn!(error = %e, "could not record inbound progress");
        }
    }
}

/// The sender's side: is inbound processing current?
#[derive(Clone)]
pub struct LagWatch {
    queue: Arc<dyn Queue>,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    fresh_ms: i64,
}

impl std::fmt::Debug for LagWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LagWatch").field("fresh_ms", &self.fresh_ms).finish()
    }
}

impl LagWatch {
    /// Watches the inbound `queue` and the marks the outbox role reads.
    pub fn new(queue: Arc<dyn Queue>, outbox: Arc<dyn Outbox>, clock: Arc<dyn Clock>, config: LagConfig) -> Self {
        Self {
            queue,
            outbox,
            clock,
            fresh_ms: i64::try_from(config.fresh_within.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// `None` if every webhook that reached the queue more than `max_lag` ago has been processed;
    /// otherwise why not.
    pub async fn behind(&self, max_lag: Duration) -> Result<Option<String>, PortError> {
        let backlog = self.queue.backlog().await?;
        if backlog == 0 {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        let max_lag_ms = i64::try_from(max_lag.as_millis()).unwrap_or(i64::MAX);
        Ok(match self.outbox.inbound_mark().await? {
            Some(m) if now - m.at_ms <= self.fresh_ms => (m.lag_ms() >= max_lag_ms).then(|| {
                format!(
                    "inbound webhooks are {} s behind ({backlog} on the queue)",
                    m.lag_ms() / 1000
                )
            }),
            Some(m) => Some(format!(
                "{backlog} inbound webhooks wait and the processor last reported {} s ago",
                (now - m.at_ms) / 1000
            )),
            None => Some(format!(
                "{backlog} inbound webhooks wait and the processor has not reported"
            )),
        })
    }
}
