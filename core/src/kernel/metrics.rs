//! Counters, time series and latency histograms.

use std::collections::BTreeMap;

/// Time series sampled every virtual second: name -> `(t_ms, value)` points.
pub type SeriesMap = BTreeMap<String, Vec<(u64, f64)>>;

/// Latency histogram in microsecond buckets with ~6% relative error
/// (16 sub-buckets per power of two), for client latency percentiles.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
}

impl LatencyHistogram {
    fn bucket_of(us: u64) -> u32 {
        if us < 16 {
            return us as u32;
        }
        let msb = 63 - us.leading_zeros();
        let sub = ((us >> (msb - 4)) & 0xf) as u32;
        msb * 16 + sub
    }

    fn bucket_low(b: u32) -> u64 {
        if b < 16 {
            return b as u64;
        }
        let msb = b / 16;
        let sub = (b % 16) as u64;
        (1u64 << msb) | (sub << (msb - 4))
    }

    /// Records one latency in virtual µs.
    pub fn record(&mut self, us: u64) {
        *self.buckets.entry(Self::bucket_of(us)).or_insert(0) += 1;
        self.count += 1;
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `pct`-th percentile (0..=100) in µs (lower bound of its bucket); 0 when empty.
    pub fn percentile(&self, pct: u64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = (self.count * pct).div_ceil(100).max(1);
        let mut seen = 0;
        for (&b, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Self::bucket_low(b);
            }
        }
        0
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (&b, &n) in &other.buckets {
            *self.buckets.entry(b).or_insert(0) += n;
        }
        self.count += other.count;
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_within_bucket_error() {
        let mut h = LatencyHistogram::default();
        for us in 1..=10_000u64 {
            h.record(us);
        }
        let p50 = h.percentile(50);
        let p99 = h.percentile(99);
        assert!((4_700..=5_000).contains(&p50), "p50 {p50}");
        assert!((9_300..=9_900).contains(&p99), "p99 {p99}");
        assert_eq!(h.count(), 10_000);
    }
}
