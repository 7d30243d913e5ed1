//! Inbound processing: one queue record is one webhook. Each update in it is applied idempotently
//! (messages once per wamid, statuses monotonically, raw events once per content hash), so a record
//! retried after a crash halfway through finishes the work without doing any of it twice.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::ingest::Envelope;
use crate::ports::{Blobs, Clock, Delivery, PortError, Queue, Store};
use crate::webhook::{ParseError, Update, split};

/// Why a record could not be processed. Every kind is retried until the last attempt, then
/// dead-lettered with this text as its reason.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The queue message is not an envelope we wrote.
    #[error("queue message is not a wabridge envelope: {0}")]
    Envelope(#[source] serde_json::Error),
    /// The envelope points at a blob that is not there.
    #[error("webhook blob {0} is missing")]
    MissingBlob(String),
    /// The body is not a webhook.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The store or blob storage failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What happened to the updates of one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages stored for the first time.
    pub new_messages: u32,
    /// Messages seen before.
    pub duplicate_messages: u32,
    /// Statuses applied.
    pub statuses: u32,
    /// Raw events kept.
    pub events: u32,
}

/// What the queue should do with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Processed: delete it.
    Done,
    /// Failed, attempts remain: make it visible again after a back-off.
    Retry {
        /// Why it failed.
        reason: String,
        /// How long to wait.
        delay: Duration,
    },
    /// Failed on its last attempt: move it to the dead-letter queue.
    DeadLetter {
        /// Why it failed.
        reason: String,
    },
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before dead-lettering (SQS `maxReceiveCount`).
    pub max_receives: u32,
    /// Back-off after the first failure; doubles each time.
    pub base_delay: Duration,
    /// Longest back-off.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_receives: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Exponential back-off with full jitter in its upper half, so retries of one burst spread out.
    pub fn delay(&self, receive_count: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << receive_count.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// What to do with a record after an attempt.
    pub fn outcome(&self, result: Result<Summary, ProcessError>, receive_count: u32) -> Outcome {
        match result {
            Ok(_) => Outcome::Done,
            Err(e) if receive_count >= self.max_receives => Outcome::DeadLetter { reason: e.to_string() },
            Err(e) => Outcome::Retry {
                reason: e.to_string(),
                delay: self.delay(receive_count),
            },
        }
    }
}

/// The inbound processing use case.
#[derive(Clone)]
pub struct Processor {
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor").finish_non_exhaustive()
    }
}

