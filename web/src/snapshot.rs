//! Plain data the components draw, copied out of the simulation once per
//! frame (or less often, for charts and the log), so that the simulation
//! itself stays owned by the root component.
//!
//! Each snapshot carries a sequence number; two snapshots are equal exactly
//! when they are the same capture, which is what Yew's prop comparison needs.

use kvscope_core::env::metrics::{MEMORY, THREAD_MEMORY};
use kvscope_core::input::Input;
use kvscope_core::kernel::log::{Level, LogLine};
use kvscope_core::kernel::metrics::SeriesKey;
use kvscope_core::lock_manager::metrics::{self as lm, DETECTOR_PENDING_MSGS};
use kvscope_core::memory::alloc::{HeapProfileEntry, ThreadStats};
use kvscope_core::memory::MemoryTrace;
use kvscope_core::scenario::{CounterSpec, PageLayout, Panel};
use kvscope_core::views::memory::StoreMemoryView;
use kvscope_core::views::{ClusterView, FaultWindow, LockView, OomKill, RaftGroupView};
use kvscope_core::Simulation;

/// The panels drawn from the lock view ([`LockFrame`]).
pub const LOCK_PANELS: &[Panel] = &[Panel::WaitForGraph, Panel::LockManagerQueues];

/// Whether `layout` shows a panel drawn from the lock view, so that a frame
/// captures it.
pub fn shows_lock_panel(layout: &PageLayout) -> bool {
    LOCK_PANELS.iter().any(|p| layout.shows(*p))
}

/// Which memory trace tree the memory panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TreePick {
    /// Store (`None` = the first store).
    pub store: Option<u64>,
    /// Virtual ms of the moment (`None` = now, following the clock).
    pub at_ms: Option<u64>,
}

/// The lock manager side of one capture (only for scenarios that have it).
#[derive(Clone, Debug)]
pub struct LockFrame {
    /// Virtual ms now.
    pub now_ms: u64,
    /// Transactions, waits, detector, queues and memory per store.
    pub view: LockView,
    /// Stores killed by the OOM killer so far.
    pub oom_kills: Vec<OomKill>,
    /// Deadlocks found by the detector so far (counter `deadlocks_detected`).
    pub deadlocks_detected: u64,
}

/// The memory trace panel's side of one capture: every store's limit and
/// the tree of the store and moment picked.
#[derive(Clone, Debug)]
pub struct MemoryFrame {
    /// Virtual ms now.
    pub now_ms: u64,
    /// Every store's memory now (`kvscope_core::views::memory`).
    pub stores: Vec<StoreMemoryView>,
    /// The store whose memory trace tree is shown.
    pub tree_store: u64,
    /// The moment of that tree: `None` = now, else the sample's requested ms.
    pub tree_at_ms: Option<u64>,
    /// The tree (`None` when no sample exists at that moment).
    pub tree: Option<MemoryTrace>,
    /// The heap profile of the same store and moment, from the same
    /// allocations (`None` as `tree`).
    pub profile: Option<Vec<HeapProfileEntry>>,
    /// jemalloc's per-thread counters of the same store at the same moment
    /// (the last per-second sample at or before it), by thread name.
    pub threads: Vec<(String, ThreadStats)>,
}

impl MemoryFrame {
    /// Captures every store's memory of `sim` and the tree `pick` asks for
    /// (without a pick: the store closest to its memory limit).
    pub fn capture(sim: &Simulation, pick: TreePick) -> MemoryFrame {
        let now_ms = sim.now() / kvscope_core::time::MS;
        let stores = kvscope_core::views::memory::memory_view(sim);
        let tree_store = pick
            .store
            .filter(|s| stores.iter().any(|v| v.store == *s))
            .or_else(|| {
                stores
                    .iter()
                    .max_by_key(|s| {
                        (
                            s.memory.sum().saturating_mul(1000) / s.memory_limit.max(1),
                            std::cmp::Reverse(s.store),
                        )
                    })
                    .map(|s| s.store)
            })
            .unwrap_or(1);
        let at_ms = pick.at_ms.filter(|at| *at < now_ms);
        let views = kvscope_core::views::memory::memory_views(sim, tree_store, at_ms);
        // A store without a memory limit has no samples and no counters: its
        // tree now is all there is.
        let tree = match &views {
            Some(v) => Some(v.tree.clone()),
            None if at_ms.is_none() => stores
                .iter()
                .find(|s| s.store == tree_store)
                .map(|s| s.memory.clone()),
            None => None,
        };
        MemoryFrame {
            now_ms,
            tree_store,
            tree_at_ms: at_ms,
            tree,
            profile: views.as_ref().map(|v| v.profile.clone()),
            threads: views.map(|v| v.threads).unwrap_or_default(),
            stores,
        }
    }
}

