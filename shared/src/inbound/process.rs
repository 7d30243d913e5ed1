//! Inbound processing: one queue record is one webhook. Each update in it is applied idempotently
//! (messages once per wamid, statuses monotonically, raw events once per content hash) and then its
//! [reactions](super::reactions) run, on every delivery, so a record retried after a crash halfway
//! through finishes the work without doing any of it twice.

use std::sync::Arc;

use tracing::{info, warn};

use async_trait::async_trait;

use super::lag::LagMarker;
use super::reactions::{Applied, FetchMedia, LinkOutbound, Reaction, ReactionError, Reactions};
use crate::domain::Recorded;
use crate::inbound::ingest::Envelope;
use crate::inbound::webhook::{ParseError, Update, split};
use crate::ports::{Blobs, Clock, Delivery, Inbox, MediaStore, Outbox, PortError, Queue};
use crate::runtime::consume::{Handler, Outcome, RetryPolicy};

/// Why a record could not be processed. A record that can never succeed (not an envelope, not a
/// webhook) is dead-lettered at once; every other kind is retried until the last attempt, then
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
    /// A reaction failed in a way that may pass.
    #[error("reaction failed: {0}")]
    Reaction(#[from] ReactionError),
    /// Some updates of the webhook failed; every other one was applied (and its reactions run).
    #[error("{} of {total} updates failed: {}", failed.len(), failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Updates {
        /// Updates in the webhook.
        total: usize,
        /// The ones that failed.
        failed: Vec<UpdateFailure>,
    },
}

/// One update of a webhook that could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("update {index} ({what}): {error}")]
pub struct UpdateFailure {
    /// Its place in the webhook, from 0.
    pub index: usize,
    /// Which update: `message wamid.X`, `status wamid.X (delivered)`, `event <field>`.
    pub what: String,
    /// Why.
    #[source]
    pub error: Box<ProcessError>,
}

impl ProcessError {
    /// Whether retrying the same record can never help: it is not a webhook, or every update that
    /// failed was refused as invalid data (the others are applied already).
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Envelope(_) | Self::Parse(_) | Self::Port(PortError::Invalid { .. }) => true,
            Self::Updates { failed, .. } => failed.iter().all(|f| f.error.is_permanent()),
            _ => false,
        }
    }
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

/// The inbound processing use case.
#[derive(Clone)]
pub struct Processor {
    inbox: Arc<dyn Inbox>,
    reactions: Reactions,
    blobs: Arc<dyn Blobs>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    marker: Option<LagMarker>,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor").finish_non_exhaustive()
    }
}

impl Processor {
    /// Builds the processor with its built-in reaction: statuses that carry our id link the
    /// outbound message ([`LinkOutbound`]).
    pub fn new(inbox: Arc<dyn Inbox>, outbox: Arc<dyn Outbox>, blobs: Arc<dyn Blobs>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inbox,
            reactions: Reactions::new().with(Arc::new(LinkOutbound::new(outbox))),
            blobs,
            clock,
            policy: RetryPolicy::default(),
            marker: None,
        }
    }

    /// Reports progress after each batch, for the sender's resend check.
    pub fn with_marker(mut self, marker: LagMarker) -> Self {
        self.marker = Some(marker);
        self
    }

    /// Adds a reaction, run after the ones already registered.
    pub fn with_reaction(mut self, reaction: Arc<dyn Reaction>) -> Self {
        self.reactions = self.reactions.with(reaction);
        self
    }

    /// Copies inbound media: each media message registers its record and queues a download on
    /// `queue` ([`FetchMedia`]).
    pub fn fetching_media(self, media: Arc<dyn MediaStore>, queue: Arc<dyn Queue>) -> Self {
        self.with_reaction(Arc::new(FetchMedia::new(media, queue)))
    }

    /// Sets how often and how patiently failed records are retried.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
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

    /// Applies every update of a raw webhook body. Updates are independent: one that fails does
    /// not stop the others, which are applied (with their reactions) on this delivery. If any
    /// failed, the error lists them; the record is then retried or dead-lettered whole, which is
    /// safe because every update applies once however often it is delivered, and the dead letter
    /// keeps the whole body, so a redrive needs nothing else.
    pub async fn apply(&self, body: &[u8]) -> Result<Summary, ProcessError> {
        let updates = split(body, self.clock.now_ms())?;
        let mut summary = Summary::default();
        let mut failed = Vec::new();
        for (index, update) in updates.iter().enumerate() {
            if let Err(error) = self.apply_one(update, &mut summary).await {
                failed.push(UpdateFailure {
                    index,
                    what: describe(update),
                    error: Box::new(error),
                });
            }
        }
        if failed.is_empty() {
            Ok(summary)
        } else {
            Err(ProcessError::Updates {
                total: updates.len(),
                failed,
            })
        }
    }

    async fn apply_one(&self, update: &Update, summary: &mut Summary) -> Result<(), ProcessError> {
        let applied = match update {
            Update::Message(m) => {
                let recorded = self.inbox.record_inbound(m).await?;
                match recorded {
                    Recorded::New => summary.new_messages += 1,
                    Recorded::Duplicate => summary.duplicate_messages += 1,
                }
                Applied::Message { message: m, recorded }
            }
            Update::Status(s) => {
                self.inbox.apply_status(s).await?;
                summary.statuses += 1;
                Applied::Status(s)
            }
            Update::Event(e) => {
                self.inbox.record_event(e).await?;
                summary.events += 1;
                Applied::Event(e)
            }
        };
        // On every delivery, not only the first: a crash may have come right after the write.
        self.reactions.run(applied).await?;
        Ok(())
    }

    /// Processes one delivery and tells the queue what to do with it.
    pub async fn process(&self, delivery: &Delivery) -> Outcome {
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
        match result {
            Err(e) if e.is_permanent() => Outcome::DeadLetter { reason: e.to_string() },
            other => self.policy.outcome(other.map(drop), delivery.receive_count),
        }
    }
}

/// An update named for an operator reading a dead letter's reason.
fn describe(update: &Update) -> String {
    match update {
        Update::Message(m) => format!(
            "message {}",
            m.wamid
                .as_ref()
                .map_or_else(|| m.id.to_string(), |w| w.as_str().to_owned())
        ),
        Update::Status(s) => format!("status {} ({})", s.wamid.as_str(), s.status.as_str()),
        Update::Event(e) => format!("event {}", e.field),
    }
}

#[async_trait]
impl Handler for Processor {
    /// The records of a batch are independent webhooks: they are applied concurrently (every write
    /// is idempotent and order-free), so their store writes can share commits.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        let outcomes = futures::future::join_all(batch.iter().map(|d| self.process(d))).await;
        if let Some(marker) = &self.marker {
            marker.processed(batch).await;
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        let err = || Err::<(), _>(ProcessError::MissingBlob("k".into()));
        assert!(matches!(p.outcome(err(), 1), Outcome::Retry { .. }));
        assert!(matches!(p.outcome(err(), 2), Outcome::Retry { .. }));
        assert_eq!(
            p.outcome(err(), 3),
            Outcome::DeadLetter {
                reason: "webhook blob k is missing".into()
            }
        );
        assert_eq!(p.outcome(Ok::<(), ProcessError>(()), 3), Outcome::Done);
    }
}
