//! The outbound sender: takes message ids off the outbound queue and delivers them to Graph at the
//! highest rate Meta allows and no higher, retrying what can be retried and recording why what
//! failed failed.
//!
//! **Ambiguous outcomes.** When Graph does not answer after the request went out (a timeout, a reset
//! mid-answer, or our own crash before the answer was recorded), Meta may have accepted the message.
//! Sending again could deliver it twice; not sending could lose it. The message stays `sending` and
//! is looked at again after [`SenderConfig::recheck_after`]. Every send carries our id as
//! `biz_opaque_callback_data`, and Meta's first status webhook for it (normally `sent`, within
//! seconds) marks the message accepted with its wamid. So at the re-check, a message Meta has is
//! already final and is not sent again; one still `sending` never reached Meta and is sent again,
//! but only once inbound processing is current ([`Sender::watching`]): while webhooks wait in a
//! backlog, the status may be among them, and the re-check waits for the processor.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use tokio::sync::OnceCell;
use tracing::{error, info, warn};

use super::callback_data;
use super::enqueue::OutboundRecord;
use super::limits::{self, number_burst, number_key, pair_key};
use super::request::{Recipient, graph_body};
use crate::analytics::Recorder;
use crate::domain::{CustomerKey, ErrorInfo, Json, MessageId, MessageRef, SendChange, SendState, StoredMessage};
use crate::graph::{Disposition, GraphClient, Meaning};
use crate::inbound::lag::LagWatch;
use crate::ports::{Clock, Delivery, Outbox, PortError, RateLimiter};
use crate::runtime::consume::{Handler, Outcome, RetryPolicy};

/// How the sender behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenderConfig {
    /// Messages per second per business number (`WABRIDGE_THROUGHPUT_MPS`).
    pub throughput_mps: f64,
    /// Graph calls per message before it is failed with the last error.
    pub max_attempts: u32,
    /// Back-off between retryable failures.
    pub retry: RetryPolicy,
    /// How long to wait for a status webhook before re-sending after an ambiguous outcome.
    pub recheck_after: Duration,
    /// Queue receives before a record that cannot be read is dead-lettered.
    pub max_receives: u32,
    /// How long a number's sends pause after Meta's throughput errors (130429, 80007, 4).
    pub throughput_pause: Duration,
    /// How long sends to one customer pause after Meta's pair rate error (131056).
    pub pair_pause: Duration,
    /// Messages per second to one customer from one number (Meta's pair limit).
    pub pair_rate: f64,
    /// How many messages to one customer may go at once (a reply of several parts).
    pub pair_burst: f64,
    /// How long after a batch starts a Graph call may still begin: with the Graph client's timeout
    /// added, it ends before the function's timeout, so a lane of slow calls is never cut off
    /// mid-flight. What did not start is postponed, not attempted.
    pub batch_deadline: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            throughput_mps: limits::DEFAULT_THROUGHPUT_MPS,
            max_attempts: 6,
            retry: RetryPolicy {
                max_receives: u32::MAX,
                base_delay: Duration::from_secs(2),
                max_delay: Duration::from_secs(300),
            },
            // Long enough for Meta's first status to arrive even while webhooks are delayed: a
            // resend before it would deliver the message twice.
            recheck_after: Duration::from_secs(5 * 60),
            max_receives: 100,
            throughput_pause: Duration::from_secs(1),
            pair_pause: Duration::from_secs(6),
            pair_rate: limits::PAIR_RATE_PER_SEC,
            pair_burst: limits::PAIR_BURST,
            batch_deadline: Duration::from_secs(40),
        }
    }
}

/// The error of a message given up on while Meta may have it: code 0 (not Meta's), title
/// [`OUTCOME_UNKNOWN`].
fn outcome_unknown(attempts: u32, waited: Duration) -> ErrorInfo {
    ErrorInfo {
        code: 0,
        title: OUTCOME_UNKNOWN.into(),
        details: Some(format!(
            "Graph did not answer the last of {attempts} attempts and no status arrived within {} s; \
             not sent again, as Meta may have it",
            waited.as_secs()
        )),
    }
}

/// The title of the error on a message whose last attempt Graph never answered, once the attempts
/// are used up: it may or may not have reached the customer.
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";

