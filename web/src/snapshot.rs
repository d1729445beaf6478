//! Plain data the components draw, copied out of the simulation once per
//! frame (or less often, for charts and the log), so that the simulation
//! itself stays owned by the root component.
//!
//! Each snapshot carries a sequence number; two snapshots are equal exactly
//! when they are the same capture, which is what Yew's prop comparison needs.

use kvscope_core::observe::{Level, LogLine};
use kvscope_core::view::{ClusterView, FaultWindow, RaftGroupView};
use kvscope_core::Simulation;

/// Everything but the charts and the log, at one virtual instant.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Capture number (unique per app).
    pub seq: u64,
    /// The cluster.
    pub view: ClusterView,
    /// The Raft group of the selected region (the hot region by default).
    pub group: Option<RaftGroupView>,
    /// Region whose Raft group is shown.
    pub selected_region: u64,
    /// The scenario's hot region.
    pub hot_region: u64,
    /// Counter `transfer_leader_attempts`.
    pub transfer_attempts: u64,
    /// Counter `transfer_leader_rejected_pending_conf`.
    pub transfer_rejected_pending_conf: u64,
    /// Counter `transfer_leader_rejected` (any reason).
    pub transfer_rejected: u64,
    /// Counter `transfer_leader_succeeded`.
    pub transfer_succeeded: u64,
    /// Events processed so far.
    pub events: u64,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Frame {
    /// Captures `sim` now; `selected` is the region the user picked, if any
    /// (a region that no longer exists falls back to the hot region).
    pub fn capture(seq: u64, sim: &Simulation, selected: Option<u64>) -> Frame {
        let hot_region = sim.hot_region();
        let (selected_region, group) =
            match selected.and_then(|r| sim.raft_group(r).map(|g| (r, g))) {
                Some((r, g)) => (r, Some(g)),
                None => (hot_region, sim.raft_group(hot_region)),
            };
        let counter = |name: &str| sim.counters().get(name).copied().unwrap_or(0);
        Frame {
            seq,
            view: sim.view(),
            group,
            selected_region,
            hot_region,
            transfer_attempts: counter("transfer_leader_attempts"),
            transfer_rejected_pending_conf: counter("transfer_leader_rejected_pending_conf"),
            transfer_rejected: counter("transfer_leader_rejected"),
            transfer_succeeded: counter("transfer_leader_succeeded"),
            events: sim.events_processed(),
        }
    }
}

/// The series the charts draw, copied at most a few times a second.
#[derive(Clone, Debug, Default)]
pub struct ChartData {
    /// Capture number.
    pub seq: u64,
    /// Virtual ms now (the charts' right edge).
    pub now_ms: u64,
    /// Cluster QPS, `(t_ms, ops/s)`.
    pub qps: Vec<(u64, f64)>,
    /// Client latency p50, ms.
    pub p50: Vec<(u64, f64)>,
    /// Client latency p99, ms.
    pub p99: Vec<(u64, f64)>,
    /// Fault windows to shade.
    pub faults: Vec<FaultWindow>,
}

impl PartialEq for ChartData {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl ChartData {
    /// Captures the series of `sim`.
    pub fn capture(seq: u64, sim: &Simulation) -> ChartData {
        let series = |name: &str| sim.series().get(name).cloned().unwrap_or_default();
        ChartData {
            seq,
            now_ms: sim.now() / kvscope_core::time::MS,
            qps: series("qps"),
            p50: series("latency_p50_ms"),
            p99: series("latency_p99_ms"),
            faults: sim.fault_windows(),
        }
    }
}

/// Which store the event log shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StoreFilter {
    /// Every line.
    #[default]
    All,
    /// Lines about this store.
    Store(u64),
    /// Lines about no store (PD, clients).
    NoStore,
}

/// The event log's filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogFilter {
    /// Store.
    pub store: StoreFilter,
    /// Region (`None` = every line).
    pub region: Option<u64>,
    /// Lowest level shown.
    pub min_level: Level,
}

impl Default for LogFilter {
    fn default() -> Self {
        LogFilter {
            store: StoreFilter::All,
            region: None,
            min_level: Level::Info,
        }
    }
}

impl LogFilter {
    /// Whether `line` passes the filter.
    pub fn accepts(&self, line: &LogLine) -> bool {
        let store_ok = match self.store {
            StoreFilter::All => true,
            StoreFilter::Store(s) => line.store == Some(s),
            StoreFilter::NoStore => line.store.is_none(),
        };
        store_ok
            && self.region.is_none_or(|r| line.region == Some(r))
            && line.level >= self.min_level
    }
}

/// The newest log lines that pass the filter.
#[derive(Clone, Debug, Default)]
pub struct LogSlice {
    /// Capture number.
    pub seq: u64,
    /// Matching lines, newest first, at most [`LogSlice::MAX_LINES`].
    pub lines: Vec<LogLine>,
    /// Lines in the whole log.
    pub total: usize,
}

impl PartialEq for LogSlice {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl LogSlice {
    /// How many lines are rendered at most.
    pub const MAX_LINES: usize = 300;

    /// The newest lines of `log` that pass `filter`.
    pub fn capture(seq: u64, log: &[LogLine], filter: &LogFilter) -> LogSlice {
        LogSlice {
            seq,
            lines: log
                .iter()
                .rev()
                .filter(|l| filter.accepts(l))
                .take(Self::MAX_LINES)
                .cloned()
                .collect(),
            total: log.len(),
        }
    }
}