/// The in-memory engine panel's side of one capture
/// (`kvscope_core::views::ime::ime_panel_view`).
pub type ImeFrame = kvscope_core::views::ime::ImePanelView;

/// The resolved-ts panel's side of one capture
/// (`kvscope_core::views::resolved_ts::resolved_ts_view`).
pub type RtsFrame = kvscope_core::views::resolved_ts::ResolvedTsView;

/// Captures the resolved-ts panel's data with `region`'s resolver (a region
/// that no longer has one, or `None`: the first region's).
fn rts_capture(sim: &Simulation, region: Option<u64>) -> RtsFrame {
    let view = kvscope_core::views::resolved_ts::resolved_ts_view(sim, region);
    match region {
        Some(r) if view.selected.is_none() && !view.regions.iter().any(|l| l.region_id == r) => {
            kvscope_core::views::resolved_ts::resolved_ts_view(sim, None)
        }
        _ => view,
    }
}

impl LockFrame {
    /// Captures the lock side of `sim`.
    pub fn capture(sim: &Simulation, view: LockView) -> LockFrame {
        LockFrame {
            now_ms: sim.now() / kvscope_core::time::MS,
            oom_kills: sim.oom_kills().to_vec(),
            deadlocks_detected: sim
                .counters()
                .get(&lm::DEADLOCKS_DETECTED)
                .copied()
                .unwrap_or(0),
            view,
        }
    }
}