/// The sender.
#[derive(Clone)]
pub struct Sender {
    outbox: Arc<dyn Outbox>,
    graph: GraphClient,
    limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    config: SenderConfig,
    inbound: Option<LagWatch>,
    analytics: Option<Recorder>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A message ready to go, after its checks.
struct Ready {
    id: MessageId,
    pni: String,
    customer: String,
    msg: StoredMessage,
    attempts: u32,
}

impl Sender {
    /// Wires the sender.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        graph: GraphClient,
        limiter: Arc<dyn RateLimiter>,
        clock: Arc<dyn Clock>,
        config: SenderConfig,
    ) -> Self {
        Self {
            outbox,
            graph,
            limiter,
            clock,
            config,
            inbound: None,
            analytics: None,
        }
    }

    /// Counts each message whose send ended in the analytics counters once the batch is handled,
    /// so a send accepted or refused shows in the status mix (the message's own facts: the enqueue
    /// counted its place in the timeline). A count that fails is only logged: the message's
    /// statuses and a rebuild record it again.
    pub fn counting(mut self, recorder: Recorder) -> Self {
        self.analytics = Some(recorder);
        self
    }

    /// Counts the messages of the batch whose send ended (accepted, or failed for good); one
    /// that waits for its turn or a retry has not changed.
    async fn count(&self, batch: &[Delivery], outcomes: &[Outcome]) {
        let Some(recorder) = &self.analytics else { return };
        let ended = batch
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| matches!(o, Outcome::Done | Outcome::DeadLetter { .. }));
        for (d, _) in ended {
            let Some(id) = serde_json::from_str::<OutboundRecord>(&d.body)
                .ok()
                .and_then(|r| MessageId::parse(&r.id).ok())
            else {
                continue;
            };
            if let Err(e) = recorder.record_own(&MessageRef::Id(id)).await {
                warn!(id = %id, error = %e, "could not count the message yet");
            }
        }
    }

    /// Before resending after an unanswered attempt, or giving it up, checks that inbound
    /// processing is current, so a status waiting in the inbound backlog is not taken for "Meta
    /// never had it". Without a watch, the re-check trusts the time alone.
    pub fn watching(mut self, inbound: LagWatch) -> Self {
        self.inbound = Some(inbound);
        self
    }

    /// Whether inbound processing is behind, asked at most once per batch (`seen`): the answer
    /// costs a queue and a store request, and a batch after an incident may hold many re-checks.
    async fn inbound_behind(&self, seen: &OnceCell<Option<String>>) -> Result<Option<String>, PortError> {
        let Some(watch) = &self.inbound else {
            return Ok(None);
        };
        seen.get_or_try_init(|| watch.behind(self.config.recheck_after))
            .await
            .cloned()
    }

    /// Reads the record and decides whether the message still needs a Graph call.
    async fn prepare(
        &self,
        d: &Delivery,
        behind: &OnceCell<Option<String>>,
    ) -> Result<Result<Ready, Outcome>, PortError> {
        let unreadable = |reason: String| {
            if d.receive_count >= self.config.max_receives {
                Outcome::DeadLetter { reason }
            } else {
                Outcome::Retry {
                    reason,
                    delay: self.config.retry.delay(d.receive_count),
                }
            }
        };
        let Ok(record) = serde_json::from_str::<OutboundRecord>(&d.body) else {
            return Ok(Err(unreadable("outbound record is not {\"id\": ...}".into())));
        };
        let Ok(id) = MessageId::parse(&record.id) else {
            return Ok(Err(unreadable(format!("{:?} is not a message id", record.id))));
        };
        let Some((msg, progress)) = self.outbox.outbound(id).await? else {
            return Ok(Err(unreadable(format!("message {id} is not stored"))));
        };
        if progress.state.is_final() {
            return Ok(Err(Outcome::Done));
        }
        if progress.state == SendState::Sending {
            let since = Duration::from_millis(
                u64::try_from(self.clock.now_ms() - progress.last_attempt_ms.unwrap_or(0)).unwrap_or(0),
            );
            if since < self.config.recheck_after {
                let delay = self.config.recheck_after - since;
                return Ok(Err(Outcome::Retry {
                    reason: "waiting for Meta's status after an unanswered send".into(),
                    delay,
                }));
            }
            if let Some(behind) = self.inbound_behind(behind).await? {
                // Its status may be in that backlog: wait for the processor, without using up
                // the record's receives.
                info!(msg_id = %id, %behind, "inbound is behind; holding the re-check");
                return Ok(Err(Outcome::Postpone {
                    reason: format!("holding the re-check: {behind}"),
                    delay: self.config.recheck_after.min(Duration::from_secs(60)),
                }));
            }
            if progress.attempts >= self.config.max_attempts {
                // The last attempt went unanswered and no status came: Meta may have it. Sending
                // blind could deliver it twice; say we do not know. A status that comes later
                // still revives it (SendChange::Confirmed).
                let error = outcome_unknown(progress.attempts, self.config.recheck_after);
                warn!(msg_id = %id, attempts = progress.attempts, "outcome unknown; not sent again");
                self.outbox.update_outbound(id, &SendChange::Failed { error }).await?;
                return Ok(Err(Outcome::Done));
            }
            warn!(msg_id = %id, "no sign Meta received the earlier attempt; sending again");
        }
        if progress.attempts >= self.config.max_attempts {
            let error = progress.error.unwrap_or(ErrorInfo {
                code: 0,
                title: "retries exhausted".into(),
                details: None,
            });
            self.outbox.update_outbound(id, &SendChange::Failed { error }).await?;
            return Ok(Err(Outcome::Done));
        }
        Ok(Ok(Ready {
            id,
            pni: msg.phone_number_id.clone(),
            customer: msg.customer.as_str().to_owned(),
            msg,
            attempts: progress.attempts,
        }))
    }

    /// Calls Graph for one message whose pair and number tokens are already held.
    async fn deliver(&self, ready: Ready) -> Result<Outcome, PortError> {
        let now = self.clock.now_ms();
        let pair = pair_key(&ready.pni, &ready.customer);
        let Ready {
            id, pni, msg, attempts, ..
        } = ready;
        let claimed = self
            .outbox
            .update_outbound(
                id,
                &SendChange::Attempt {
                    at_ms: now,
                    after_attempts: attempts,
                },
            )
            .await?;
        if claimed.is_none_or(|p| p.state != SendState::Sending || p.attempts != attempts + 1) {
            // Another worker holds a duplicate delivery of this record and made this attempt.
            return Ok(Outcome::Retry {
                reason: "attempt taken by another worker".into(),
                delay: self.config.recheck_after,
            });
        }
        let to = match (&msg.wa_id, &msg.user_id) {
            (Some(w), _) => Recipient::WaId(w.clone()),
            (None, Some(u)) => Recipient::UserId(u.clone()),
            (None, None) => Recipient::WaId(msg.customer.as_str().to_owned()),
        };
        let body = graph_body(
            &to,
            &msg.msg_type,
            msg.content.value(),
            msg.context.as_ref().map(Json::value),
            &callback_data::encode(id, callback_data::callers(&msg).as_deref()),
        );
        let attempt = attempts + 1;
        match self.graph.send_message(&pni, &body).await {
            Ok(accepted) => {
                // Meta keys some numbers by another form than the one given (`contacts[0].wa_id`):
                // the message follows it, into the conversation the customer's replies land in.
                let resolved = accepted
                    .wa_id
                    .filter(|_| msg.wa_id.is_some())
                    .and_then(|w| CustomerKey::parse(&w).ok())
                    .filter(|w| *w != msg.customer);
                self.outbox
                    .update_outbound(
                        id,
                        &SendChange::Accepted {
                            wamid: accepted.wamid,
                            resolved,
                        },
                    )
                    .await?;
                info!(msg_id = %id, attempt, "accepted by Graph");
                Ok(Outcome::Done)
            }
            Err(e) => {
                let meaning = e.meaning();
                match e.disposition() {
                    Disposition::Retry => {
                        if meaning == Some(Meaning::ThrottleNumber) {
                            let rate = self.config.throughput_mps;
                            self.limiter
                                .penalize(&number_key(&pni), rate, self.config.throughput_pause, now)
                                .await?;
                        }
                        if meaning == Some(Meaning::ThrottlePair) {
                            let pause = self.config.pair_pause;
                            self.limiter.penalize(&pair, self.config.pair_rate, pause, now).await?;
                        }
                        if attempt >= self.config.max_attempts {
                            warn!(msg_id = %id, attempt, error = %e, "giving up");
                            self.outbox
                                .update_outbound(id, &SendChange::Failed { error: e.info() })
                                .await?;
                            return Ok(Outcome::Done);
                        }
                        self.outbox
                            .update_outbound(id, &SendChange::Deferred { error: e.info() })
                            .await?;
                        warn!(msg_id = %id, attempt, error = %e, "will retry");
                        Ok(Outcome::Retry {
                            reason: e.to_string(),
                            delay: self.config.retry.delay(attempt),
                        })
                    }
                    Disposition::Fail => {
                        if meaning == Some(Meaning::TokenRevoked) {
                            error!(msg_id = %id, "Graph rejected the access token (190): every send will fail until WHATSAPP_ACCESS_TOKEN is replaced");
                        }
                        if meaning == Some(Meaning::WindowClosed) {
                            self.outbox
                                .close_window(&msg.phone_number_id, &msg.customer, now)
                                .await?;
                        }
                        warn!(msg_id = %id, error = %e, "failed");
                        self.outbox
                            .update_outbound(id, &SendChange::Failed { error: e.info() })
                            .await?;
                        Ok(Outcome::Done)
                    }
                    Disposition::Ambiguous => {
                        warn!(msg_id = %id, error = %e, "outcome unknown; waiting for Meta's status before resending");
                        Ok(Outcome::Retry {
                            reason: e.to_string(),
                            delay: self.config.recheck_after,
                        })
                    }
                }
            }
        }
    }

    /// The order of a batch: read each record, take the pair limit for each customer, then the
    /// number's throughput for what passed, then call Graph. Taking the pair first means messages
    /// waiting on one busy customer never hold the number's tokens that others could use; every
    /// wait is a postponement, so it never counts towards the queue's dead-letter redrive.
    async fn handle(&self, batch: &[Delivery]) -> Result<Vec<Outcome>, PortError> {
        let started = tokio::time::Instant::now();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        // Lanes: one per (number, customer), in batch order, so a chat never arrives shuffled.
        let mut lanes: BTreeMap<(String, String), Vec<(usize, Ready)>> = Default::default();
        let behind = OnceCell::new();
        for (i, d) in batch.iter().enumerate() {
            match self.prepare(d, &behind).await? {
                Ok(r) => lanes
                    .entry((r.pni.clone(), r.customer.clone()))
                    .or_default()
                    .push((i, r)),
                Err(o) => outcomes[i] = Some(o),
            }
        }
        let (pair_rate, pair_burst) = (self.config.pair_rate, self.config.pair_burst);
        for ((pni, customer), lane) in &mut lanes {
            let want = u32::try_from(lane.len()).unwrap_or(u32::MAX);
            let key = pair_key(pni, customer);
            let grant = self
                .limiter
                .acquire(&key, want, pair_rate, pair_burst, self.clock.now_ms())
                .await?;
            let granted = (grant.granted as usize).min(lane.len());
            for (k, (i, _)) in lane.drain(granted..).enumerate() {
                outcomes[i] = Some(wait("pair rate limit", grant.wait, k, pair_rate));
            }
        }
        // The number's throughput, taken once per number for the whole batch and shared round
        // robin across its customers.
        let rate = self.config.throughput_mps;
        let mut by_number: BTreeMap<String, Vec<Vec<(usize, Ready)>>> = Default::default();
        for ((pni, _), lane) in lanes {
            if !lane.is_empty() {
                by_number.entry(pni).or_default().push(lane);
            }
        }
        let mut go: Vec<Vec<(usize, Ready)>> = Vec::new();
        for (pni, lanes) in by_number {
            let want = u32::try_from(lanes.iter().map(Vec::len).sum::<usize>()).unwrap_or(u32::MAX);
            let now = self.clock.now_ms();
            let grant = self
                .limiter
                .acquire(&number_key(&pni), want, rate, number_burst(rate), now)
                .await?;
            let (kept, denied) = share(lanes, grant.granted as usize);
            for (k, (i, _)) in denied.iter().enumerate() {
                outcomes[*i] = Some(wait("number throughput limit", grant.wait, k, rate));
            }
            // Their pair tokens were taken for nothing: give them back.
            self.give_back(denied.iter().map(|(_, r)| r), false).await?;
            go.extend(kept);
        }
        let deadline = started + self.config.batch_deadline;
        let lanes = go.into_iter().map(|lane| async move {
            let mut done = Vec::with_capacity(lane.len());
            let mut unsent = Vec::new();
            for (i, r) in lane {
                if tokio::time::Instant::now() >= deadline {
                    let reason = "no time left in this batch".into();
                    done.push((
                        i,
                        Outcome::Postpone {
                            reason,
                            delay: Duration::ZERO,
                        },
                    ));
                    unsent.push(r);
                } else {
                    done.push((i, self.deliver(r).await?));
                }
            }
            Ok::<_, PortError>((done, unsent))
        });
        let mut unsent = Vec::new();
        for lane in join_all(lanes).await {
            let (done, skipped) = lane?;
            for (i, r) in done {
                outcomes[i] = Some(r);
            }
            unsent.extend(skipped);
        }
        self.give_back(&unsent, true).await?;
        Ok(outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Done)).collect())
    }

    /// Returns the tokens held for messages that were not sent after all, one refund per bucket:
    /// their pair tokens, and the number's too when `number` (they had been granted both).
    async fn give_back<'a>(&self, unsent: impl IntoIterator<Item = &'a Ready>, number: bool) -> Result<(), PortError> {
        let mut pairs: BTreeMap<String, u32> = BTreeMap::new();
        let mut numbers: BTreeMap<String, u32> = BTreeMap::new();
        for r in unsent {
            *pairs.entry(pair_key(&r.pni, &r.customer)).or_default() += 1;
            if number {
                *numbers.entry(number_key(&r.pni)).or_default() += 1;
            }
        }
        let now = self.clock.now_ms();
        let rate = self.config.throughput_mps;
        for (key, n) in numbers {
            self.limiter.refund(&key, n, rate, number_burst(rate), now).await?;
        }
        let (pair_rate, pair_burst) = (self.config.pair_rate, self.config.pair_burst);
        for (key, n) in pairs {
            self.limiter.refund(&key, n, pair_rate, pair_burst, now).await?;
        }
        Ok(())
    }
}

