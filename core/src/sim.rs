//! The simulator: one event queue ordered by (virtual time, sequence number),
//! the environment, and the components. [`Simulation`] is the public handle
//! used by the command line, the page and the tests.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use serde::Serialize;

use crate::client::Workload;
use crate::effect::{Counters, Ctx, Effect, Timer};
use crate::env::{Disk, Network, Node};
use crate::invariants::Invariants;
use crate::msg::Msg;
use crate::observe::{Level, LogLine, LogSink, RaftLogDrain, SeriesMap, TraceHasher, Violation};
use crate::pd::Pd;
use crate::raftstore::Store;
use crate::rng::SimRng;
use crate::scenario::{Params, ScenarioError};
use crate::time::{to_ms, Micros, SEC};
use crate::view::{
    ClusterView, DeadlockView, DetectEdgeView, DiskState, EntryKind, EntryView, FaultWindow,
    LockView, OomKill, RaftGroupView, RegionView, StoreLockView, StoreView, WaitEdgeView,
};

/// A fault injected into the environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Fault {
    /// Every disk write of `store` is held from `start` for `duration` (virtual µs).
    IoHang {
        /// Store.
        store: u64,
        /// Start, virtual µs.
        start: Micros,
        /// Duration, virtual µs.
        duration: Micros,
    },
    /// The disk of `store` is `factor` times slower during the window.
    SlowDisk {
        /// Store.
        store: u64,
        /// Start, virtual µs.
        start: Micros,
        /// Duration, virtual µs.
        duration: Micros,
        /// Latency multiplier.
        factor: u64,
    },
    /// `store`'s process crashes at `start` and restarts `duration` later.
    Crash {
        /// Store.
        store: u64,
        /// Crash time, virtual µs.
        start: Micros,
        /// Down time, virtual µs.
        duration: Micros,
    },
    /// `store` is cut off from the network during the window.
    Partition {
        /// Store.
        store: u64,
        /// Start, virtual µs.
        start: Micros,
        /// Duration, virtual µs.
        duration: Micros,
    },
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::IoHang { .. } => "io-hang",
            Fault::SlowDisk { .. } => "slow-disk",
            Fault::Crash { .. } => "crash",
            Fault::Partition { .. } => "partition",
        }
    }

    fn window(&self) -> (u64, Micros, Micros) {
        match *self {
            Fault::IoHang {
                store,
                start,
                duration,
            }
            | Fault::SlowDisk {
                store,
                start,
                duration,
                ..
            }
            | Fault::Crash {
                store,
                start,
                duration,
            }
            | Fault::Partition {
                store,
                start,
                duration,
            } => (store, start, duration),
        }
    }
}

#[derive(Clone, Debug)]
enum FaultAction {
    HangStart(u64),
    HangEnd(u64),
    SlowStart(u64, u64),
    SlowEnd(u64),
    Crash(u64),
    Restart(u64),
    Isolate(u64, Micros),
}

/// An event in the queue, ordered by (time, sequence number): earliest first,
/// and among events at the same virtual time, the one scheduled first.
#[derive(Debug)]
struct Queued {
    at: Micros,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (at, seq) pops first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
enum EventKind {
    Deliver {
        from: Node,
        to: Node,
        msgs: Vec<Msg>,
    },
    DiskDone {
        store: u64,
        generation: u64,
    },
    Timer {
        node: Node,
        incarnation: u64,
        timer: Timer,
    },
    Fault(FaultAction),
    Sample,
    MemoryCheck,
}

/// Everything a scenario builds: the components and the environment.
pub struct World {
    /// Stores by id.
    pub stores: BTreeMap<u64, Store>,
    /// Disks by store id.
    pub disks: BTreeMap<u64, Disk>,
    /// The network.
    pub network: Network,
    /// PD.
    pub pd: Pd,
    /// Client threads (raw `Put` writes).
    pub workload: Workload,
    /// Transaction sessions.
    pub sessions: crate::txn_client::SessionWorkload,
    /// The hot region's id.
    pub hot_region: u64,
}

/// A running simulation. Deterministic: the same scenario, seed, parameters and
/// commands give the same event trace (`trace_hash`) natively and in wasm.
pub struct Simulation {
    params: Params,
    seed: u64,
    now: Micros,
    seq: u64,
    queue: BinaryHeap<Queued>,
    rng: SimRng,
    world: World,
    log_sink: LogSink,
    log: Vec<LogLine>,
    counters: Counters,
    invariants: Invariants,
    series: SeriesMap,
    faults: Vec<Fault>,
    hasher: TraceHasher,
    events: u64,
    last_region_qps: BTreeMap<u64, f64>,
    last_qps: f64,
    oom_kills: Vec<OomKill>,
    queue_restarts: Vec<(Micros, u64)>,
    /// Memory trees sampled every virtual second: (t_ms, store, tree).
    memory_samples: Vec<(u64, u64, crate::memory::MemoryTrace)>,
}

/// How often the OOM killer looks at the stores' memory, virtual µs.
pub const MEMORY_CHECK_INTERVAL: Micros = 100 * crate::time::MS;

/// The root slog logger that routes raft-rs's lines into `sink`.
pub fn raft_logger(sink: &LogSink) -> slog::Logger {
    slog::Logger::root(slog::Fuse(RaftLogDrain { sink: sink.clone() }), slog::o!())
}

impl Simulation {
    /// Builds the scenario `scenario` with `seed` and textual `overrides`.
    ///
    /// Errors: unknown scenario or parameter, or a bad value ([`ScenarioError`]).
    pub fn new(
        scenario: &str,
        seed: u64,
        overrides: &[(String, String)],
    ) -> Result<Simulation, ScenarioError> {
        let params = Params::resolve(scenario, overrides)?;
        Simulation::from_params(params, seed)
    }

