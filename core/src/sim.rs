//! The simulator: one event queue ordered by (virtual time, sequence number),
//! the environment, and the components of the world a scenario built.
//! [`Simulation`] is the public handle used by the command line, the page
//! and the tests. It holds no scenario-specific code: a scenario builds the
//! world and applies its own live parameters ([`crate::scenario::Scenario`]).

use std::collections::BTreeMap;

use crate::client::WorkloadStats;
use crate::env::oom::{OomKill, MEMORY_CHECK_INTERVAL};
use crate::env::Fault;
use crate::input::{Input, InputAction, InputError};
use crate::invariants::{AckedWrites, RaftSafety, Violation};
use crate::kernel::effect::DiskLane;
use crate::kernel::effect::Node;
use crate::kernel::hash::TraceHasher;
use crate::kernel::log::{Level, LogLine, LogSink};
use crate::kernel::metrics::SeriesMap;
use crate::kernel::metrics::{record, Counter, Counters};
use crate::kernel::queue::{EventQueue, Queued};
use crate::kernel::rng::SimRng;
use crate::kernel::time::{to_ms, Micros, SEC};
use crate::memory::MemoryTrace;
use crate::proto::{Ctx, Effect, Msg, Timer};
use crate::raftstore::logger::raft_logger;
use crate::scenario::{Params, Scenario, ScenarioError};
use crate::world::World;

/// Events processed by kind (`events_*` in `kvscope run --json`).
pub const EVENTS_DELIVER: Counter = Counter::new("events_deliver");
/// Disk completions processed.
pub const EVENTS_DISK_DONE: Counter = Counter::new("events_disk_done");
/// Disk read completions processed.
pub const EVENTS_DISK_READ_DONE: Counter = Counter::new("events_disk_read_done");
/// Background writes (memtable flushes) completed.
pub const EVENTS_DISK_FLUSH_DONE: Counter = Counter::new("events_disk_flush_done");
/// Timers processed.
pub const EVENTS_TIMER: Counter = Counter::new("events_timer");
/// Worker pool tasks finished.
pub const EVENTS_POOL_DONE: Counter = Counter::new("events_pool_done");
/// Fault actions processed.
pub const EVENTS_FAULT: Counter = Counter::new("events_fault");
/// Per-second samples taken.
pub const EVENTS_SAMPLE: Counter = Counter::new("events_sample");
/// OOM killer checks.
pub const EVENTS_MEMORY_CHECK: Counter = Counter::new("events_memory_check");

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
    DiskLaneDone {
        store: u64,
        lane: DiskLane,
        generation: u64,
    },
    Timer {
        node: Node,
        incarnation: u64,
        timer: Timer,
    },
    PoolDone {
        store: u64,
        pool: &'static str,
        slot: usize,
        generation: u64,
    },
    Fault(FaultAction),
    Sample,
    MemoryCheck,
}

/// One store's memory at a per-second sample: its trace tree and the live
/// bytes per allocation site it was computed from.
struct MemorySample {
    t_ms: u64,
    store: u64,
    tree: MemoryTrace,
    live: Vec<(usize, u64)>,
}

