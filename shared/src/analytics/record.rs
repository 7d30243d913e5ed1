//! The recorder: turns a message, as it stands, into counter bumps.

use std::sync::Arc;

use crate::domain::{CustomerKey, Direction, MessageRef, StoredMessage, seq_key};
use crate::ports::{Counters, PortError, ReadModel, Tally, Walk};
use crate::read::MessageView;

use super::facts::{self, DAY_MS};

/// Our messages read per step while collecting those a reply answers.
const STEP: u32 = 100;

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

    /// Records what a status or a send's outcome changed: only the facts of the message itself.
    /// Its activity point and its place in the customer's timeline (the wait it ends, the replies
    /// it got) do not move with its status: they were settled when the message was recorded.
    pub async fn record_own(&self, r: &MessageRef) -> Result<(), PortError> {
        match self.read.message(r).await? {
            Some(view) => {
                self.tally(Tally {
                    points: Vec::new(),
                    ..facts::of_view(&view)
                })
                .await
            }
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
    /// the wait that our next message ends. One walk over our messages from a day before it
    /// finds both; the wait's start is looked for only when our next message exists, which for
    /// a message processed as it arrives it does not yet.
    async fn after_inbound(&self, customer: &CustomerKey, at: i64, seq: &str) -> Result<Tally, PortError> {
        let mut tally = Tally::default();
        let (before, next) = self.ours_around(customer, &seq_key(at - DAY_MS, ""), seq).await?;
        for m in before.iter().filter(|m| m.timestamp_ms < at) {
            tally.extend(facts::replied(m, customer.as_str()));
        }
        if let Some(end) = next
            && let (epoch, Some(start)) = self.wait_start(customer, &format!("{seq}~")).await?
        {
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

    /// Before `hi` (exclusive): our previous message (the epoch, `first` when there is none) and
    /// the customer's earliest message after it, which is simply the next message: nothing of
    /// ours comes between.
    async fn wait_start(&self, customer: &CustomerKey, hi: &str) -> Result<(String, Option<StoredMessage>), PortError> {
        let previous = self
            .read
            .timeline(
                customer,
                Walk {
                    lo: "",
                    hi,
                    newest_first: true,
                    limit: 1,
                    ours_only: true,
                },
            )
            .await?
            .pop();
        let after = previous.as_ref().map_or_else(String::new, StoredMessage::seq);
        let start = self
            .read
            .timeline(
                customer,
                Walk {
                    lo: &after,
                    hi,
                    newest_first: false,
                    limit: 1,
                    ours_only: false,
                },
            )
            .await?
            .pop();
        let epoch = previous.map_or_else(|| "first".to_owned(), |m| m.id.to_string());
        Ok((epoch, start))
    }

    /// Our messages to the customer after `lo`: those before `seq`, oldest first, and the first
    /// one after it.
    async fn ours_around(
        &self,
        customer: &CustomerKey,
        lo: &str,
        seq: &str,
    ) -> Result<(Vec<StoredMessage>, Option<StoredMessage>), PortError> {
        let mut lo = lo.to_owned();
        let mut before = Vec::new();
        loop {
            let walk = Walk {
                lo: &lo,
                hi: "~",
                newest_first: false,
                limit: STEP,
                ours_only: true,
            };
            let page = self.read.timeline(customer, walk).await?;
            let done = page.len() < STEP as usize;
            if let Some(last) = page.last() {
                lo = last.seq();
            }
            for m in page {
                if m.seq().as_str() > seq {
                    return Ok((before, Some(m)));
                }
                before.push(m);
            }
            if done {
                return Ok((before, None));
            }
        }
    }
}