    /// Builds a simulation from resolved parameters.
    ///
    /// Errors: a combination of values the scenario refuses (for example a hang
    /// store beyond the number of stores), as [`ScenarioError::BadValue`].
    pub fn from_params(params: Params, seed: u64) -> Result<Simulation, ScenarioError> {
        let log_sink = LogSink::default();
        let mut rng = SimRng::new(seed);
        let mut counters = Counters::new();
        let mut invariants = Invariants::default();
        let mut out = Vec::new();
        let (world, faults) = {
            let mut ctx = Ctx {
                now: 0,
                rng: &mut rng,
                log: &log_sink,
                out: &mut out,
                counters: &mut counters,
                invariants: &mut invariants,
            };
            crate::scenarios::build(&params, &mut ctx, raft_logger(&log_sink))?
        };
        let mut sim = Simulation {
            params,
            seed,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            rng,
            world,
            log_sink,
            log: Vec::new(),
            counters,
            invariants,
            series: SeriesMap::new(),
            faults: Vec::new(),
            hasher: TraceHasher::default(),
            events: 0,
            last_region_qps: BTreeMap::new(),
            last_qps: 0.0,
            oom_kills: Vec::new(),
            queue_restarts: Vec::new(),
            memory_samples: Vec::new(),
        };
        sim.apply_effects(out);
        for f in faults {
            sim.schedule_fault(f);
        }
        sim.push(SEC, EventKind::Sample);
        if sim
            .world
            .stores
            .values()
            .any(|s| s.storage.lock_manager.is_some())
        {
            sim.push(MEMORY_CHECK_INTERVAL, EventKind::MemoryCheck);
        }
        sim.drain_log();
        Ok(sim)
    }