/// Groups of stuck requests the "why is it stuck?" panel lists at most.
const WHY_SHOWN: usize = 3;

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
    /// The scenario's counters ([`kvscope_core::ScenarioSpec::counters`]) with their values.
    pub counters: Vec<(CounterSpec, u64)>,
    /// Events processed so far.
    pub events: u64,
    /// The lock manager side, when the layout shows a lock panel and some
    /// store runs a lock manager.
    pub locks: Option<LockFrame>,
    /// The memory trace side, when the layout shows the memory trace tree.
    pub memory: Option<MemoryFrame>,
    /// The snapshot pipeline, when the layout shows its panel.
    pub pipeline: Option<kvscope_core::views::snapshots::PipelineView>,
    /// The in-memory engine of one store, when the layout shows its panel.
    pub ime: Option<ImeFrame>,
    /// The resolved-ts timeline and one region's resolver, when the layout
    /// shows its panel.
    pub rts: Option<RtsFrame>,
    /// The region the user picked for the resolved-ts panel, if any.
    pub rts_region: Option<u64>,
    /// The client requests stuck longest with their chains, when the layout
    /// shows the "why is it stuck?" panel.
    pub why: Option<Vec<kvscope_core::views::why::StuckGroup>>,
    /// The trace hash so far (hex SHA-256 of every event and input).
    pub trace_hash: String,
    /// The user inputs applied so far, in order (the simulation's input log).
    pub inputs: Vec<Input>,
    /// The inputs scheduled for later (a replayed URL's), in order.
    pub pending_inputs: Vec<Input>,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Frame {
    /// Captures `sim` now; `selected` is the region the user picked, if any
    /// (a region that no longer exists falls back to the hot region); `pick`
    /// names the memory trace tree to capture (only when the scenario's
    /// layout shows the memory trace panel); `ime_store` names the store
    /// whose in-memory engine to capture (only when the layout shows that
    /// panel; `None`: see `kvscope_core::views::ime::ime_panel_view`);
    /// `rts_region` names the region whose resolver the resolved-ts panel
    /// shows (only when the layout shows that panel; `None`, or a region
    /// gone: the first region). The lock side is captured only when the
    /// layout shows a lock panel ([`shows_lock_panel`]).
    pub fn capture(
        seq: u64,
        sim: &Simulation,
        selected: Option<u64>,
        pick: TreePick,
        ime_store: Option<u64>,
        rts_region: Option<u64>,
    ) -> Frame {
        let hot_region = sim.focus_region();
        let (selected_region, group) = match selected
            .and_then(|r| kvscope_core::views::cluster::raft_group(sim, r).map(|g| (r, g)))
        {
            Some((r, g)) => (r, Some(g)),
            None => (
                hot_region,
                kvscope_core::views::cluster::raft_group(sim, hot_region),
            ),
        };
        let counters = sim
            .params()
            .spec
            .counters
            .iter()
            .map(|c| (*c, sim.counters().get(&c.counter).copied().unwrap_or(0)))
            .collect();
        Frame {
            seq,
            view: kvscope_core::views::cluster::cluster_view(sim),
            group,
            selected_region,
            hot_region,
            counters,
            events: sim.events_processed(),
            locks: if shows_lock_panel(&sim.params().spec.layout) {
                lock_view(sim).map(|v| LockFrame::capture(sim, v))
            } else {
                None
            },
            memory: sim
                .params()
                .spec
                .layout
                .shows(Panel::MemoryTree)
                .then(|| MemoryFrame::capture(sim, pick)),
            pipeline: sim
                .params()
                .spec
                .layout
                .shows(Panel::SnapshotPipeline)
                .then(|| kvscope_core::views::snapshots::pipeline_view(sim)),
            why: sim
                .params()
                .spec
                .layout
                .shows(Panel::WhyStuck)
                .then(|| kvscope_core::views::why::stuck_groups(sim, WHY_SHOWN)),
            ime: sim
                .params()
                .spec
                .layout
                .shows(Panel::InMemoryEngine)
                .then(|| kvscope_core::views::ime::ime_panel_view(sim, ime_store)),
            rts: sim
                .params()
                .spec
                .layout
                .shows(Panel::ResolvedTs)
                .then(|| rts_capture(sim, rts_region)),
            rts_region,
            trace_hash: sim.trace_hash(),
            inputs: sim.inputs().to_vec(),
            pending_inputs: sim.pending_inputs().cloned().collect(),
        }
    }
}

/// One thread's allocated minus deallocated bytes over time:
/// `(thread, [(t_ms, bytes)])`.
pub type ThreadSeries = (String, Vec<(u64, f64)>);

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
    /// Memory per store by top-level module, for every store that has memory
    /// series (`memory_store_{N}`); empty when none has.
    pub memory: Vec<StoreMemory>,
    /// Per-thread allocated minus deallocated bytes over time, per store:
    /// `(store, [(thread, [(t_ms, bytes)])])` from `thread_memory_store_N:THREAD`.
    pub threads: Vec<(u64, Vec<ThreadSeries>)>,
    /// Stores killed by the OOM killer, for markers.
    pub oom_kills: Vec<OomKill>,
    /// Detector stream depth per store, `(store, [(t_ms, messages)])`, from
    /// `tikv_lock_manager_detector_pending_msgs_store_{N}` (empty when no store has a detector stream).
    pub backlog: Vec<(u64, Vec<(u64, f64)>)>,
}

/// The memory series of one store, by top-level module of its trace tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreMemory {
    /// Store id.
    pub store: u64,
    /// The store's memory limit (the OOM killer's threshold), bytes.
    pub limit: u64,
    /// Whether the store runs the deadlock detector leader now.
    pub detector_leader: bool,
    /// `(module, [(t_ms, bytes)])` from `memory_store_{N}:{module}`, in
    /// stacking order (bottom first).
    pub modules: Vec<(String, Vec<(u64, f64)>)>,
    /// `memory_store_{N}`, bytes.
    pub total: Vec<(u64, f64)>,
}