/// A running simulation. Deterministic: the same scenario, seed, parameters and
/// commands give the same event trace (`trace_hash`) natively and in wasm.
pub struct Simulation {
    scenario: &'static dyn Scenario,
    params: Params,
    seed: u64,
    now: Micros,
    queue: EventQueue<EventKind>,
    rng: SimRng,
    world: World,
    log_sink: LogSink,
    log: Vec<LogLine>,
    counters: Counters,
    series: SeriesMap,
    faults: Vec<Fault>,
    hasher: TraceHasher,
    events: u64,
    raft_safety: RaftSafety,
    acked: AckedWrites,
    acked_violations: Vec<Violation>,
    /// The parameters the run was built with (live changes are inputs).
    build_params: Params,
    /// Inputs applied so far, in order.
    inputs: Vec<Input>,
    /// Inputs scheduled for later, by (time, scheduling order).
    pending_inputs: BTreeMap<(Micros, u64), Input>,
    input_seq: u64,
    queue_restarts: Vec<(Micros, u64)>,
    /// Connections whose break was told to the first node, `(node, peer)`,
    /// until a message gets through again.
    resets_sent: std::collections::BTreeSet<(Node, Node)>,
    /// Stores that crashed in the event being handled (their peers hear of it).
    crashed_now: Vec<u64>,
    /// Memory trees sampled every virtual second: (t_ms, store, tree).
    memory_samples: Vec<MemorySample>,
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
        let spec = crate::scenarios::find(scenario)?.spec();
        let params = Params::resolve(spec, overrides)?;
        Simulation::from_params(params, seed)
    }

    /// Builds a simulation from resolved parameters.
    ///
    /// Errors: a combination of values the scenario refuses (for example a hang
    /// store beyond the number of stores), as [`ScenarioError::BadValue`].
    pub fn from_params(params: Params, seed: u64) -> Result<Simulation, ScenarioError> {
        let scenario = crate::scenarios::find(params.scenario())?;
        let log_sink = LogSink::default();
        let mut rng = SimRng::new(seed);
        let mut counters = Counters::new();
        let mut out = Vec::new();
        let built = {
            let mut ctx = Ctx {
                now: 0,
                rng: &mut rng,
                log: &log_sink,
                out: &mut out,
                counters: &mut counters,
            };
            scenario.build(&params, &mut ctx, &raft_logger(&log_sink))?
        };
        let mut sim = Simulation {
            scenario,
            build_params: params.clone(),
            inputs: Vec::new(),
            pending_inputs: BTreeMap::new(),
            input_seq: 0,
            params,
            seed,
            now: 0,
            queue: EventQueue::default(),
            rng,
            world: built.world,
            log_sink,
            log: Vec::new(),
            counters,
            series: SeriesMap::new(),
            faults: Vec::new(),
            hasher: TraceHasher::default(),
            events: 0,
            raft_safety: RaftSafety::default(),
            acked: AckedWrites::default(),
            acked_violations: Vec::new(),
            queue_restarts: Vec::new(),
            resets_sent: Default::default(),
            crashed_now: Vec::new(),
            memory_samples: Vec::new(),
        };
        for st in sim.world.stores.values() {
            sim.raft_safety.observe_store(0, st);
            for cfg in st.pools() {
                sim.world
                    .pools
                    .insert((st.id, cfg.name), crate::env::pool::WorkerPool::new(cfg));
            }
        }
        sim.apply_effects(out);
        for f in built.faults {
            sim.schedule_fault(f);
        }
        sim.push(SEC, EventKind::Sample);
        if sim.world.stores.values().any(|s| s.memory_limit.is_some()) {
            sim.push(MEMORY_CHECK_INTERVAL, EventKind::MemoryCheck);
        }
        sim.drain_log();
        Ok(sim)
    }

    fn push(&mut self, at: Micros, kind: EventKind) {
        self.queue.push(at, kind);
    }

    /// Schedules a fault (times are absolute virtual µs; a start in the past
    /// means now): the scenario's own faults at build, and fault inputs.
    fn schedule_fault(&mut self, f: Fault) {
        let (store, start, duration) = f.window();
        let start = start.max(self.now);
        match f {
            Fault::IoHang { .. } => {
                self.push(start, EventKind::Fault(FaultAction::HangStart(store)));
                self.push(
                    start.saturating_add(duration),
                    EventKind::Fault(FaultAction::HangEnd(store)),
                );
            }
            Fault::SlowDisk { factor, .. } => {
                self.push(
                    start,
                    EventKind::Fault(FaultAction::SlowStart(store, factor)),
                );
                self.push(
                    start.saturating_add(duration),
                    EventKind::Fault(FaultAction::SlowEnd(store)),
                );
            }
            Fault::Crash { .. } => {
                self.push(start, EventKind::Fault(FaultAction::Crash(store)));
                self.push(
                    start.saturating_add(duration),
                    EventKind::Fault(FaultAction::Restart(store)),
                );
            }
            Fault::Partition { .. } => {
                self.push(
                    start,
                    EventKind::Fault(FaultAction::Isolate(store, start.saturating_add(duration))),
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

    /// The parameters now: as built, with the live changes applied since.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The parameters the run was built with (a replay builds with these and
    /// then applies [`Simulation::inputs`]).
    pub fn build_params(&self) -> &Params {
        &self.build_params
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

    /// Invariant violations recorded so far: the Raft properties (checked
    /// after every event), lost acknowledged writes (checked at the end of
    /// every [`Simulation::run_until`] and by
    /// [`Simulation::check_acknowledged_writes`]) and the workloads' own.
    pub fn violations(&self) -> Vec<Violation> {
        let mut v = self.raft_safety.violations.clone();
        v.extend(self.acked_violations.iter().cloned());
        for w in &self.world.workloads {
            v.extend(w.violations());
        }
        v
    }

    /// Checks now that every write acknowledged to a client is in the state
    /// machine of every replica that has applied past its index (see
    /// [`crate::invariants::acked`]); new violations are recorded and returned.
    pub fn check_acknowledged_writes(&mut self) -> Vec<Violation> {
        let found = self.acked.check(self.now, &self.world.stores);
        self.acked_violations.extend(found.iter().cloned());
        found
    }

    /// Faults scheduled so far (from the scenario and injected while running).
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Processes events until virtual time `until` (µs), inclusive, then
    /// checks the acknowledged writes (the end of a run).
    pub fn run_until(&mut self, until: Micros) {
        while self.step_before(until) {}
        self.now = self.now.max(until);
        self.log_sink.set_now_ms(to_ms(self.now));
        self.check_acknowledged_writes();
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
        let next_event = self.queue.next_at();
        if let Some(&(at, _)) = self.pending_inputs.keys().next() {
            if at <= until && next_event.is_none_or(|e| e > at) {
                let (_, input) = self.pending_inputs.pop_first().expect("peeked");
                self.now = self.now.max(at);
                self.log_sink.set_now_ms(to_ms(self.now));
                self.apply_checked(input);
                return true;
            }
        }
        match next_event {
            Some(at) if at <= until => {}
            _ => return false,
        }
        let Queued { at, seq, event } = self.queue.pop().expect("peeked");
        self.now = at;
        self.events += 1;
        self.log_sink.set_now_ms(to_ms(at));
        self.hasher.update(&at.to_le_bytes());
        self.hasher.update(&seq.to_le_bytes());
        self.dispatch(event);
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
            EventKind::Deliver { .. } => EVENTS_DELIVER,
            EventKind::DiskDone { .. } => EVENTS_DISK_DONE,
            EventKind::DiskLaneDone {
                lane: DiskLane::Read,
                ..
            } => EVENTS_DISK_READ_DONE,
            EventKind::DiskLaneDone {
                lane: DiskLane::Flush,
                ..
            } => EVENTS_DISK_FLUSH_DONE,
            EventKind::Timer { .. } => EVENTS_TIMER,
            EventKind::PoolDone { .. } => EVENTS_POOL_DONE,
            EventKind::Fault(_) => EVENTS_FAULT,
            EventKind::Sample => EVENTS_SAMPLE,
            EventKind::MemoryCheck => EVENTS_MEMORY_CHECK,
        };
        let is_memory_check = matches!(kind, EventKind::MemoryCheck);
        *self.counters.entry(kind_name).or_insert(0) += 1;
        let mut out = Vec::new();
        // The store whose state the event may have changed (for the Raft checks).
        let mut touched = None;
        // Connections the event found broken: (when, node told, peer).
        let mut resets: Vec<(Micros, Node, Node)> = Vec::new();
        {
            let now = self.now;
            let world = &mut self.world;
            let mut ctx = Ctx {
                now,
                rng: &mut self.rng,
                log: &self.log_sink,
                out: &mut out,
                counters: &mut self.counters,
            };
            match kind {
                EventKind::Deliver { from, to, msgs } => {
                    self.hasher.update(&[1, node_tag(from), node_tag(to)]);
                    match to {
                        Node::Store(s) => {
                            touched = Some(s);
                            if let Some(store) = world.stores.get_mut(&s) {
                                if store.up {
                                    for m in msgs {
                                        store.on_message(&mut ctx, m);
                                    }
                                } else if !msgs
                                    .iter()
                                    .any(|m| matches!(m, Msg::ConnectionReset { .. }))
                                {
                                    // A process that is down refuses the connection.
                                    resets.push((now + world.network.cfg.latency, from, to));
                                }
                            }
                        }
                        Node::Pd => {
                            for m in msgs {
                                world.pd.on_message(&mut ctx, from, m);
                            }
                        }
                        Node::Client(c) => {
                            if let Some(w) = world.workload_of(c) {
                                for m in msgs {
                                    w.on_message(&mut ctx, c, m);
                                }
                            }
                        }
                    }
                }
                EventKind::DiskLaneDone {
                    store,
                    lane,
                    generation,
                } => {
                    let tag = match lane {
                        DiskLane::Read => 8,
                        DiskLane::Flush => 9,
                    };
                    self.hasher.update(&[tag, store as u8]);
                    touched = Some(store);
                    if let Some(disk) = world.disks.get_mut(&store) {
                        let tokens = disk.complete_lane(lane, generation);
                        if let Some(st) = world.stores.get_mut(&store) {
                            if st.up && !tokens.is_empty() {
                                st.on_disk_done(&mut ctx, tokens);
                            }
                        }
                    }
                }
                EventKind::DiskDone { store, generation } => {
                    self.hasher.update(&[2, store as u8]);
                    touched = Some(store);
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
                            touched = Some(s);
                            if let Some(st) = world.stores.get_mut(&s) {
                                if st.up && st.incarnation == incarnation {
                                    st.on_timer(&mut ctx, timer);
                                }
                            }
                        }
                        Node::Pd => world.pd.on_schedule(&mut ctx),
                        Node::Client(c) => {
                            if let Some(w) = world.workload_of(c) {
                                w.on_timer(&mut ctx, c, timer);
                            }
                        }
                    }
                }
                EventKind::PoolDone {
                    store,
                    pool,
                    slot,
                    generation,
                } => {
                    self.hasher.update(&[7, store as u8]);
                    touched = Some(store);
                    let done = world
                        .pools
                        .get_mut(&(store, pool))
                        .and_then(|p| p.complete(now, slot, generation));
                    if let (Some(timer), Some(st)) = (done, world.stores.get_mut(&store)) {
                        if st.up {
                            st.on_timer(&mut ctx, timer);
                        }
                    }
                }
                EventKind::Fault(action) => {
                    self.hasher.update(&[4]);
                    touched = Some(action.store());
                    if let FaultAction::Crash(s) = action {
                        if world.stores.get(&s).is_some_and(|st| st.up) {
                            self.crashed_now.push(s);
                        }
                    }
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
                        &mut self.queue_restarts,
                        &mut self.crashed_now,
                    );
                }
            }
        }
        if let Some(s) = touched {
            if self.abort_if_panicked(s) {
                // The process died handling the event: what it was about to
                // send, write or start dies with it.
                let me = Node::Store(s);
                out.retain(|e| match e {
                    Effect::Send { from, .. } => *from != me,
                    Effect::DiskWrite { store, .. }
                    | Effect::DiskLane { store, .. }
                    | Effect::Spawn { store, .. } => *store != s,
                    Effect::Timer { node, .. } => *node != me,
                });
            }
        }
        if let Some(st) = touched.and_then(|s| self.world.stores.get_mut(&s)) {
            if !st.raftstore.moved().is_empty() {
                self.raft_safety.observe_moved(self.now, st);
                st.raftstore.clear_moved();
            }
        }
        for (at, node, peer) in resets {
            self.connection_reset(at, node, peer);
        }
        for store in std::mem::take(&mut self.crashed_now) {
            // The process's sockets close: every node it had a connection to hears of it.
            let peer = Node::Store(store);
            let at = self.now + self.world.network.cfg.latency;
            for node in self.world.network.peers_of(peer) {
                self.connection_reset(at, node, peer);
            }
        }
        self.apply_effects(out);
        self.start_idle_disks();
        self.start_idle_pools();
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

    /// A store whose component failed an assertion during the last event
    /// aborts like a crashed process (its volatile state is lost, unsynced
    /// writes too) and restarts the OOM killer's `restart_delay` later.
    fn abort_if_panicked(&mut self, store: u64) -> bool {
        let Some(abort) = self
            .world
            .stores
            .get_mut(&store)
            .and_then(crate::store::Store::take_panic)
        else {
            return false;
        };
        let now = self.now;
        let delay = self.world.oom.restart_delay;
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now,
            rng: &mut self.rng,
            log: &self.log_sink,
            out: &mut out,
            counters: &mut self.counters,
        };
        let world = &mut self.world;
        kill_process(world, &mut ctx, store);
        world.aborts.push(crate::world::StoreAbort {
            store,
            at_ms: to_ms(now),
            restart_ms: to_ms(now + delay),
            abort,
        });
        self.crashed_now.push(store);
        self.queue_restarts.push((now + delay, store));
        self.apply_effects(out);
        true
    }

    /// The OOM killer: a store whose memory trace sum passes its limit is
    /// killed (its volatile state is lost, unsynced disk writes too) and
    /// restarts the OOM killer's `restart_delay` later.
    fn oom_killer(
        world: &mut World,
        ctx: &mut Ctx,
        restarts: &mut Vec<(Micros, u64)>,
        crashed: &mut Vec<u64>,
    ) {
        let delay = world.oom.restart_delay;
        let over: Vec<(u64, u64, u64)> = world
            .stores
            .values()
            .filter(|st| st.up)
            .filter_map(|st| {
                let limit = st.memory_limit.filter(|&l| l > 0)?;
                let used = st.memory_trace().sum();
                (used > limit).then_some((st.id, used, limit))
            })
            .collect();
        for (id, used, limit) in over {
            ctx.log(
                "kernel",
                Level::Error,
                Some(id),
                None,
                format!(
                    "Out of memory: Killed process (tikv-server) of store {id}, anon-rss: {} MiB, limit: {} MiB",
                    used >> 20,
                    limit >> 20
                ),
            );
            ctx.count(crate::env::metrics::OOM_KILLS, 1);
            kill_process(world, ctx, id);
            crashed.push(id);
            world.oom.kills.push(OomKill {
                store: id,
                at_ms: to_ms(ctx.now),
                memory: used,
                limit,
                restart_ms: to_ms(ctx.now + delay),
            });
            restarts.push((ctx.now + delay, id));
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
                    ctx.count(crate::env::metrics::IO_HANGS, 1);
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
                if world.stores.get(&s).is_some_and(|st| st.up) {
                    kill_process(world, ctx, s);
                    ctx.count(crate::env::metrics::PROCESS_CRASHES, 1);
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
        for lane in [DiskLane::Read, DiskLane::Flush] {
            let started: Vec<(u64, Micros, u64)> = self
                .world
                .disks
                .iter_mut()
                .filter_map(|(&store, d)| {
                    d.maybe_start_lane(lane, now).map(|(at, g)| (store, at, g))
                })
                .collect();
            for (store, at, generation) in started {
                self.push(
                    at,
                    EventKind::DiskLaneDone {
                        store,
                        lane,
                        generation,
                    },
                );
            }
        }
    }

    /// Tells `node`, at `at`, that its connection to `peer` broke (once until
    /// a message between them gets through again).
    fn connection_reset(&mut self, at: Micros, node: Node, peer: Node) {
        if self.resets_sent.insert((node, peer)) {
            self.push(
                at,
                EventKind::Deliver {
                    from: peer,
                    to: node,
                    msgs: vec![Msg::ConnectionReset { peer }],
                },
            );
        }
    }

    /// Every pool with a free thread and a queued task starts it.
    fn start_idle_pools(&mut self) {
        let now = self.now;
        let mut started = Vec::new();
        for (&(store, pool), p) in self.world.pools.iter_mut() {
            for s in p.start_ready(now) {
                started.push((store, pool, s));
            }
        }
        for (store, pool, s) in started {
            self.push(
                s.at,
                EventKind::PoolDone {
                    store,
                    pool,
                    slot: s.slot,
                    generation: s.generation,
                },
            );
        }
    }

    fn apply_effects(&mut self, out: Vec<Effect>) {
        // Group sends per link, keeping order within a link (one gRPC stream each).
        let mut batches: BTreeMap<(Node, Node), Vec<Msg>> = BTreeMap::new();
        for e in out {
            match e {
                Effect::Send { from, to, msg } => {
                    self.acked
                        .on_send(self.now, from, to, &msg, &self.world.stores);
                    batches.entry((from, to)).or_default().push(msg)
                }
                Effect::DiskWrite {
                    store,
                    token,
                    bytes,
                } => {
                    if let Some(d) = self.world.disks.get_mut(&store) {
                        d.submit(token, bytes);
                    }
                }
                Effect::DiskLane {
                    lane,
                    store,
                    token,
                    bytes,
                } => {
                    if let Some(d) = self.world.disks.get_mut(&store) {
                        d.submit_lane(lane, token, bytes);
                    }
                }
                Effect::Spawn {
                    store,
                    pool,
                    cost,
                    done,
                    next,
                } => {
                    if let Some(p) = self.world.pools.get_mut(&(store, pool)) {
                        if next {
                            p.submit_front(cost, done);
                        } else {
                            p.submit(cost, done);
                        }
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
            let bytes = crate::proto::wire::GRPC_FRAME_BYTES
                + msgs.iter().map(Msg::wire_bytes).sum::<u64>();
            if let Some(at) = self
                .world
                .network
                .route(&mut self.rng, self.now, from, to, bytes)
            {
                self.resets_sent.remove(&(from, to));
                self.push(at, EventKind::Deliver { from, to, msgs });
            } else {
                if self.world.network.is_partitioned(from, to, self.now) {
                    // gRPC's keepalive notices the dead connection.
                    let at = self.now + crate::env::network::GRPC_KEEPALIVE_DEAD_AFTER;
                    self.connection_reset(at, from, to);
                }
                *self
                    .counters
                    .entry(crate::env::metrics::NETWORK_BATCHES_DROPPED)
                    .or_insert(0) += 1;
            }
        }
    }

    fn sample(&mut self) {
        let t_ms = to_ms(self.now);
        let mut stats = WorkloadStats::default();
        for w in &mut self.world.workloads {
            stats.merge(w.sample_second(t_ms, &mut self.series));
        }
        use crate::client::metrics as cm;
        let series = &mut self.series;
        record(series, cm::QPS.key(), t_ms, stats.completed as f64);
        record(series, cm::FAILED_OPS.key(), t_ms, stats.failed as f64);
        let ms = |us: u64| us as f64 / 1000.0;
        record(
            series,
            cm::LATENCY_P50_MS.key(),
            t_ms,
            ms(stats.latency.percentile(50)),
        );
        record(
            series,
            cm::LATENCY_P99_MS.key(),
            t_ms,
            ms(stats.latency.percentile(99)),
        );
        for &rid in self.world.pd.regions.keys() {
            let q = stats.completed_by_region.get(&rid).copied().unwrap_or(0) as f64;
            record(series, cm::QPS_REGION.of(rid), t_ms, q);
            if let Some(h) = stats.latency_by_region.get(&rid) {
                record(
                    series,
                    cm::LATENCY_P99_MS_REGION.of(rid),
                    t_ms,
                    ms(h.percentile(99)),
                );
            }
        }
        for (&sid, d) in &self.world.disks {
            record(
                series,
                crate::env::metrics::DISK_QUEUE.of(sid),
                t_ms,
                d.depth() as f64,
            );
        }
        let link_bytes: BTreeMap<u64, (u64, u64)> = self
            .world
            .stores
            .keys()
            .map(|&s| (s, self.world.raft_link_bytes(s)))
            .collect();
        for st in self.world.stores.values_mut() {
            st.sample_second(t_ms, series);
            if st.memory_limit.is_none() {
                continue;
            }
            let tree = st.memory_trace();
            // The three memory views' common source: live bytes per
            // allocation site, and the per-thread counters they advance.
            let live = st.live_allocations(&tree);
            let (sent, received) = link_bytes[&st.id];
            let (sent_before, received_before) = st.raft_bytes_seen;
            st.raft_bytes_seen = (sent, received);
            if st.up {
                st.thread_ledger.observe(
                    &live,
                    &[
                        ("raft_messages_sent", sent.saturating_sub(sent_before)),
                        (
                            "raft_messages_received",
                            received.saturating_sub(received_before),
                        ),
                    ],
                );
            } else {
                st.thread_ledger.reset();
            }
            for (&thread, stats) in &st.thread_ledger.threads {
                record(
                    series,
                    crate::env::metrics::THREAD_MEMORY.at(st.id, thread),
                    t_ms,
                    stats.net() as f64,
                );
                record(
                    series,
                    crate::env::metrics::THREAD_ALLOCATED.at(st.id, thread),
                    t_ms,
                    stats.allocated as f64,
                );
                record(
                    series,
                    crate::env::metrics::THREAD_DEALLOCATED.at(st.id, thread),
                    t_ms,
                    stats.deallocated as f64,
                );
            }
            for (path, bytes) in tree.flatten() {
                record(
                    series,
                    crate::env::metrics::MEMORY.at(st.id, &path),
                    t_ms,
                    bytes as f64,
                );
            }
            self.memory_samples.push(MemorySample {
                t_ms,
                store: st.id,
                tree,
                live,
            });
        }
        let now = self.now;
        for (&(store, name), p) in self.world.pools.iter_mut() {
            use crate::env::metrics::{POOL_BUSY, POOL_CPU, POOL_QUEUE};
            let cpu = p.take_second(now) as f64 / 10_000.0;
            record(
                series,
                POOL_QUEUE.at(store, name),
                t_ms,
                p.queue_depth() as f64,
            );
            record(
                series,
                POOL_BUSY.at(store, name),
                t_ms,
                p.busy_threads() as f64,
            );
            record(series, POOL_CPU.at(store, name), t_ms, cpu);
        }
        // Invariant bookkeeping: forget entries every live peer has applied.
        let mut min_applied: BTreeMap<u64, u64> = BTreeMap::new();
        for st in self.world.stores.values() {
            for (&rid, p) in &st.raftstore.peers {
                let a = p.raft.store().applied_index;
                min_applied
                    .entry(rid)
                    .and_modify(|m| *m = (*m).min(a))
                    .or_insert(a);
            }
        }
        for (rid, m) in min_applied {
            self.raft_safety.prune(rid, m);
        }
        self.push(self.now + SEC, EventKind::Sample);
    }

    /// Stores killed by the OOM killer so far.
    pub fn oom_kills(&self) -> &[OomKill] {
        &self.world.oom.kills
    }

    /// The memory trace tree of `store` at the last per-second sample at or
    /// before `at_ms` (virtual ms); `None` before the first sample or for a
    /// store without a memory limit.
    pub fn memory_tree_at(&self, store: u64, at_ms: u64) -> Option<MemoryTrace> {
        self.memory_sample_at(store, at_ms).map(|m| m.tree.clone())
    }

    /// The heap profile of `store` at the last per-second sample at or
    /// before `at_ms` (virtual ms): live bytes by allocation site, largest
    /// first; `None` as [`Simulation::memory_tree_at`].
    pub fn heap_profile_at(
        &self,
        store: u64,
        at_ms: u64,
    ) -> Option<Vec<crate::memory::alloc::HeapProfileEntry>> {
        self.memory_sample_at(store, at_ms)
            .map(|m| crate::memory::alloc::heap_profile(&m.live))
    }

    /// The last per-second memory sample of `store` at or before `at_ms`.
    fn memory_sample_at(&self, store: u64, at_ms: u64) -> Option<&MemorySample> {
        self.memory_samples
            .iter()
            .rev()
            .find(|m| m.store == store && m.t_ms <= at_ms)
    }

    /// Schedules `input` for its virtual time (replaying a recorded run:
    /// the command line's `--at`, a URL's `at=`). It is checked now against
    /// the scenario and the cluster; it applies after every event due at or
    /// before its time.
    ///
    /// Errors: [`InputError`] naming what is wrong (a parameter that does not
    /// exist or is not live, a bad value, a store the cluster lacks, a time
    /// already past).
    pub fn schedule_input(&mut self, input: Input) -> Result<(), InputError> {
        self.check_action(&input.action)?;
        if input.at < self.now {
            return Err(InputError::InThePast {
                input: input.to_text(),
                now: self.now,
            });
        }
        self.input_seq += 1;
        self.pending_inputs
            .insert((input.at, self.input_seq), input);
        Ok(())
    }

    /// Applies `action` now (the page's controls): every event still due at
    /// the current virtual time runs first, so that a replay of the recorded
    /// input gives the same run. Returns the input as recorded.
    ///
    /// Errors: as [`Simulation::schedule_input`]; nothing changes then.
    pub fn apply_input(&mut self, action: InputAction) -> Result<Input, InputError> {
        self.check_action(&action)?;
        let now = self.now;
        while self.queue.next_at().is_some_and(|at| at <= now) && self.step_before(now) {}
        let input = Input { at: now, action };
        Ok(self.apply_checked(input))
    }

    /// Changes a live parameter now: [`Simulation::apply_input`] with a
    /// [`InputAction::SetParam`].
    ///
    /// Errors: as [`Simulation::apply_input`].
    pub fn set_live_param(&mut self, name: &str, value: &str) -> Result<Input, InputError> {
        self.apply_input(InputAction::SetParam {
            name: name.to_string(),
            value: value.to_string(),
        })
    }

    /// The inputs applied so far, in order.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// The inputs scheduled and not applied yet, in order.
    pub fn pending_inputs(&self) -> impl Iterator<Item = &Input> {
        self.pending_inputs.values()
    }

    /// Checks `action` against the scenario and the cluster, canonicalizing
    /// a parameter's value.
    fn check_action(&self, action: &InputAction) -> Result<(), InputError> {
        match action {
            InputAction::SetParam { name, value } => {
                let spec = self.scenario.spec();
                let p = spec.params.iter().find(|p| p.name == name).ok_or_else(|| {
                    ScenarioError::UnknownParam {
                        scenario: spec.id.to_string(),
                        name: name.to_string(),
                    }
                })?;
                if !spec.live.contains(&name.as_str()) {
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
                    }
                    .into());
                }
                p.parse(value)?;
                Ok(())
            }
            InputAction::Fault(f) => {
                f.validate().map_err(|reason| InputError::Malformed {
                    text: format!("{}={}", action.name(), action.value()),
                    reason,
                })?;
                if self.world.stores.contains_key(&f.store) {
                    Ok(())
                } else {
                    Err(InputError::UnknownStore {
                        store: f.store,
                        stores: self.world.stores.keys().copied().collect(),
                    })
                }
            }
        }
    }

    /// Applies a checked input at the current time, hashes it and records it.
    fn apply_checked(&mut self, mut input: Input) -> Input {
        let mut out = Vec::new();
        let (name, value) = match &input.action {
            InputAction::SetParam { name, value } => {
                let spec = self.scenario.spec();
                let p = spec
                    .params
                    .iter()
                    .find(|p| p.name == name)
                    .expect("checked");
                let v = p.parse(value).expect("checked");
                let canonical = v.to_string();
                {
                    let mut ctx = Ctx {
                        now: self.now,
                        rng: &mut self.rng,
                        log: &self.log_sink,
                        out: &mut out,
                        counters: &mut self.counters,
                    };
                    if let Err(e) = self.scenario.set_live(&mut self.world, &mut ctx, name, &v) {
                        ctx.log(
                            "sim",
                            Level::Warn,
                            None,
                            None,
                            format!("parameter {name} not changed: {e}"),
                        );
                    }
                    ctx.log(
                        "sim",
                        Level::Info,
                        None,
                        None,
                        format!("parameter {name} set to {canonical} while running"),
                    );
                }
                self.params.values.insert(p.name, v);
                input.action = InputAction::SetParam {
                    name: name.clone(),
                    value: canonical.clone(),
                };
                (p.name.to_string(), canonical)
            }
            InputAction::Fault(f) => {
                let f = *f;
                self.log_sink.push(
                    "sim",
                    Level::Info,
                    Some(f.store),
                    None,
                    format!(
                        "fault {}={} injected while running",
                        f.kind.name(),
                        f.value_text()
                    ),
                );
                self.hasher.update(b"fault");
                self.schedule_fault(f.fault(self.now));
                (f.kind.name().to_string(), f.value_text())
            }
        };
        self.hasher.update(name.as_bytes());
        self.hasher.update(value.as_bytes());
        self.apply_effects(out);
        self.drain_log();
        self.inputs.push(input.clone());
        input
    }

    /// The region the scenario's story is about.
    pub fn focus_region(&self) -> u64 {
        self.world.focus_region
    }

    /// The world: components and environment, for views and tests.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, to change it behind the simulation's back: only for tests
    /// that corrupt a replica's state to prove the invariant checkers catch
    /// it. Nothing the page or the command line does goes through here, and
    /// the change is not in the trace hash.
    pub fn world_mut_for_tests(&mut self) -> &mut World {
        &mut self.world
    }
}

impl FaultAction {
    fn store(&self) -> u64 {
        match *self {
            FaultAction::HangStart(s)
            | FaultAction::HangEnd(s)
            | FaultAction::SlowStart(s, _)
            | FaultAction::SlowEnd(s)
            | FaultAction::Crash(s)
            | FaultAction::Restart(s)
            | FaultAction::Isolate(s, _) => s,
        }
    }
}

/// The process of `store` died: its pools' tasks are gone.
/// The process of store `store` dies (a crash, an OOM kill, an abort): its
/// volatile state is lost, its disk drops unsynced writes, its pools drop
/// their tasks.
fn kill_process(world: &mut World, ctx: &mut Ctx, store: u64) {
    if let Some(st) = world.stores.get_mut(&store) {
        st.crash(ctx);
    }
    if let Some(d) = world.disks.get_mut(&store) {
        d.crash();
    }
    crash_pools(&mut world.pools, store, ctx.now);
}

fn crash_pools(
    pools: &mut BTreeMap<(u64, &'static str), crate::env::pool::WorkerPool<Timer>>,
    store: u64,
    now: Micros,
) {
    for ((s, _), p) in pools.iter_mut() {
        if *s == store {
            p.crash(now);
        }
    }
}

fn node_tag(n: Node) -> u8 {
    match n {
        Node::Store(s) => s as u8,
        Node::Pd => 200,
        Node::Client(c) => 100u8.wrapping_add(c as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input the page applies while more events are due at the very
    /// moment its clock shows replays to the same trace: those events run
    /// first, as they do when the recorded input is scheduled ahead.
    #[test]
    fn an_input_applied_between_events_of_one_instant_replays_exactly() {
        let mut live = Simulation::new(crate::scenarios::deadlock_oom::ID, 4, &[]).unwrap();
        // Step until the next event is due at the same virtual µs as the last one.
        let mut found = false;
        for _ in 0..2_000_000 {
            assert!(live.step());
            if live.now() > 500 * crate::kernel::time::MS
                && live.queue.next_at() == Some(live.now())
            {
                found = true;
                break;
            }
        }
        assert!(found, "no instant with two events due");
        let input = live
            .apply_input(InputAction::parse("txns=30").unwrap())
            .unwrap();
        assert_eq!(input.at, live.now());
        live.run_until(3 * SEC);
        let mut replay = Simulation::new(crate::scenarios::deadlock_oom::ID, 4, &[]).unwrap();
        replay.schedule_input(input).unwrap();
        replay.run_until(3 * SEC);
        assert_eq!(live.trace_hash(), replay.trace_hash());
        assert_eq!(live.inputs(), replay.inputs());
    }
}