/// A rate-limit wait for the `k`-th message denied by one grant: the bucket's own wait plus one slot
/// per message ahead of it, so a backlog comes back spread at the rate it can go, not all at once.
fn wait(reason: &str, first: Duration, k: usize, rate: f64) -> Outcome {
    let slot = Duration::from_secs_f64(1.0 / rate.max(1e-6));
    let ahead = slot.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
    Outcome::Postpone {
        reason: reason.into(),
        delay: first.max(slot).saturating_add(ahead),
    }
}

/// Splits `granted` places among lanes round robin (each lane's first message, then each second,
/// ...), keeping every lane in order: what goes now, as lanes, and what waits.
fn share<T>(lanes: Vec<Vec<T>>, granted: usize) -> (Vec<Vec<T>>, Vec<T>) {
    let longest = lanes.iter().map(Vec::len).max().unwrap_or(0);
    let mut places = vec![0usize; lanes.len()];
    let mut left = granted;
    'rounds: for round in 0..longest {
        for (lane, place) in lanes.iter().zip(places.iter_mut()) {
            if left == 0 {
                break 'rounds;
            }
            if round < lane.len() {
                *place += 1;
                left -= 1;
            }
        }
    }
    let mut kept = Vec::new();
    let mut denied = Vec::new();
    for (mut lane, n) in lanes.into_iter().zip(places) {
        denied.extend(lane.drain(n..));
        if !lane.is_empty() {
            kept.push(lane);
        }
    }
    (kept, denied)
}

