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

/// What the hours of one report bucket add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketSums {
    /// Metric name and total, zeros left out.
    pub metrics: Vec<(String, i64)>,
    /// Distinct customers who wrote in the bucket.
    pub active: i64,
}

/// Distinct customers over a whole report range, by what they did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    /// Customers who wrote.
    pub wrote: i64,
    /// Customers with any activity.
    pub any: i64,
    /// Customers we wrote to.
    pub messaged: i64,
    /// Customers who wrote within 24 h after one of our messages.
    pub replied: i64,
}

/// The answer to [`Counters::sums`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    /// One per bucket, in order.
    pub buckets: Vec<BucketSums>,
    /// Over all buckets.
    pub reach: Reach,
}

/// Which bucket an hour falls in: bucket `k` holds hours `edges[k]..edges[k + 1]`.
pub fn bucket_of(edges: &[i64], slot: i64) -> Option<usize> {
    let k = edges.partition_point(|s| *s <= slot);
    (k >= 1 && k < edges.len()).then(|| k - 1)
}

/// Counts distinct customers per bucket and over the range exactly, in constant time per
/// activity point, however many points there are: a report over a year of a busy number folds a
/// million points in milliseconds, where sets of names would take a second.
///
/// Customers are small numbers (an adapter numbers them densely from 0), and points must come in
/// non-decreasing bucket order: a customer counts in a bucket the first time it is seen there.
#[derive(Debug, Default)]
pub struct DistinctFold {
    /// Per customer, 1 + the last bucket it wrote in (0: none yet).
    last_wrote: Vec<u32>,
    wrote: Vec<u64>,
    any: Vec<u64>,
    messaged: Vec<u64>,
    replied: Vec<u64>,
    active: Vec<i64>,
}

fn set(bits: &mut Vec<u64>, n: usize) {
    let word = n / 64;
    if bits.len() <= word {
        bits.resize(word + 1, 0);
    }
    bits[word] |= 1 << (n % 64);
}

fn count(bits: &[u64]) -> i64 {
    bits.iter().map(|w| i64::from(w.count_ones())).sum()
}

impl DistinctFold {
    /// A fold over `buckets` buckets.
    pub fn new(buckets: usize) -> Self {
        Self {
            active: vec![0; buckets],
            ..Self::default()
        }
    }

    /// Customer `n` had activity of `kinds` ([`Point::WROTE`], …) in `bucket`.
    pub fn add(&mut self, bucket: usize, n: u32, kinds: u8) {
        let i = n as usize;
        // Reports have at most a thousand buckets; saturating keeps the mark distinct from 0.
        let mark = u32::try_from(bucket + 1).unwrap_or(u32::MAX);
        set(&mut self.any, i);
        if kinds & Point::WROTE != 0 {
            set(&mut self.wrote, i);
            if self.last_wrote.len() <= i {
                self.last_wrote.resize(i + 1, 0);
            }
            if self.last_wrote[i] != mark {
                self.last_wrote[i] = mark;
                if let Some(a) = self.active.get_mut(bucket) {
                    *a += 1;
                }
            }
        }
        if kinds & Point::MESSAGED != 0 {
            set(&mut self.messaged, i);
        }
        if kinds & Point::REPLIED != 0 {
            set(&mut self.replied, i);
        }
    }

    /// Distinct writers per bucket, and the range's reach.
    pub fn finish(self) -> (Vec<i64>, Reach) {
        let reach = Reach {
            wrote: count(&self.wrote),
            any: count(&self.any),
            messaged: count(&self.messaged),
            replied: count(&self.replied),
        };
        (self.active, reach)
    }
}

/// Pre-aggregated analytics: counters per (business number, hour) and activity points, so a
/// report reads hours, never messages.
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Counts the tally's facts (each at most once, see [`Fact`]) and marks its points.
    async fn tally(&self, tally: &Tally) -> Result<(), PortError>;

    /// What the hours of each bucket `edges[k]..edges[k + 1]` add up to, of one business number
    /// or all (`edges` ascending, at least two), and the distinct customers over them all.
    async fn sums(&self, phone: Option<&str>, edges: &[i64]) -> Result<Sums, PortError>;

    /// Forgets every counter, fact and point, before a rebuild.
    async fn clear_counters(&self) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The fold's counts equal those of plain sets, on points in bucket order with repeats,
    /// customers of several kinds, and buckets left empty.
    #[test]
    fn distinct_fold_counts_what_sets_count() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20 {
            let buckets = 1 + next(30) as usize;
            let mut points: Vec<(usize, u32, u8)> = (0..next(2_000))
                .map(|_| (next(buckets as u64) as usize, next(300) as u32, next(8) as u8))
                .collect();
            points.sort_by_key(|p| p.0);
            let mut fold = DistinctFold::new(buckets);
            for &(k, n, kinds) in &points {
                fold.add(k, n, kinds);
            }
            let (active, reach) = fold.finish();
            let with = |bit: u8| -> HashSet<u32> { points.iter().filter(|p| p.2 & bit != 0).map(|p| p.1).collect() };
            let expected_active: Vec<i64> = (0..buckets)
                .map(|k| {
                    let set: HashSet<u32> = points
                        .iter()
                        .filter(|p| p.0 == k && p.2 & Point::WROTE != 0)
                        .map(|p| p.1)
                        .collect();
                    set.len() as i64
                })
                .collect();
            assert_eq!(active, expected_active);
            let any: HashSet<u32> = points.iter().map(|p| p.1).collect();
            assert_eq!(
                reach,
                Reach {
                    wrote: with(Point::WROTE).len() as i64,
                    any: any.len() as i64,
                    messaged: with(Point::MESSAGED).len() as i64,
                    replied: with(Point::REPLIED).len() as i64,
                }
            );
        }
    }

    #[test]
    fn an_hour_falls_in_the_bucket_whose_edges_hold_it() {
        let edges = [10, 12, 15];
        let got: Vec<_> = (9..16).map(|s| bucket_of(&edges, s)).collect();
        assert_eq!(got, [None, Some(0), Some(0), Some(1), Some(1), Some(1), None]);
    }
}
