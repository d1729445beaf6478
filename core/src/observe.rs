//! Observability inside the simulation: the event log (TiKV's own strings),
//! counters, time series sampled every virtual second, the trace hash and the
//! invariant violations.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Severity of a log line, as TiKV's and raft-rs's loggers use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Debug detail (not recorded by default).
    Debug,
    /// Normal operation.
    Info,
    /// Something unusual (rejections, retries).
    Warn,
    /// Errors and invariant violations.
    Error,
}

impl Level {
    /// Lower-case name (`info`, `warn`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Parses a lower-case level name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

/// One line of the event log.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Virtual ms at which it was written.
    pub t_ms: u64,
    /// Store it concerns (`None` for PD and clients).
    pub store: Option<u64>,
    /// Region it concerns, if any.
    pub region: Option<u64>,
    /// Severity.
    pub level: Level,
    /// Which component wrote it: `raft` (raft-rs), `raftstore`, `pd`, `client`, `sim`.
    pub component: &'static str,
    /// The message, using TiKV's and raft-rs's own wording.
    pub msg: String,
}

/// A broken invariant, recorded when it is detected.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// Virtual ms of detection.
    pub t_ms: u64,
    /// Which invariant: `election-safety`, `state-machine-safety` or `acked-write-lost`.
    pub invariant: &'static str,
    /// Region concerned.
    pub region: u64,
    /// What was seen.
    pub details: String,
}

/// Time series sampled every virtual second: name -> `(t_ms, value)` points.
pub type SeriesMap = BTreeMap<String, Vec<(u64, f64)>>;

/// The shared sink that raft-rs's slog logger, raftstore, PD and clients write to.
///
/// It is shared (`Arc<Mutex<..>>`) only because slog drains must be `Send + Sync`;
/// the simulation is single-threaded and the lock is never contended.
#[derive(Clone, Debug, Default)]
pub struct LogSink {
    inner: Arc<Mutex<LogBuffer>>,
}

#[derive(Debug, Default)]
struct LogBuffer {
    now_ms: u64,
    lines: Vec<LogLine>,
}

impl LogSink {
    /// Sets the virtual time stamped on the next lines.
    pub fn set_now_ms(&self, now_ms: u64) {
        self.lock().now_ms = now_ms;
    }

    /// Appends a line stamped with the current virtual time.
    pub fn push(
        &self,
        component: &'static str,
        level: Level,
        store: Option<u64>,
        region: Option<u64>,
        msg: String,
    ) {
        let mut b = self.lock();
        let t_ms = b.now_ms;
        b.lines.push(LogLine {
            t_ms,
            store,
            region,
            level,
            component,
            msg,
        });
    }

    /// Moves every line written since the last call out of the sink.
    pub fn drain(&self) -> Vec<LogLine> {
        std::mem::take(&mut self.lock().lines)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogBuffer> {
        // A poisoned lock can only follow a panic elsewhere; the buffer is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A slog drain that routes raft-rs's log records into the [`LogSink`].
///
/// raft-rs logs through `slog`; each peer's logger carries `region_id` and
/// `store_id` key-values (set by raftstore when it creates the `RawNode`), which
/// this drain lifts into the log line's columns. Records below `Info` are dropped.
pub struct RaftLogDrain {
    /// Where lines go.
    pub sink: LogSink,
}

struct IdCollector {
    region: Option<u64>,
    store: Option<u64>,
    rest: String,
}

impl slog::Serializer for IdCollector {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments) -> slog::Result {
        let text = val.to_string();
        match key {
            "region_id" => self.region = text.parse().ok(),
            "store_id" => self.store = text.parse().ok(),
            "raft_id" => {}
            _ => {
                self.rest.push_str(", ");
                self.rest.push_str(key);
                self.rest.push_str(": ");
                self.rest.push_str(&text);
            }
        }
        Ok(())
    }
}

impl slog::Drain for RaftLogDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let level = match record.level() {
            slog::Level::Critical | slog::Level::Error => Level::Error,
            slog::Level::Warning => Level::Warn,
            slog::Level::Info => Level::Info,
            _ => return Ok(()),
        };
        let mut ids = IdCollector {
            region: None,
            store: None,
            rest: String::new(),
        };
        let _ = slog::KV::serialize(values, record, &mut ids);
        let _ = slog::KV::serialize(&record.kv(), record, &mut ids);
        let mut msg = record.msg().to_string();
        msg.push_str(&ids.rest);
        self.sink.push("raft", level, ids.store, ids.region, msg);
        Ok(())
    }
}

/// Running SHA-256 over every processed event and log line: two runs have the
/// same `trace_hash` exactly when they processed the same events in the same order.
#[derive(Clone, Debug, Default)]
pub struct TraceHasher {
    hasher: Sha256,
}

impl TraceHasher {
    /// Feeds bytes into the digest.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The digest so far as lower-case hex (64 characters).
    pub fn hex(&self) -> String {
        let digest = self.hasher.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
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
