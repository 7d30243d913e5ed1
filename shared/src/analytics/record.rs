//! The recorder: turns a message, as it stands, into counter bumps.

use std::sync::Arc;

use crate::domain::{CustomerKey, Direction, MessageRef, StoredMessage, seq_key};
use crate::ports::{Counters, PortError, ReadModel, Tally};
use crate::read::MessageView;

use super::facts::{self, DAY_MS};

/// Messages read per step while walking a customer's timeline.
const STEP: u32 = 100;
/// How far back a wait's start is looked for, in messages: a customer who wrote more than this
/// many times without an answer has their wait counted from the oldest of them seen.
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

    /// Records the message `r` names, if it is stored.
    pub async fn record(&self, r: &MessageRef) -> Result<(), PortError> {
        match self.read.message(r).await? {
            Some(view) => self.record_view(&view).await,
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
        if tally.is_empty() {
            return Ok(());
        }
        self.counters.tally(&tally).await
    }

    /// A customer's message answers each of our messages of the 24 h before it, and belongs to
    /// the wait that our next message ends.
    async fn after_inbound(&self, customer: &CustomerKey, at: i64, seq: &str) -> Result<Tally, PortError> {
        let mut tally = Tally::default();
        let lo = seq_key(at - DAY_MS, "");
        for m in self.walk(customer, &lo, seq, false, usize::MAX).await? {
            if m.direction == Direction::Outbound && m.timestamp_ms < at {
                tally.extend(facts::replied(&m, customer.as_str()));
            }
        }
        let (epoch, start) = self.wait_start(customer, &format!("{seq}~")).await?;
        if let (Some(start), Some(end)) = (start, self.next_outbound(customer, seq).await?) {
            tally
                .facts
                .push(facts::waited(customer.as_str(), &epoch, &start, end.timestamp_ms));
        }
        Ok(tally)
    }

    /// Our message ends the wait of the customer's messages since our previous one.
    async fn after_outbound(&self, customer: &CustomerKey, at: i64, seq: &str) -> Result<Tally, PortError> {
        let mut tally = Tally::default();
        let (epoch, start) = self.wait_start(customer, seq).await?;
        if let Some(start) = start {
            tally.facts.push(facts::waited(customer.as_str(), &epoch, &start, at));
        }
        Ok(tally)
    }

    /// Walking back from `hi` (exclusive): our previous message (the epoch, `first` when there is
    /// none) and the customer's earliest message after it.
    async fn wait_start(&self, customer: &CustomerKey, hi: &str) -> Result<(String, Option<StoredMessage>), PortError> {
        let mut start = None;
        let mut hi = hi.to_owned();
        let mut seen = 0;
        loop {
            let page = self.read.timeline(customer, "", &hi, true, STEP).await?;
            let done = page.len() < STEP as usize;
            for m in page {
                hi = m.seq();
                if m.direction == Direction::Outbound {
                    return Ok((m.id.to_string(), start));
                }
                start = Some(m);
                seen += 1;
            }
            if done || seen >= WALK_LIMIT {
                return Ok(("first".to_owned(), start));
            }
        }
    }

    /// Our first message to the customer after `seq`.
    async fn next_outbound(&self, customer: &CustomerKey, seq: &str) -> Result<Option<StoredMessage>, PortError> {
        let mut lo = seq.to_owned();
        for _ in 0..WALK_LIMIT / STEP as usize {
            let page = self.read.timeline(customer, &lo, "~", false, STEP).await?;
            let done = page.len() < STEP as usize;
            if let Some(found) = page.iter().find(|m| m.direction == Direction::Outbound) {
                return Ok(Some(found.clone()));
            }
            match page.last() {
                Some(last) if !done => lo = last.seq(),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Up to `limit` messages strictly between `lo` and `hi`, in order.
    async fn walk(
        &self,
        customer: &CustomerKey,
        lo: &str,
        hi: &str,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, PortError> {
        let (mut lo, mut hi) = (lo.to_owned(), hi.to_owned());
        let mut out = Vec::new();
        loop {
            let page = self.read.timeline(customer, &lo, &hi, newest_first, STEP).await?;
            let done = page.len() < STEP as usize;
            if let Some(last) = page.last() {
                if newest_first {
                    hi = last.seq();
                } else {
                    lo = last.seq();
                }
            }
            out.extend(page);
            if done || out.len() >= limit {
                return Ok(out);
            }
        }
    }
}
