//! The counters role of the store: analytics kept as pre-aggregated counts, each bump exactly once.

use async_trait::async_trait;

use super::PortError;

/// One thing counted once, whatever the number of deliveries or their order.
///
/// A fact has a stable `key` (derived from the message or status it counts) and a `rank`. The
/// first time a key is seen its `metrics` are added to the counters of (`phone`, `slot`); when
/// the same key comes again with a higher rank, the metrics it added before are taken back and
/// the new ones added (an earlier time found late, a status that moved on); a lower or equal
/// rank changes nothing. So the counters end up as if each fact had been counted once, in its
/// best version, however often and in whatever order the facts arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// What is counted, e.g. `in:<wamid>` or `ev:<id>:read`.
    pub key: String,
    /// Higher replaces lower: `-timestamp` for "earliest wins", a status's rank for "latest".
    pub rank: i64,
    /// Business number.
    pub phone: String,
    /// Which hour it counts in ([`crate::analytics::slot_of`]).
    pub slot: i64,
    /// Metric name and amount.
    pub metrics: Vec<(String, i64)>,
}

/// That a customer had activity of some kinds with a business number in an hour: the exact sets
/// the distinct-customer figures count. Writing one again only adds kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// Business number.
    pub phone: String,
    /// Which hour.
    pub slot: i64,
    /// The customer's wa_id (or user_id).
    pub customer: String,
    /// [`Point::WROTE`], [`Point::MESSAGED`] and [`Point::REPLIED`], or-ed.
    pub kinds: u8,
}

impl Point {
    /// The customer wrote.
    pub const WROTE: u8 = 1;
    /// We wrote to the customer.
    pub const MESSAGED: u8 = 2;
    /// The customer wrote within 24 h after one of our messages of this hour.
    pub const REPLIED: u8 = 4;
}

/// What one update adds to the counters: applied together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Facts to count.
    pub facts: Vec<Fact>,
    /// Activity to mark.
    pub points: Vec<Point>,
}

impl Tally {
    /// Adds another tally's facts and points.
    pub fn extend(&mut self, other: Tally) {
        self.facts.extend(other.facts);
        self.points.extend(other.points);
    }

    /// Nothing to count.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty() && self.points.is_empty()
    }
}

/// The counters of one hour of one business number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCounts {
    /// Business number.
    pub phone: String,
    /// Which hour.
    pub slot: i64,
    /// Metric name and total (shards already summed).
    pub metrics: Vec<(String, i64)>,
}

/// Pre-aggregated analytics: counters per (business number, hour) and activity points, so a
/// report reads hours, never messages.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Counts the tally's facts (each at most once, see [`Fact`]) and marks its points.
    async fn tally(&self, tally: &Tally) -> Result<(), PortError>;

    /// The counters of hours `from_slot..to_slot`, of one business number or all.
    async fn hours(&self, phone: Option<&str>, from_slot: i64, to_slot: i64) -> Result<Vec<HourCounts>, PortError>;

    /// The activity points of hours `from_slot..to_slot`, of one business number or all.
    async fn points(&self, phone: Option<&str>, from_slot: i64, to_slot: i64) -> Result<Vec<Point>, PortError>;

    /// Forgets every counter, fact and point, before a rebuild.
    async fn clear_counters(&self) -> Result<(), PortError>;
}