#[async_trait]
impl Handler for Sender {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        match self.handle(batch).await {
            Ok(o) => {
                self.count(batch, &o).await;
                o
            }
            Err(e) => {
                // The store failed: retry the whole batch; each message's progress makes it safe.
                warn!(error = %e, "outbound batch failed on the store; retrying it");
                let delay = self.config.retry.delay(1);
                batch
                    .iter()
                    .map(|_| Outcome::Retry {
                        reason: e.to_string(),
                        delay,
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_go_round_robin_and_each_lane_stays_in_order() {
        let lanes = vec![vec!["a1", "a2", "a3", "a4"], vec!["b1"], vec!["c1", "c2"]];
        let (kept, denied) = share(lanes, 4);
        assert_eq!(kept, vec![vec!["a1", "a2"], vec!["b1"], vec!["c1"]]);
        assert_eq!(denied, vec!["a3", "a4", "c2"]);
        let (kept, denied) = share(vec![vec![1, 2], vec![3]], 10);
        assert_eq!((kept, denied), (vec![vec![1, 2], vec![3]], vec![]));
        let (kept, denied) = share(vec![vec![1, 2], vec![3]], 0);
        assert_eq!((kept, denied), (vec![], vec![1, 2, 3]));
    }

    #[test]
    fn a_backlog_waits_one_slot_per_message_ahead() {
        let delay = |k| match wait("pair", Duration::ZERO, k, 0.5) {
            Outcome::Postpone { delay, .. } => delay,
            other => panic!("{other:?}"),
        };
        assert_eq!(delay(0), Duration::from_secs(2));
        assert_eq!(delay(3), Duration::from_secs(8));
    }
}
