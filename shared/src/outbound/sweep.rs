//! The sweep: puts outbound messages whose queue record may be lost back on the queue.
//!
//! A send stores its message (`queued`) and then queues a record naming it. A crash between the
//! two, or a record SQS itself dead-letters after its receives run out (a function that keeps
//! timing out), leaves the message `queued` or `sending` with nothing left to move it. The sweep
//! finds messages that have not moved for [`SweepConfig::stranded_after`] and queues their record
//! again. That is safe: the sender sends only what is not final, claims each attempt with a
//! conditional write and re-checks an unanswered one before sending it again, so a message whose
//! record was merely slow (a deep backlog) gets a duplicate record that finds it done, never a
//! second send. Each message swept is marked re-queued, so the next sweep leaves it alone for as
//! long again.
//!
//! A record SQS dead-letters leaves its message unmoving, so the sweep is also how outbound
//! dead-letter arrivals are settled: re-queued, which heals a passing cause (a deploy that timed
//! out, a throttled table), and once a message has been re-queued
//! [`SweepConfig::max_requeues`] times and is stranded again while the queue is empty, it ends
//! `failed` with the title
//! [`STRANDED`] and says why, rather than cycling between the queue and its dead-letter queue.
//! The dead-letter copies stay where they are, for the alarm and the operator; redriving them is
//! harmless, as the sender leaves a failed message alone.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::enqueue::OutboundRecord;
use crate::domain::{ErrorInfo, SendChange, Stranded};
use crate::ports::{Clock, Outbox, PortError, Queue};

/// How the sweep behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepConfig {
    /// How long a `queued` or `sending` message may go without moving before it counts as
    /// stranded: longer than any wait the sender itself schedules (back-off up to 5 min, the
    /// re-check after an unanswered send, postponements of up to 15 min).
    pub stranded_after: Duration,
    /// Messages one sweep re-queues at most; the next sweep takes the rest.
    pub batch: u32,
    /// How often the local stack sweeps (on AWS, the scheduler's EventBridge rate).
    pub every: Duration,
    /// Times a message is re-queued before, stranded once more, it is given up as failed.
    pub max_requeues: u32,
}

/// The title of the error on a message the sweep gave up on: its queue record kept being lost or
/// dead-lettered. Code 0: not one of Meta's.
pub const STRANDED: &str = "stranded";

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            stranded_after: Duration::from_secs(30 * 60),
            batch: 500,
            every: Duration::from_secs(60),
            max_requeues: 3,
        }
    }
}

/// What one sweep did (the scheduler function answers with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Messages put back on the queue.
    pub requeued: u32,
    /// Messages whose record could not be queued (left for the next sweep).
    pub failed: u32,
    /// Messages re-queued [`SweepConfig::max_requeues`] times already, now ended `failed`.
    pub given_up: u32,
}

/// The sweep use case.
#[derive(Clone)]
pub struct Sweeper {
    outbox: Arc<dyn Outbox>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    config: SweepConfig,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Sweeper {
    /// Wires the sweep over the outbox it reads and the outbound queue it refills.
    pub fn new(outbox: Arc<dyn Outbox>, queue: Arc<dyn Queue>, clock: Arc<dyn Clock>, config: SweepConfig) -> Self {
        Self {
            outbox,
            queue,
            clock,
            config,
        }
    }

    /// How often to run it.
    pub fn every(&self) -> Duration {
        self.config.every
    }

    /// One sweep. Fails only if the store cannot be read; a record the queue refuses is counted
    /// and left for the next sweep.
    pub async fn sweep(&self) -> Result<SweepReport, PortError> {
        let now = self.clock.now_ms();
        let horizon = i64::try_from(self.config.stranded_after.as_millis()).unwrap_or(i64::MAX);
        let stranded = self
            .outbox
            .stranded(now.saturating_sub(horizon), self.config.batch)
            .await?;
        let mut report = SweepReport::default();
        if stranded.is_empty() {
            return Ok(report);
        }
        // Give up on a message only when no record of it can still be on its way: with the queue
        // empty, a record of it is neither waiting nor in flight. A deep backlog (a campaign at
        // the number's limit) leaves messages unmoving for hours with their records alive.
        let queue_empty = self.queue.backlog().await? == 0;
        // The index may lag a message that has just become final: every write below is conditional
        // on the message not being final, so such a one only gets a record the sender finds done.
        for Stranded { id, requeues } in stranded {
            if requeues >= self.config.max_requeues && queue_empty {
                let error = ErrorInfo {
                    code: 0,
                    title: STRANDED.into(),
                    details: Some(format!(
                        "its queue record was lost or dead-lettered {} times without a send finishing; \
                         see the outbound dead-letter queue",
                        requeues + 1
                    )),
                };
                warn!(msg_id = %id, requeues, "giving up on a message that keeps being stranded");
                self.outbox.update_outbound(id, &SendChange::Failed { error }).await?;
                report.given_up += 1;
                continue;
            }
            if let Err(e) = self.queue.send(&OutboundRecord::body(id)).await {
                warn!(msg_id = %id, error = %e, "could not re-queue a stranded message");
                report.failed += 1;
                continue;
            }
            // After the record is queued: a crash between the two only re-queues it once more.
            // Stamped when queued, not when the sweep began: a long sweep must not leave its
            // early re-queues looking stale to the next one.
            let at_ms = self.clock.now_ms();
            self.outbox.update_outbound(id, &SendChange::Requeued { at_ms }).await?;
            report.requeued += 1;
        }
        if report != SweepReport::default() {
            info!(
                requeued = report.requeued,
                failed = report.failed,
                given_up = report.given_up,
                "swept stranded outbound messages"
            );
        }
        Ok(report)
    }
}