/// Stacking order of the top-level memory modules (bottom first); modules
/// not listed go on top in name order.
pub const MODULE_ORDER: &[&str] = &[
    "block_cache",
    "other",
    "raftstore",
    "storage",
    "lock_manager",
];

impl StoreMemory {
    /// Reads store `store`'s memory series out of `series`.
    pub fn from_series(
        series: &kvscope_core::kernel::metrics::SeriesMap,
        store: u64,
        limit: u64,
        detector_leader: bool,
    ) -> StoreMemory {
        let mut modules: Vec<(String, Vec<(u64, f64)>)> = series
            .iter()
            .filter(|(k, _)| {
                k.family == MEMORY && k.id == store && !k.path.is_empty() && !k.path.contains('/')
            })
            .map(|(k, v)| (k.path.clone(), v.clone()))
            .collect();
        let rank = |m: &str| {
            MODULE_ORDER
                .iter()
                .position(|x| *x == m)
                .unwrap_or(MODULE_ORDER.len())
        };
        modules.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
        StoreMemory {
            store,
            limit,
            detector_leader,
            modules,
            total: series.get(&MEMORY.of(store)).cloned().unwrap_or_default(),
        }
    }
}

impl PartialEq for ChartData {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl ChartData {
    /// Captures the series of `sim`.
    pub fn capture(seq: u64, sim: &Simulation) -> ChartData {
        use kvscope_core::client::metrics::{LATENCY_P50_MS, LATENCY_P99_MS, QPS};
        let series = |key: SeriesKey| sim.series().get(&key).cloned().unwrap_or_default();
        ChartData {
            seq,
            now_ms: sim.now() / kvscope_core::time::MS,
            qps: series(QPS.key()),
            p50: series(LATENCY_P50_MS.key()),
            p99: series(LATENCY_P99_MS.key()),
            faults: kvscope_core::views::cluster::fault_windows(sim),
            memory: memory_series(sim),
            threads: {
                let mut by_store: Vec<(u64, Vec<ThreadSeries>)> = Vec::new();
                for (k, v) in sim
                    .series()
                    .iter()
                    .filter(|(k, _)| k.family == THREAD_MEMORY)
                {
                    match by_store.iter_mut().find(|s| s.0 == k.id) {
                        Some(s) => s.1.push((k.path.clone(), v.clone())),
                        None => by_store.push((k.id, vec![(k.path.clone(), v.clone())])),
                    }
                }
                by_store
            },
            oom_kills: sim.oom_kills().to_vec(),
            backlog: sim
                .series()
                .iter()
                .filter(|(k, _)| k.family == DETECTOR_PENDING_MSGS)
                .map(|(k, v)| (k.id, v.clone()))
                .collect(),
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

/// The memory series of every store that has them (a store with a memory
/// limit is sampled every virtual second, so it has them from the first
/// sample on), with its limit and whether it leads the deadlock detector.
fn memory_series(sim: &Simulation) -> Vec<StoreMemory> {
    let stores: Vec<u64> = sim
        .world()
        .stores
        .iter()
        .filter(|(id, st)| st.memory_limit.is_some() || sim.series().contains_key(&MEMORY.of(**id)))
        .map(|(id, _)| *id)
        .collect();
    if stores.is_empty() {
        return Vec::new();
    }
    let detector_leader = lock_view(sim).and_then(|v| v.detector_leader);
    stores
        .into_iter()
        .map(|s| {
            let limit = sim
                .world()
                .stores
                .get(&s)
                .and_then(|st| st.memory_limit)
                .unwrap_or(0);
            StoreMemory::from_series(sim.series(), s, limit, detector_leader == Some(s))
        })
        .collect()
}

/// The lock manager, transactions and deadlock detector of the cluster;
/// `None` when no store runs a lock manager.
fn lock_view(sim: &Simulation) -> Option<kvscope_core::views::LockView> {
    Some(kvscope_core::views::locks::lock_view(sim)).filter(|v| !v.stores.is_empty())
}