impl Processor {
    /// Builds the processor.
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn Blobs>, clock: Arc<dyn Clock>) -> Self {
        Self { store, blobs, clock }
    }

    /// Processes one queue record (an [`Envelope`]).
    pub async fn handle(&self, record: &str) -> Result<Summary, ProcessError> {
        let envelope: Envelope = serde_json::from_str(record).map_err(ProcessError::Envelope)?;
        let body = match envelope {
            Envelope::Inline { body } => body.into_bytes(),
            Envelope::Blob { key } => self.blobs.get(&key).await?.ok_or(ProcessError::MissingBlob(key))?,
        };
        self.apply(&body).await
    }

    /// Applies every update of a raw webhook body.
    pub async fn apply(&self, body: &[u8]) -> Result<Summary, ProcessError> {
        let updates = split(body, self.clock.now_ms())?;
        let mut summary = Summary::default();
        for update in &updates {
            match update {
                Update::Message(m) => match self.store.record_inbound(m).await? {
                    crate::domain::Recorded::New => summary.new_messages += 1,
                    crate::domain::Recorded::Duplicate => summary.duplicate_messages += 1,
                },
                Update::Status(s) => {
                    self.store.apply_status(s).await?;
                    summary.statuses += 1;
                }
                Update::Event(e) => {
                    self.store.record_event(e).await?;
                    summary.events += 1;
                }
            }
        }
        Ok(summary)
    }

    /// Processes one delivery and tells the queue what to do with it.
    pub async fn process(&self, delivery: &Delivery, policy: &RetryPolicy) -> Outcome {
        let result = self.handle(&delivery.body).await;
        match &result {
            Ok(s) => info!(
                record = %delivery.id,
                new = s.new_messages,
                duplicates = s.duplicate_messages,
                statuses = s.statuses,
                events = s.events,
                "webhook processed"
            ),
            Err(e) => {
                warn!(record = %delivery.id, attempt = delivery.receive_count, error = %e, "webhook failed")
            }
        }
        policy.outcome(result, delivery.receive_count)
    }

    /// Settles one delivery on a queue we poll ourselves (the local stack and tests; in Lambda the
    /// event source settles through the batch response).
    pub async fn settle(
        &self,
        queue: &dyn Queue,
        delivery: &Delivery,
        policy: &RetryPolicy,
    ) -> Result<Outcome, PortError> {
        let outcome = self.process(delivery, policy).await;
        match &outcome {
            Outcome::Done => queue.ack(&delivery.receipt).await?,
            Outcome::Retry { delay, .. } => queue.retry_later(&delivery.receipt, *delay).await?,
            Outcome::DeadLetter { reason } => {
                warn!(record = %delivery.id, reason = %reason, "webhook dead-lettered");
                queue.dead_letter(delivery, reason).await?
            }
        }
        Ok(outcome)
    }

    /// Settles a batch the Lambda event source delivered and returns the ids to report as
    /// `batchItemFailures`: the ones to retry (after their back-off is set on the queue) and any dead
    /// letter that could not be moved aside (SQS's redrive then catches it). One bad record never
    /// fails the rest.
    pub async fn settle_batch(&self, queue: &dyn Queue, batch: &[Delivery], policy: &RetryPolicy) -> Vec<String> {
        let mut failures = Vec::new();
        for d in batch {
            match self.process(d, policy).await {
                Outcome::Done => {}
                Outcome::Retry { delay, .. } => {
                    if let Err(e) = queue.retry_later(&d.receipt, delay).await {
                        warn!(record = %d.id, error = %e, "could not set back-off; SQS retries after its visibility timeout");
                    }
                    failures.push(d.id.clone());
                }
                Outcome::DeadLetter { reason } => {
                    warn!(record = %d.id, reason = %reason, "webhook dead-lettered");
                    if let Err(e) = queue.dead_letter(d, &reason).await {
                        warn!(record = %d.id, error = %e, "could not dead-letter; leaving it to SQS redrive");
                        failures.push(d.id.clone());
                    }
                }
            }
        }
        failures
    }

    /// Receives and settles one batch; returns how many deliveries it handled.
    pub async fn poll_once(&self, queue: &dyn Queue, policy: &RetryPolicy, wait: Duration) -> Result<usize, PortError> {
        let batch = queue.receive(10, wait).await?;
        for d in &batch {
            self.settle(queue, d, policy).await?;
        }
        Ok(batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_stays_under_the_cap() {
        let p = RetryPolicy {
            max_receives: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
        };
        for n in 1..=10 {
            let d = p.delay(n);
            let full = Duration::from_secs(2 * (1u64 << (n - 1))).min(Duration::from_secs(10));
            assert!(d >= full / 2 && d <= full, "attempt {n}: {d:?} vs {full:?}");
        }
    }

    #[test]
    fn the_last_attempt_dead_letters_and_earlier_ones_retry() {
        let p = RetryPolicy {
            max_receives: 3,
            ..RetryPolicy::default()
        };
        let err = || Err(ProcessError::MissingBlob("k".into()));
        assert!(matches!(p.outcome(err(), 1), Outcome::Retry { .. }));
        assert!(matches!(p.outcome(err(), 2), Outcome::Retry { .. }));
        assert_eq!(
            p.outcome(err(), 3),
            Outcome::DeadLetter {
                reason: "webhook blob k is missing".into()
            }
        );
        assert_eq!(p.outcome(Ok(Summary::default()), 3), Outcome::Done);
    }
}
