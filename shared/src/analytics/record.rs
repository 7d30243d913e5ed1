//! The recorder: turns a message, as it stands, into counter bumps.

use std::sync::Arc;

use crate::domain::{CustomerKey, Direction, MessageRef, StoredMessage, seq_key};
use crate::ports::{Counters, PortError, ReadModel, Tally};
use crate::read::MessageView;

use super::facts::{self, DAY_MS};

/// Messages read per step while walking a customer's timeline.
const STEP: u32 = 100;
/// How far a walk for a wait's start or end goes, in messages: a customer who wrote more than
/// this many times without an answer has their wait counted from the oldest of them seen.
const WALK_LIMIT: usize = 2_000;

/// Records messages in the counters. Every call derives the facts of the message as it stands
/// now, so calling it again after any later change (a status, a retry) only adds what changed.
#[derive(Clone)]
pub struct Recorder {
    read: Arc<dyn ReadModel>,
    counters: Arc<dyn Counters>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// A recorder reading messages from `read` and counting in `counters`.
    pub fn new(read: Arc<dyn ReadModel>, counters: Arc<dyn Counters>) -> Self {
        Self { read, counters }
    }

    /// Records the message `r` names, if it is stored: its own facts and those it settles in the
    /// customer's timeline.
    pub async fn record(&self, r: &MessageRef) -> Result<(), PortError> {
        match self.read.message(r).await? {
            Some(view) => self.record_view(&view).await,
            None => Ok(()),
        }
    }

    /// Records what a status changed: only the facts of the message itself. Its place in the
    /// customer's timeline (the wait it ends, the replies it got) does not move with its status,
    /// and was settled when the message was created and sent.
    pub async fn record_status(&self, r: &MessageRef) -> Result<(), PortError> {
        match self.read.message(r).await? {
            Some(view) => self.tally(facts::of_view(&view)).await,
            None => Ok(()),
        }
    }

    /// Records one message joined with its statuses: its own facts, and those it settles in the
    /// customer's timeline (the replies it is, the wait it starts or ends).
    pub async fn record_view(&self, view: &MessageView) -> Result<(), PortError> {
        let mut tally = facts::of_view(view);
        if let (Some(c), Some(id), Some(at)) = (facts::customer_of(view), view.id.as_deref(), view.timestamp)
            && let Ok(customer) = CustomerKey::parse(c)
        {
            let seq = seq_key(at, id);
            tally.extend(match view.direction {
                Direction::Inbound => self.after_inbound(&customer, at, &seq).await?,
                Direction::Outbound => self.after_outbound(&customer, at, &seq).await?,
            });
        }
        self.tally(tally).await
    }

    async fn tally(&self, tally: Tally) -> Result<(), PortError> {
        if tally.is_empty() {
            return Ok(());
        }
        self.counters.tally(&tally).await
    }

    /// A customer's message answers each of our messages of the 24 h before it, and belongs to
    /// the wait that our next message ends.
    async fn after_inbound(&self, customer: &CustomerKey, at: i64, seq: &str) -> Result<Tally, PortError> {
        let mut tally = Tally::default();
        let day_before = seq_key(at - DAY_MS, "");
        for m in self
            .walk(customer, &day_before, seq, false, usize::MAX, |_| false)
            .await?
        {
            if m.direction == Direction::Outbound && m.timestamp_ms < at {
                tally.extend(facts::replied(&m, customer.as_str()));
            }
        }
        let (epoch, start) = self.wait_start(customer, &format!("{seq}~")).await?;
        let next = self.walk(customer, seq, "~", false, WALK_LIMIT, is_ours).await?.pop();
        if let (Some(start), Some(end)) = (start, next.filter(is_ours)) {
            tally
                .facts
                .push(facts::waited(customer.as_str(), &epoch, &start, end.timestamp_ms));
        }
        Ok(tally)
    }

    /// Our message ends the wait of the customer's messages since our previous one.
    async fn after_outbound(&self, customer: &CustomerKey, at: i64, seq: &str) -> Result<Tally, PortError> {
        let mut tally = Tally::default();
        if let (epoch, Some(start)) = self.wait_start(customer, seq).await? {
            tally.facts.push(facts::waited(customer.as_str(), &epoch, &start, at));
        }
        Ok(tally)
    }

    /// Walking back from `hi` (exclusive): our previous message (the epoch, `first` when there is
    /// none) and the customer's earliest message after it.
    async fn wait_start(&self, customer: &CustomerKey, hi: &str) -> Result<(String, Option<StoredMessage>), PortError> {
        let mut back = self.walk(customer, "", hi, true, WALK_LIMIT, is_ours).await?;
        let epoch = match back.last() {
            Some(m) if is_ours(m) => back.pop().map(|m| m.id.to_string()),
            _ => None,
        };
        Ok((epoch.unwrap_or_else(|| "first".to_owned()), back.pop()))
    }

    /// The customer's messages strictly between `lo` and `hi`, in order, up to `limit` of them,
    /// stopping after the first one `stop` holds for.
    async fn walk(
        &self,
        customer: &CustomerKey,
        lo: &str,
        hi: &str,
        newest_first: bool,
        limit: usize,
        stop: impl Fn(&StoredMessage) -> bool,
    ) -> Result<Vec<StoredMessage>, PortError> {
        let (mut lo, mut hi) = (lo.to_owned(), hi.to_owned());
        let mut out = Vec::new();
        loop {
            let page = self.read.timeline(customer, &lo, &hi, newest_first, STEP).await?;
            let done = page.len() < STEP as usize;
            if let Some(last) = page.last() {
                *(if newest_first { &mut hi } else { &mut lo }) = last.seq();
            }
            for m in page {
                let stopped = stop(&m);
                out.push(m);
                if stopped || out.len() >= limit {
                    return Ok(out);
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}

fn is_ours(m: &StoredMessage) -> bool {
    m.direction == Direction::Outbound
}
