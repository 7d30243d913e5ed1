//! Queue consumption shared by every consumer (inbound processor, outbound sender): what to do with
//! a delivery ([`Outcome`]), how patiently to retry ([`RetryPolicy`]), and settling a batch either on
//! a queue we poll ourselves (local stack, tests) or through a Lambda SQS batch response.

use std::time::Duration;

use async_trait::async_trait;
use tracing::warn;

use crate::ports::{Delivery, PortError, Queue};

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
    /// Not an attempt but a wait (a rate limit): the record goes back on the queue as a new message
    /// visible after `delay`, and this one is removed, so waiting never uses up the receives that
    /// SQS counts towards its dead-letter redrive.
    Postpone {
        /// What it waits for.
        reason: String,
        /// How long.
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

/// Attempts before a failing webhook is dead-lettered: with [`RetryPolicy::default`]'s back-off
/// that is two to four hours of retrying, so a throttling burst or a regional blip heals on its own.
/// `template.yaml` keeps the queue's `maxReceiveCount` above every value of `MaxReceives`.
pub const DEFAULT_MAX_RECEIVES: u32 = 24;

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_receives: DEFAULT_MAX_RECEIVES,
            base_delay: Duration::from_secs(2),
            // SQS allows visibility changes up to 12 h; a quarter hour keeps the retries of a
            // long incident frequent enough to notice the recovery.
            max_delay: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// Exponential back-off with full jitter in its upper half, so retries of one burst spread out.
    pub fn delay(&self, receive_count: u32) -> Duration {
        let half = self.full_delay(receive_count) / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// The least time a record keeps being retried before it is dead-lettered (every back-off at
    /// the bottom of its jitter): the length of an incident the pipeline rides out.
    pub fn budget(&self) -> Duration {
        (1..self.max_receives).map(|n| self.full_delay(n) / 2).sum()
    }

    fn full_delay(&self, receive_count: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << receive_count.saturating_sub(1).min(16))
            .min(self.max_delay)
    }

    /// What to do with a record after an attempt.
    pub fn outcome<E: std::fmt::Display>(&self, result: Result<(), E>, receive_count: u32) -> Outcome {
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

/// A queue consumer: decides, for each delivery of a batch, what the queue should do with it.
#[async_trait]
pub trait Handler: Send + Sync {
    /// One outcome per delivery, in order.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome>;
}

/// Applies an outcome on a queue we poll ourselves.
pub async fn settle(queue: &dyn Queue, delivery: &Delivery, outcome: &Outcome) -> Result<(), PortError> {
    match outcome {
        Outcome::Done => queue.ack(&delivery.receipt).await,
        Outcome::Retry { delay, .. } => queue.retry_later(&delivery.receipt, *delay).await,
        // A crash between the copy and the ack leaves both: consumers are idempotent per record.
        Outcome::Postpone { delay, .. } => match postpone(queue, delivery, *delay).await {
            Postponed::Copied => queue.ack(&delivery.receipt).await,
            Postponed::InPlace => Ok(()),
        },
        Outcome::DeadLetter { reason } => {
            warn!(record = %delivery.id, reason = %reason, "dead-lettered");
            queue.dead_letter(delivery, reason).await
        }
    }
}

/// Where a postponed record waits.
#[derive(Debug, PartialEq, Eq)]
enum Postponed {
    /// A delayed copy is on the queue: the original is to be removed.
    Copied,
    /// The queue refused the copy: the original stays, hidden for the delay if the queue allowed
    /// that (a wait that then counts as a receive, rather than losing the record).
    InPlace,
}

async fn postpone(queue: &dyn Queue, delivery: &Delivery, delay: Duration) -> Postponed {
    let Err(e) = queue.send_later(&delivery.body, delay).await else {
        return Postponed::Copied;
    };
    warn!(record = %delivery.id, error = %e, "could not postpone; retrying in place");
    if let Err(e) = queue.retry_later(&delivery.receipt, delay).await {
        warn!(record = %delivery.id, error = %e, "could not set back-off either");
    }
    Postponed::InPlace
}

/// Receives one batch of up to 10 (SQS's batch), waiting up to `wait`, handles and settles it;
/// returns how many it received.
pub async fn poll_once(handler: &dyn Handler, queue: &dyn Queue, wait: Duration) -> Result<usize, PortError> {
    poll_batch(handler, queue, 10, wait).await
}

/// [`poll_once`] with up to `max` records: a local queue gives larger batches, whose writes then
/// share commits.
pub async fn poll_batch(
    handler: &dyn Handler,
    queue: &dyn Queue,
    max: u32,
    wait: Duration,
) -> Result<usize, PortError> {
    let batch = queue.receive(max, wait).await?;
    let outcomes = handler.handle_batch(&batch).await;
    let settled = futures::future::join_all(batch.iter().zip(&outcomes).map(|(d, o)| settle(queue, d, o))).await;
    settled.into_iter().collect::<Result<Vec<()>, PortError>>()?;
    Ok(batch.len())
}

/// Settles a batch the Lambda event source delivered and returns the ids to report as
/// `batchItemFailures`: the ones to retry (after their back-off is set on the queue) and any dead
/// letter that could not be moved aside (SQS's redrive then catches it). One bad record never fails
/// the rest.
pub async fn settle_lambda_batch(handler: &dyn Handler, queue: &dyn Queue, batch: &[Delivery]) -> Vec<String> {
    let outcomes = handler.handle_batch(batch).await;
    let mut failures = Vec::new();
    for (d, outcome) in batch.iter().zip(outcomes) {
        match outcome {
            Outcome::Done => {}
            Outcome::Retry { delay, .. } => {
                if let Err(e) = queue.retry_later(&d.receipt, delay).await {
                    warn!(record = %d.id, error = %e, "could not set back-off; SQS retries after its visibility timeout");
                }
                failures.push(d.id.clone());
            }
            // Copied: the event source deletes this one. In place: it must stay.
            Outcome::Postpone { delay, .. } => {
                if postpone(queue, d, delay).await == Postponed::InPlace {
                    failures.push(d.id.clone());
                }
            }
            Outcome::DeadLetter { reason } => {
                warn!(record = %d.id, reason = %reason, "dead-lettered");
                if let Err(e) = queue.dead_letter(d, &reason).await {
                    warn!(record = %d.id, error = %e, "could not dead-letter; leaving it to SQS redrive");
                    failures.push(d.id.clone());
                }
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays an outage: every attempt fails until `outage` has passed, each retry waiting the
    /// longest or the shortest back-off the jitter allows; returns the outcome of the attempt that
    /// first comes after the outage (or the dead letter before it).
    fn ride_out(policy: &RetryPolicy, outage: Duration, shortest: bool) -> Outcome {
        let mut elapsed = Duration::ZERO;
        for receive in 1.. {
            if elapsed >= outage {
                return policy.outcome(Ok::<(), String>(()), receive);
            }
            match policy.outcome(Err::<(), _>("throttled".to_owned()), receive) {
                Outcome::Retry { .. } => {
                    let full = policy.full_delay(receive);
                    elapsed += if shortest { full / 2 } else { full };
                }
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    #[test]
    fn the_deployed_policy_keeps_retrying_through_an_incident_of_hours() {
        let policy = RetryPolicy::default();
        assert!(policy.budget() >= Duration::from_secs(90 * 60), "{:?}", policy.budget());
        for outage in [30, 15 * 60, 90 * 60].map(Duration::from_secs) {
            assert_eq!(ride_out(&policy, outage, true), Outcome::Done, "outage {outage:?}");
            assert_eq!(ride_out(&policy, outage, false), Outcome::Done, "outage {outage:?}");
        }
        // And it does end: a record failing for a day is dead-lettered, not retried forever.
        assert!(matches!(
            ride_out(&policy, Duration::from_secs(86_400), false),
            Outcome::DeadLetter { .. }
        ));
    }

    #[test]
    fn the_budget_counts_the_shortest_back_off_of_every_retry() {
        let p = RetryPolicy {
            max_receives: 4,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(5),
        };
        // Retries after receives 1, 2, 3 wait at least 1 s, 2 s and 2.5 s (capped at 5 s).
        assert_eq!(p.budget(), Duration::from_millis(5_500));
    }
}
