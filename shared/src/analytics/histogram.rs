//! A mergeable log-scale histogram of durations: bins whose edges grow by 4 %, so any value read
//! back from a bin is within 2 % of the true one, and histograms of any hours add up bin by bin.

use std::collections::BTreeMap;

/// Ratio between successive bin edges. A value in bin `i` lies in `(GAMMA^(i-1), GAMMA^i]` ms and
/// reads back as `2·GAMMA^i/(GAMMA+1)`, at most `(GAMMA-1)/(GAMMA+1)` ≈ 1.96 % away.
pub const GAMMA: f64 = 1.04;

/// The bin of a duration in ms (anything up to 1 ms is bin 0).
pub fn bin(ms: i64) -> u32 {
    let x = ms.max(1) as f64;
    let i = (x.ln() / GAMMA.ln()).ceil();
    // Guards against `ln` landing a hair above an exact edge.
    let i = if i > 0.0 && GAMMA.powf(i - 1.0) >= x {
        i - 1.0
    } else {
        i
    };
    i.max(0.0) as u32
}

/// The value, in ms, a bin reads back as.
pub fn value_ms(bin: u32) -> f64 {
    if bin == 0 {
        return 1.0;
    }
    2.0 * GAMMA.powi(bin as i32) / (GAMMA + 1.0)
}

/// Counts per bin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram(BTreeMap<u32, i64>);

impl Histogram {
    /// Adds `count` values in `bin`.
    pub fn add(&mut self, bin: u32, count: i64) {
        *self.0.entry(bin).or_default() += count;
    }

    /// Adds every bin of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (b, c) in &other.0 {
            self.add(*b, *c);
        }
    }

    /// How many values.
    pub fn count(&self) -> i64 {
        self.0.values().filter(|c| **c > 0).sum()
    }

    /// The nearest-rank `q` quantile in seconds (the value at position ⌈q·n⌉ in sorted order),
    /// within 2 % of the true one; `None` when empty.
    pub fn quantile_s(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as i64).clamp(1, n);
        let mut seen = 0;
        for (b, c) in &self.0 {
            seen += (*c).max(0);
            if seen >= rank {
                return Some(value_ms(*b) / 1000.0);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_reads_back_within_two_percent() {
        let mut ms = 1i64;
        while ms < 40 * 24 * 3_600_000 {
            let back = value_ms(bin(ms));
            let err = (back - ms as f64).abs() / ms as f64;
            assert!(err <= 0.02, "{ms} ms read back as {back} ({err})");
            ms = ms * 11 / 10 + 1;
        }
    }

    #[test]
    fn quantiles_are_nearest_rank_over_merged_bins() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        for s in [10, 20, 30] {
            a.add(bin(s * 1000), 1);
        }
        for s in [40, 50] {
            b.add(bin(s * 1000), 1);
        }
        a.merge(&b);
        assert_eq!(a.count(), 5);
        let median = a.quantile_s(0.5).unwrap_or_default();
        assert!((median - 30.0).abs() / 30.0 <= 0.02, "{median}");
        let p90 = a.quantile_s(0.9).unwrap_or_default();
        assert!((p90 - 50.0).abs() / 50.0 <= 0.02, "{p90}");
        assert_eq!(Histogram::default().quantile_s(0.5), None);
    }
}