    fn push(&mut self, at: Micros, kind: EventKind) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            kind,
        });
    }

    /// Schedules a fault (times are absolute virtual µs; a start in the past means now).
    pub fn schedule_fault(&mut self, f: Fault) {
        let (store, start, duration) = f.window();
        let start = start.max(self.now);
        match f {
            Fault::IoHang { .. } => {
                self.push(start, EventKind::Fault(FaultAction::HangStart(store)));
                self.push(
                    start + duration,
                    EventKind::Fault(FaultAction::HangEnd(store)),
                );
            }
            Fault::SlowDisk { factor, .. } => {
                self.push(
                    start,
                    EventKind::Fault(FaultAction::SlowStart(store, factor)),
                );
                self.push(
                    start + duration,
                    EventKind::Fault(FaultAction::SlowEnd(store)),
                );
            }
            Fault::Crash { .. } => {
                self.push(start, EventKind::Fault(FaultAction::Crash(store)));
                self.push(
                    start + duration,
                    EventKind::Fault(FaultAction::Restart(store)),
                );
            }
            Fault::Partition { .. } => {
                self.push(
                    start,
                    EventKind::Fault(FaultAction::Isolate(store, start + duration)),
                );
            }
        }
        self.faults.push(f);
    }

    /// Virtual now, µs.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The resolved parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.events
    }

    /// Hex SHA-256 of the whole event trace so far.
    pub fn trace_hash(&self) -> String {
        self.hasher.hex()
    }

    /// Every log line so far.
    pub fn log(&self) -> &[LogLine] {
        &self.log
    }

    /// Time series sampled every virtual second.
    pub fn series(&self) -> &SeriesMap {
        &self.series
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Invariant violations recorded.
    pub fn violations(&self) -> &[Violation] {
        &self.invariants.violations
    }

    /// Processes events until virtual time `until` (µs), inclusive.
    pub fn run_until(&mut self, until: Micros) {
        while self.step_before(until) {}
        self.now = self.now.max(until);
        self.log_sink.set_now_ms(to_ms(self.now));
    }

    /// Processes at most `max_events` events with time ≤ `until`; returns how many
    /// ran. When fewer ran, the clock is advanced to `until` (nothing else was due).
    /// The page uses this to bound the work done per animation frame.
    pub fn run_bounded(&mut self, until: Micros, max_events: u64) -> u64 {
        let mut n = 0;
        while n < max_events {
            if !self.step_before(until) {
                self.now = self.now.max(until);
                return n;
            }
            n += 1;
        }
        n
    }

    /// Processes the next event, whatever its time. Returns false if none is due.
    pub fn step(&mut self) -> bool {
        self.step_before(Micros::MAX)
    }

    fn step_before(&mut self, until: Micros) -> bool {
        match self.queue.peek() {
            Some(q) if q.at <= until => {}
            _ => return false,
        }
        let Queued { at, seq, kind } = self.queue.pop().expect("peeked");
        self.now = at;
        self.events += 1;
        self.log_sink.set_now_ms(to_ms(at));
        self.hasher.update(&at.to_le_bytes());
        self.hasher.update(&seq.to_le_bytes());
        self.dispatch(kind);
        self.drain_log();
        true
    }

    fn drain_log(&mut self) {
        for line in self.log_sink.drain() {
            // raft-rs prints some sets in hash order (its ProgressTracker uses
            // FxHasher, whose output depends on the pointer width), so native and
            // wasm32 word those lines differently while behaving the same: hash
            // only the line's existence and place for raft-rs, the full text otherwise.
            if line.component != "raft" {
                self.hasher.update(line.msg.as_bytes());
            }
            self.hasher.update(&[
                line.level as u8,
                line.store.unwrap_or(0) as u8,
                line.region.unwrap_or(0) as u8,
            ]);
            self.log.push(line);
        }
    }

    fn dispatch(&mut self, kind: EventKind) {
        let is_sample = matches!(kind, EventKind::Sample);
        let kind_name = match &kind {
            EventKind::Deliver { .. } => "events_deliver",
            EventKind::DiskDone { .. } => "events_disk_done",
            EventKind::Timer { .. } => "events_timer",
            EventKind::Fault(_) => "events_fault",
            EventKind::Sample => "events_sample",
            EventKind::MemoryCheck => "events_memory_check",
        };
        let is_memory_check = matches!(kind, EventKind::MemoryCheck);
        *self.counters.entry(kind_name).or_insert(0) += 1;
        let mut out = Vec::new();
        {
            let now = self.now;
            let world = &mut self.world;
            let mut ctx = Ctx {
                now,
                rng: &mut self.rng,
                log: &self.log_sink,
                out: &mut out,
                counters: &mut self.counters,
                invariants: &mut self.invariants,
            };
            match kind {
                EventKind::Deliver { from, to, msgs } => {
                    self.hasher.update(&[1, node_tag(from), node_tag(to)]);
                    match to {
                        Node::Store(s) => {
                            if let Some(store) = world.stores.get_mut(&s) {
                                if store.up {
                                    for m in msgs {
                                        store.on_message(&mut ctx, m);
                                    }
                                }
                            }
                        }
                        Node::Pd => {
                            for m in msgs {
                                match (from, m) {
                                    (Node::Store(s), m @ Msg::GetRegionByKey { .. }) => {
                                        world.pd.on_store_request(&mut ctx, s, m)
                                    }
                                    (_, m) => world.pd.on_message(&mut ctx, m),
                                }
                            }
                        }
                        Node::Client(c) => {
                            for m in msgs {
                                if matches!(m, Msg::TxnResponse { .. }) {
                                    world.sessions.on_message(&mut ctx, &mut world.pd, c, m);
                                } else {
                                    world.workload.on_message(&mut ctx, c, m);
                                }
                            }
                        }
                    }
                }
                EventKind::DiskDone { store, generation } => {
                    self.hasher.update(&[2, store as u8]);
                    if let Some(disk) = world.disks.get_mut(&store) {
                        let tokens = disk.complete(generation);
                        if let Some(st) = world.stores.get_mut(&store) {
                            if st.up && !tokens.is_empty() {
                                st.on_disk_done(&mut ctx, tokens);
                            }
                        }
                    }
                }
                EventKind::Timer {
                    node,
                    incarnation,
                    timer,
                } => {
                    self.hasher.update(&[3, node_tag(node)]);
                    match node {
                        Node::Store(s) => {
                            if let Some(st) = world.stores.get_mut(&s) {
                                if st.up && st.incarnation == incarnation {
                                    match timer {
                                        Timer::RaftBaseTick => st.on_tick(&mut ctx),
                                        Timer::PdHeartbeatTick => st.on_pd_heartbeat_tick(&mut ctx),
                                        Timer::PdStoreHeartbeatTick => {
                                            st.on_store_heartbeat_tick(&mut ctx)
                                        }
                                        Timer::RaftLogGcTick => st.on_raft_log_gc_tick(&mut ctx),
                                        Timer::InspectTick => st.on_inspect_tick(&mut ctx),
                                        Timer::LockManagerTick => st.on_lock_manager_tick(&mut ctx),
                                        Timer::WaiterTimeout { token } => {
                                            st.on_waiter_timeout(&mut ctx, token)
                                        }
                                        Timer::DelayedNotifyAll { key, notify_id } => {
                                            st.on_delayed_notify_all(&mut ctx, key, notify_id)
                                        }
                                        _ => {}
                                    }
                                    st.handle_readies(&mut ctx);
                                }
                            }
                        }
                        Node::Pd => world.pd.on_schedule(&mut ctx),
                        Node::Client(c) => match timer {
                            Timer::SessionNext | Timer::SessionTimeout => {
                                world.sessions.on_timer(&mut ctx, &mut world.pd, c, timer)
                            }
                            _ => world.workload.on_timer(&mut ctx, &mut world.pd, c, timer),
                        },
                    }
                }
                EventKind::Fault(action) => {
                    self.hasher.update(&[4]);
                    Self::apply_fault(world, &mut ctx, action);
                }
                EventKind::Sample => {
                    self.hasher.update(&[5]);
                }
                EventKind::MemoryCheck => {
                    self.hasher.update(&[6]);
                    Self::oom_killer(
                        world,
                        &mut ctx,
                        &self.params,
                        &mut self.oom_kills,
                        &mut self.queue_restarts,
                    );
                }
            }
        }
        self.apply_effects(out);
        self.start_idle_disks();
        for (at, store) in std::mem::take(&mut self.queue_restarts) {
            self.push(at, EventKind::Fault(FaultAction::Restart(store)));
        }
        if is_memory_check {
            self.push(self.now + MEMORY_CHECK_INTERVAL, EventKind::MemoryCheck);
        }
        if is_sample {
            self.sample();
        }
    }

    /// The OOM killer: a store whose memory trace sum passes its limit is
    /// killed (its volatile state is lost, unsynced disk writes too) and
    /// restarts `oom_restart_delay` later.
    fn oom_killer(
        world: &mut World,
        ctx: &mut Ctx,
        params: &Params,
        kills: &mut Vec<OomKill>,
        restarts: &mut Vec<(Micros, u64)>,
    ) {
        for st in world.stores.values_mut() {
            let Some(limit) = st
                .storage
                .lock_manager
                .as_ref()
                .map(|lm| lm.cfg.memory_limit)
            else {
                continue;
            };
            if !st.up || limit == 0 {
                continue;
            }
            let used = st.memory_trace(limit).sum();
            if used <= limit {
                continue;
            }
            let delay = params
                .values
                .get("oom_restart_delay")
                .and_then(|v| match v {
                    crate::scenario::ParamValue::Number(n) => Some(*n * crate::time::MS),
                    _ => None,
                })
                .unwrap_or(10 * SEC);
            ctx.log(
                "kernel",
                Level::Error,
                Some(st.id),
                None,
                format!(
                    "Out of memory: Killed process (tikv-server) of store {}, anon-rss: {} MiB, limit: {} MiB",
                    st.id,
                    used >> 20,
                    limit >> 20
                ),
            );
            ctx.count("oom_kills", 1);
            st.crash(ctx);
            if let Some(d) = world.disks.get_mut(&st.id) {
                d.crash();
            }
            kills.push(OomKill {
                store: st.id,
                at_ms: to_ms(ctx.now),
                memory: used,
                limit,
                restart_ms: to_ms(ctx.now + delay),
            });
            restarts.push((ctx.now + delay, st.id));
        }
    }

    fn apply_fault(world: &mut World, ctx: &mut Ctx, action: FaultAction) {
        match action {
            FaultAction::HangStart(s) => {
                if let Some(d) = world.disks.get_mut(&s) {
                    d.start_hang();
                    ctx.log(
                        "sim",
                        Level::Warn,
                        Some(s),
                        None,
                        format!("disk of store {s} hangs: every write is held"),
                    );
                    ctx.count("io_hangs", 1);
                }
            }
            FaultAction::HangEnd(s) => {
                if let Some(d) = world.disks.get_mut(&s) {
                    let tokens = d.end_hang();
                    ctx.log(
                        "sim",
                        Level::Info,
                        Some(s),
                        None,
                        format!("disk of store {s} recovers from the hang"),
                    );
                    if let Some(st) = world.stores.get_mut(&s) {
                        if st.up && !tokens.is_empty() {
                            st.on_disk_done(ctx, tokens);
                        }
                    }
                }
            }
            FaultAction::SlowStart(s, f) => {
                if let Some(d) = world.disks.get_mut(&s) {
                    d.slow_factor = f.max(1);
                    ctx.log(
                        "sim",
                        Level::Warn,
                        Some(s),
                        None,
                        format!("disk of store {s} becomes {f}x slower"),
                    );
                }
            }
            FaultAction::SlowEnd(s) => {
                if let Some(d) = world.disks.get_mut(&s) {
                    d.slow_factor = 1;
                }
            }
            FaultAction::Crash(s) => {
                if let Some(st) = world.stores.get_mut(&s) {
                    if st.up {
                        st.crash(ctx);
                        if let Some(d) = world.disks.get_mut(&s) {
                            d.crash();
                        }
                        ctx.count("process_crashes", 1);
                    }
                }
            }
            FaultAction::Restart(s) => {
                if let Some(st) = world.stores.get_mut(&s) {
                    if !st.up {
                        st.restart(ctx);
                    }
                }
            }
            FaultAction::Isolate(s, until) => {
                world.network.isolate(Node::Store(s), until);
                ctx.log(
                    "sim",
                    Level::Warn,
                    Some(s),
                    None,
                    format!(
                        "store {s} is partitioned from the network until {} ms",
                        to_ms(until)
                    ),
                );
            }
        }
    }

    /// Every idle, unhung disk with queued writes starts a batch (after a submit,
    /// a completion or the end of a hang): one place schedules disk completions.
    fn start_idle_disks(&mut self) {
        let now = self.now;
        let started: Vec<(u64, Micros, u64)> = self
            .world
            .disks
            .iter_mut()
            .filter_map(|(&store, d)| d.maybe_start(now).map(|(at, g)| (store, at, g)))
            .collect();
        for (store, at, generation) in started {
            self.push(at, EventKind::DiskDone { store, generation });
        }
    }

    fn apply_effects(&mut self, out: Vec<Effect>) {
        // Group sends per link, keeping order within a link (one gRPC stream each).
        let mut batches: BTreeMap<(Node, Node), Vec<Msg>> = BTreeMap::new();
        for e in out {
            match e {
                Effect::Send { from, to, msg } => batches.entry((from, to)).or_default().push(msg),
                Effect::DiskWrite {
                    store,
                    token,
                    bytes,
                } => {
                    if let Some(d) = self.world.disks.get_mut(&store) {
                        d.submit(token, bytes);
                    }
                }
                Effect::Timer { node, after, timer } => {
                    let incarnation = match node {
                        Node::Store(s) => self.world.stores.get(&s).map_or(0, |st| st.incarnation),
                        _ => 0,
                    };
                    self.push(
                        self.now + after,
                        EventKind::Timer {
                            node,
                            incarnation,
                            timer,
                        },
                    );
                }
            }
        }
        for ((from, to), msgs) in batches {
            let bytes = msgs.iter().map(Msg::wire_bytes).sum();
            if let Some(at) = self
                .world
                .network
                .route(&mut self.rng, self.now, from, to, bytes)
            {
                self.push(at, EventKind::Deliver { from, to, msgs });
            } else {
                *self.counters.entry("network_batches_dropped").or_insert(0) += 1;
            }
        }
    }

    fn sample(&mut self) {
        let t_ms = to_ms(self.now);
        let mut stats = std::mem::take(&mut self.world.workload.stats);
        let txn_stats = std::mem::take(&mut self.world.sessions.stats);
        let has_sessions = self.world.sessions.owns(0);
        if has_sessions {
            // The transaction scenarios chart committed transactions as QPS.
            stats.completed = txn_stats.committed;
            stats.failed = txn_stats.aborted;
            stats.latency = txn_stats.latency.clone();
        }
        let mut put = |name: String, v: f64| self.series.entry(name).or_default().push((t_ms, v));
        if has_sessions {
            put("txn_commits".into(), txn_stats.committed as f64);
            put("txn_aborts".into(), txn_stats.aborted as f64);
        }
        put("qps".into(), stats.completed as f64);
        put("failed_ops".into(), stats.failed as f64);
        put(
            "latency_p50_ms".into(),
            stats.latency.percentile(50) as f64 / 1000.0,
        );
        put(
            "latency_p99_ms".into(),
            stats.latency.percentile(99) as f64 / 1000.0,
        );
        self.last_qps = stats.completed as f64;
        self.last_region_qps.clear();
        let region_ids: Vec<u64> = self.world.pd.regions.keys().copied().collect();
        for rid in region_ids {
            let q = stats.completed_by_region.get(&rid).copied().unwrap_or(0) as f64;
            self.last_region_qps.insert(rid, q);
            self.series
                .entry(format!("qps_region_{rid}"))
                .or_default()
                .push((t_ms, q));
        }
        for (&sid, d) in &self.world.disks {
            self.series
                .entry(format!("disk_queue_store_{sid}"))
                .or_default()
                .push((t_ms, d.depth() as f64));
        }
        for (&sid, st) in &self.world.stores {
            self.series
                .entry(format!("slow_score_store_{sid}"))
                .or_default()
                .push((t_ms, st.slow_score.score() as f64));
            let leaders = st.peers.values().filter(|p| st.up && p.is_leader()).count();
            self.series
                .entry(format!("leaders_store_{sid}"))
                .or_default()
                .push((t_ms, leaders as f64));
        }
        self.sample_lock_managers(t_ms);
        // Invariant bookkeeping: forget entries every live peer has applied.
        let mut min_applied: BTreeMap<u64, u64> = BTreeMap::new();
        for st in self.world.stores.values() {
            for (&rid, p) in &st.peers {
                let a = p.raft.store().applied_index;
                min_applied
                    .entry(rid)
                    .and_modify(|m| *m = (*m).min(a))
                    .or_insert(a);
            }
        }
        for (rid, m) in min_applied {
            self.invariants.prune(rid, m);
        }
        self.push(self.now + SEC, EventKind::Sample);
    }

    fn sample_lock_managers(&mut self, t_ms: u64) {
        for st in self.world.stores.values_mut() {
            let Some(lm) = st.storage.lock_manager.as_mut() else {
                continue;
            };
            let limit = lm.cfg.memory_limit;
            let backlog = if st.up { lm.stream.len() as f64 } else { 0.0 };
            let waiters = if st.up {
                lm.wait_table.len() as f64
            } else {
                0.0
            };
            lm.roll_second();
            let sid = st.id;
            let tree = st.memory_trace(limit);
            let mut put =
                |name: String, v: f64| self.series.entry(name).or_default().push((t_ms, v));
            put(format!("detector_backlog_store_{sid}"), backlog);
            put(format!("waiters_store_{sid}"), waiters);
            for (path, bytes) in tree.flatten() {
                if path.is_empty() {
                    put(format!("memory_store_{sid}"), bytes as f64);
                } else {
                    put(format!("memory_store_{sid}:{path}"), bytes as f64);
                }
            }
            self.memory_samples.push((t_ms, sid, tree));
        }
    }

    /// Stores killed by the OOM killer so far.
    pub fn oom_kills(&self) -> &[OomKill] {
        &self.oom_kills
    }

    /// The memory trace tree of `store` at the last per-second sample at or
    /// before `at_ms` (virtual ms); `None` before the first sample or for a
    /// store without a lock manager.
    pub fn memory_tree_at(&self, store: u64, at_ms: u64) -> Option<crate::memory::MemoryTrace> {
        self.memory_samples
            .iter()
            .rev()
            .find(|(t, s, _)| *s == store && *t <= at_ms)
            .map(|(_, _, tree)| tree.clone())
    }

    /// The transactions, waiters and deadlock detector of the cluster now.
    pub fn lock_view(&self) -> LockView {
        let w = &self.world;
        let mut stores = Vec::new();
        let mut waits = Vec::new();
        let mut detect_table = Vec::new();
        let mut deadlocks = Vec::new();
        let mut detector_leader = None;
        for st in w.stores.values() {
            let Some(lm) = st.storage.lock_manager.as_ref() else {
                continue;
            };
            if st.up && lm.role == crate::view::DetectorRole::Leader {
                detector_leader = Some(st.id);
                for (&txn, edges) in &lm.detect_table.wait_for_map {
                    for (&lock_ts, locks) in edges {
                        detect_table.push(DetectEdgeView {
                            txn_ts: txn,
                            wait_for_ts: lock_ts,
                            keys: locks.keys.clone(),
                            last_detect_ms: to_ms(locks.last_detect_time),
                        });
                    }
                }
            }
            for (at, victim, chain) in &st.storage.recent_deadlocks {
                deadlocks.push(DeadlockView {
                    at_ms: to_ms(*at),
                    victim_ts: *victim,
                    wait_chain: chain.clone(),
                });
            }
            for wt in lm.wait_table.iter() {
                waits.push(WaitEdgeView {
                    store: st.id,
                    waiter_ts: wt.start_ts,
                    lock_ts: wt.wait_info.lock_ts,
                    key: wt.wait_info.key,
                    fair: wt.wait_info.allow_lock_with_conflict,
                    since_ms: to_ms(wt.start_waiting_time),
                });
            }
            stores.push(StoreLockView {
                store: st.id,
                up: st.up,
                role: lm.role,
                queues: lm.queue_views(),
                waiters: lm.wait_table.len() as u64,
                memory: st.memory_trace(lm.cfg.memory_limit),
                memory_limit: lm.cfg.memory_limit,
            });
        }
        deadlocks.sort_by_key(|d| d.at_ms);
        if deadlocks.len() > 32 {
            deadlocks.drain(..deadlocks.len() - 32);
        }
        LockView {
            detector_leader,
            stores,
            txns: w.sessions.txn_views(),
            waits,
            detect_table,
            deadlocks,
            hot_keys: if w.sessions.cfg.kind == crate::txn_client::WorkloadKind::HotKeys {
                w.sessions.cfg.hot_key_list()
            } else {
                Vec::new()
            },
        }
    }

    /// Changes a live parameter of the running simulation (see
    /// [`crate::scenario::ScenarioSpec::live`]): the number of transactions,
    /// hot keys, lock hold time, fair locking or the fix.
    ///
    /// Errors: [`ScenarioError::UnknownParam`] for a name the scenario does not
    /// have, [`ScenarioError::BadValue`] for a bad value or a parameter that
    /// cannot change while running (it names the live ones).
    pub fn set_live_param(&mut self, name: &str, value: &str) -> Result<(), ScenarioError> {
        let spec = crate::scenario::find(self.params.scenario)?;
        let p = spec.params.iter().find(|p| p.name == name).ok_or_else(|| {
            ScenarioError::UnknownParam {
                scenario: spec.id.to_string(),
                name: name.to_string(),
            }
        })?;
        if !spec.live.contains(&name) {
            return Err(ScenarioError::BadValue {
                name: name.to_string(),
                value: value.to_string(),
                reason: format!(
                    "cannot change while running; live parameters are: {}",
                    if spec.live.is_empty() {
                        "none".to_string()
                    } else {
                        spec.live.join(", ")
                    }
                ),
            });
        }
        let v = p.parse(value)?;
        self.params.values.insert(p.name, v.clone());
        self.hasher.update(name.as_bytes());
        self.hasher.update(value.as_bytes());
        let mut out = Vec::new();
        {
            let mut ctx = Ctx {
                now: self.now,
                rng: &mut self.rng,
                log: &self.log_sink,
                out: &mut out,
                counters: &mut self.counters,
                invariants: &mut self.invariants,
            };
            let w = &mut self.world;
            match (name, v) {
                ("txns", crate::scenario::ParamValue::Number(n)) => {
                    w.sessions.set_sessions(&mut ctx, &w.pd, n as u32)
                }
                ("hot_keys", crate::scenario::ParamValue::Number(n)) => w.sessions.cfg.hot_keys = n,
                ("lock_hold_time", crate::scenario::ParamValue::Number(n)) => {
                    w.sessions.cfg.lock_hold_time = n * crate::time::MS
                }
                ("fair_locking", crate::scenario::ParamValue::Choice(c)) => {
                    w.sessions.cfg.fair_locking = c == "on"
                }
                ("fix", crate::scenario::ParamValue::Choice(c)) => {
                    let fix = crate::scenarios::deadlock_oom::fix_of(c);
                    for st in w.stores.values_mut() {
                        if let Some(lm) = st.storage.lock_manager.as_mut() {
                            lm.set_fix(fix);
                        }
                    }
                }
                _ => {}
            }
            ctx.log(
                "sim",
                Level::Info,
                None,
                None,
                format!("parameter {name} set to {value} while running"),
            );
        }
        self.apply_effects(out);
        self.drain_log();
        Ok(())
    }

    /// The whole cluster now.
    pub fn view(&self) -> ClusterView {
        let w = &self.world;
        let stores = w
            .stores
            .values()
            .map(|st| {
                let disk = &w.disks[&st.id];
                let hang = self.faults.iter().find_map(|f| match *f {
                    Fault::IoHang {
                        store,
                        start,
                        duration,
                    } if store == st.id && start <= self.now && self.now < start + duration => {
                        Some((start, start + duration))
                    }
                    _ => None,
                });
                StoreView {
                    id: st.id,
                    up: st.up,
                    disk: if disk.is_hung() {
                        DiskState::Hung {
                            since_ms: hang.map_or(0, |h| to_ms(h.0)),
                            until_ms: hang.map(|h| to_ms(h.1)),
                        }
                    } else {
                        DiskState::Healthy
                    },
                    disk_queue: disk.depth(),
                    disk_queue_bytes: disk.depth_bytes(),
                    slow_score: st.slow_score.score(),
                    evicted_as_slow: w.pd.stores.get(&st.id).is_some_and(|s| s.evicted_as_slow),
                    leader_count: if st.up {
                        st.peers.values().filter(|p| p.is_leader()).count()
                    } else {
                        0
                    },
                    peer_count: st.peers.len(),
                }
            })
            .collect();
        let region_ids: Vec<u64> = w.pd.regions.keys().copied().collect();
        let mut regions: Vec<RegionView> = region_ids
            .iter()
            .filter_map(|&rid| self.region_view(rid))
            .collect();
        regions.sort_by_key(|r| (r.start_key.parse::<u64>().unwrap_or(0), r.id));
        ClusterView {
            now_us: self.now,
            stores,
            regions,
            operators: w.pd.operator_views(),
            qps: self.last_qps,
            faults: self.fault_windows(),
            violations: self.invariants.violations.len(),
        }
    }

    fn peers_of(&self, rid: u64) -> Vec<(&Store, &crate::raftstore::Peer)> {
        self.world
            .stores
            .values()
            .filter_map(|st| st.peers.get(&rid).map(|p| (st, p)))
            .collect()
    }

    fn leader_of(&self, rid: u64) -> Option<(&Store, &crate::raftstore::Peer)> {
        self.peers_of(rid)
            .into_iter()
            .filter(|(st, p)| st.up && p.is_leader())
            .max_by_key(|(_, p)| p.raft.raft.term)
    }

    fn region_view(&self, rid: u64) -> Option<RegionView> {
        let peers = self.peers_of(rid);
        if peers.is_empty() {
            return None;
        }
        let leader = self.leader_of(rid);
        let meta_src = leader.or_else(|| {
            peers
                .iter()
                .copied()
                .max_by_key(|(_, p)| p.region().conf_ver)
        })?;
        let meta = meta_src.1.region().clone();
        let mut pv: Vec<_> = peers
            .iter()
            .map(|(st, p)| {
                let matched =
                    leader.and_then(|(_, l)| l.raft.raft.prs().get(p.meta.id).map(|pr| pr.matched));
                p.view(st.up, matched)
            })
            .collect();
        pv.sort_by_key(|p| p.store_id);
        Some(RegionView {
            id: rid,
            start_key: meta.start_key.to_string(),
            end_key: if meta.end_key == u64::MAX {
                String::new()
            } else {
                meta.end_key.to_string()
            },
            conf_ver: meta.conf_ver,
            hot: rid == self.world.hot_region,
            leader_store: leader.map(|(st, _)| st.id),
            peers: pv,
            qps: self.last_region_qps.get(&rid).copied().unwrap_or(0.0),
        })
    }

    /// The Raft group panel for `region_id`, or `None` if no store has it.
    pub fn raft_group(&self, region_id: u64) -> Option<RaftGroupView> {
        let rv = self.region_view(region_id)?;
        let peers = self.peers_of(region_id);
        let src = self.leader_of(region_id).or_else(|| {
            peers
                .iter()
                .copied()
                .max_by_key(|(_, p)| p.raft.raft.raft_log.last_index())
        })?;
        let log_tail = src.1.log_tail(64).iter().map(entry_view).collect();
        let leader = self.leader_of(region_id);
        let pending_conf_index = leader.map_or(0, |(_, l)| l.raft.raft.pending_conf_index);
        let pending_conf_entry = leader
            .and_then(|(_, l)| l.entry_at(pending_conf_index))
            .map(|e| entry_view(&e))
            .filter(|e| e.kind == EntryKind::ConfChange);
        let mut attempts: Vec<_> = peers
            .iter()
            .flat_map(|(_, p)| p.transfer_attempts.iter().cloned())
            .collect();
        attempts.sort_by_key(|a| a.t_ms);
        let skip = attempts.len().saturating_sub(50);
        Some(RaftGroupView {
            region_id,
            term: rv.peers.iter().map(|p| p.term).max().unwrap_or(0),
            pending_conf_index,
            pending_conf_entry,
            peers: rv.peers,
            log_tail,
            transfer_attempts: attempts.into_iter().skip(skip).collect(),
        })
    }

    /// Fault windows, for chart shading.
    pub fn fault_windows(&self) -> Vec<FaultWindow> {
        self.faults
            .iter()
            .map(|f| {
                let (store, start, duration) = f.window();
                FaultWindow {
                    kind: f.kind().to_string(),
                    store,
                    start_ms: to_ms(start),
                    end_ms: Some(to_ms(start + duration)),
                }
            })
            .collect()
    }

    /// The scenario's hot region id.
    pub fn hot_region(&self) -> u64 {
        self.world.hot_region
    }

    /// The world (for tests and views that need more than [`ClusterView`]).
    pub fn world(&self) -> &World {
        &self.world
    }
}

/// The page's view of one log entry; conf changes are labelled with what they do.
fn entry_view(e: &raft::eraftpb::Entry) -> EntryView {
    let (kind, label) = match e.get_entry_type() {
        raft::eraftpb::EntryType::EntryConfChange => {
            use protobuf::Message as _;
            let label = raft::eraftpb::ConfChange::parse_from_bytes(e.get_data())
                .ok()
                .map(|cc| format!("{:?} peer {}", cc.get_change_type(), cc.get_node_id()));
            (EntryKind::ConfChange, label)
        }
        _ if e.get_data().is_empty() => (EntryKind::Empty, None),
        _ => (EntryKind::Normal, None),
    };
    EntryView {
        index: e.get_index(),
        term: e.get_term(),
        kind,
        label,
    }
}

fn node_tag(n: Node) -> u8 {
    match n {
        Node::Store(s) => s as u8,
        Node::Pd => 200,
        Node::Client(c) => 100u8.wrapping_add(c as u8),
    }
}
