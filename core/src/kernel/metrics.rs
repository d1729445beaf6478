//! Counters, time series and latency histograms, with typed keys.
//!
//! A [`Counter`] and a [`SeriesFamily`] are declared once, by the component
//! that owns them (its `metrics` module), and used by name everywhere else:
//! the core, the command line, the page and the tests. A renamed metric
//! then breaks the build instead of reading as zero. Their text names are
//! the keys of `kvscope run --json` (see the README).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// A counter, by its name in `kvscope run --json`'s `counters`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counter(&'static str);

impl Counter {
    /// The counter named `name` (snake case, as the JSON shows it).
    pub const fn new(name: &'static str) -> Counter {
        Counter(name)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Counter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// Counters by key, exported by `kvscope run --json`.
pub type Counters = BTreeMap<Counter, u64>;

/// What a series is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Scope {
    /// The whole cluster: the series is named after its family.
    Cluster,
    /// One store: `{family}_store_{id}`.
    Store,
    /// One region: `{family}_region_{id}`.
    Region,
}

/// A family of time series: one per store or region, or one for the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesFamily {
    name: &'static str,
    scope: Scope,
}

impl SeriesFamily {
    /// A cluster-wide series named `name`.
    pub const fn cluster(name: &'static str) -> SeriesFamily {
        SeriesFamily {
            name,
            scope: Scope::Cluster,
        }
    }

    /// A series per store, `{name}_store_{id}`.
    pub const fn per_store(name: &'static str) -> SeriesFamily {
        SeriesFamily {
            name,
            scope: Scope::Store,
        }
    }

    /// A series per region, `{name}_region_{id}`.
    pub const fn per_region(name: &'static str) -> SeriesFamily {
        SeriesFamily {
            name,
            scope: Scope::Region,
        }
    }

    /// The family's name.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// What each series is about.
    pub fn scope(self) -> Scope {
        self.scope
    }

    /// The cluster-wide series of this family.
    pub fn key(self) -> SeriesKey {
        self.of(0)
    }

    /// The series of store or region `id`.
    pub fn of(self, id: u64) -> SeriesKey {
        SeriesKey {
            family: self,
            id,
            path: String::new(),
        }
    }

    /// The series of store or region `id` for sub-path `path` (a memory
    /// trace node: `{name}_store_{id}:{path}`; `""` is the root).
    pub fn at(self, id: u64, path: &str) -> SeriesKey {
        SeriesKey {
            family: self,
            id,
            path: path.to_string(),
        }
    }
}

/// One time series: its family, the store or region it is about (0 for the
/// cluster) and a sub-path (empty unless the family has them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The family.
    pub family: SeriesFamily,
    /// Store or region id (0 for a cluster series).
    pub id: u64,
    /// Sub-path, for example a memory trace node (`""` for none).
    pub path: String,
}

impl SeriesKey {
    /// The series' name in `kvscope run --json`.
    pub fn name(&self) -> String {
        let base = match self.family.scope {
            Scope::Cluster => self.family.name.to_string(),
            Scope::Store => format!("{}_store_{}", self.family.name, self.id),
            Scope::Region => format!("{}_region_{}", self.family.name, self.id),
        };
        if self.path.is_empty() {
            base
        } else {
            format!("{base}:{}", self.path)
        }
    }
}

/// Time series sampled every virtual second: key -> `(t_ms, value)` points.
pub type SeriesMap = BTreeMap<SeriesKey, Vec<(u64, f64)>>;

/// Appends the point `(t_ms, value)` to series `key` of `series`.
pub fn record(series: &mut SeriesMap, key: SeriesKey, t_ms: u64, value: f64) {
    series.entry(key).or_default().push((t_ms, value));
}

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
    fn series_keys_render_the_names_the_json_documents() {
        const QPS: SeriesFamily = SeriesFamily::cluster("qps");
        const QPS_REGION: SeriesFamily = SeriesFamily::per_region("qps");
        const MEMORY: SeriesFamily = SeriesFamily::per_store("memory");
        assert_eq!(QPS.key().name(), "qps");
        assert_eq!(QPS_REGION.of(4).name(), "qps_region_4");
        assert_eq!(MEMORY.of(2).name(), "memory_store_2");
        assert_eq!(
            MEMORY.at(2, "lock_manager/detector_stream").name(),
            "memory_store_2:lock_manager/detector_stream"
        );
        assert_ne!(QPS.key(), QPS_REGION.of(0));
    }

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
