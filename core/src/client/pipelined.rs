//! A TiDB instance running a pipelined (large) DML transaction beside a
//! normal write load and stale reads, as client-go drives them
//! (`txnkv/transaction/pipelined_flush.go`, `ttl_manager`, the 2PC
//! committer, `tidb_read_staleness`).
//!
//! - **Writers**: small optimistic transactions, one key each: `start_ts`
//!   from the TSO, `Prewrite` (lock TTL 3 s, TiDB's `defaultLockTTL`), a
//!   `commit_ts` from the TSO, `Commit`. The value written is the
//!   transaction's `start_ts`, so a read tells which write it saw.
//! - **The large transaction** (`PipelinedTxn`): from `large_txn_start`, a
//!   `start_ts`, then every `duration × generation size / size` it buffers
//!   the next `generation size` keys (spread over the first
//!   `large_txn_regions` regions) and flushes them, region by region, as
//!   `Flush` of generation 1, 2, ... (locks with TTL 20 s,
//!   `ManagedLockTTL`). Its TTL manager, every `heartbeat interval`, gets a
//!   TSO, sends `TxnHeartBeat` to the primary (TTL = elapsed + 20 s,
//!   `min_commit_ts` = that TSO) and then `BroadcastTxnStatus` with the
//!   new `min_commit_ts` to every store. After `duration` it commits: a
//!   `commit_ts`, `Commit` of the primary, a broadcast of the commit, then
//!   `ResolveLock` (commit) of every region it wrote, then a broadcast
//!   with `is_completed`. The next one starts `large_txn_pause` later.
//!   With `client_dies`, the instance dies halfway: no more heartbeats,
//!   no commit; its locks live until their TTL expires and someone
//!   resolves them.
//! - **Stale readers**: `SELECT ... AS OF TIMESTAMP NOW() - staleness`: a
//!   TSO, `ts = tso − staleness`, a `StaleGet` to a random peer of the
//!   key's region; `DataIsNotReady` when the peer's safe-ts is below `ts`.
//!
//! Safety: a stale read that returns an older version than a write this
//! instance committed at or below the read's ts is a `stale-read-missed-write`
//! violation (checked when the read returns and when a later commit is
//! acknowledged).

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};

use super::pd_client::{PdAnswer, PdClient};
use super::{RequestTimeout, WorkloadStats};
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::metrics::{record, Counter, SeriesMap};
use crate::kernel::time::{Micros, MS, SEC};
use crate::kernel::violation::Violation;
use crate::pd::Pd;
use crate::proto::{
    Ctx, Key, Msg, Mutation, PeerMeta, RegionError, RegionMeta, Timer, TxnCommand, TxnError, TxnOk,
    TxnStatus, TxnStatusEntry,
};

/// TiDB's `ManagedLockTTL` (20 s): the TTL of a pipelined transaction's
/// locks, renewed by the TTL manager; virtual ms.
pub const MANAGED_LOCK_TTL_MS: u64 = 20_000;
/// client-go's `defaultLockTTL` (3 s) for a small transaction; virtual ms.
pub const DEFAULT_LOCK_TTL_MS: u64 = 3_000;
/// Large transactions' `Flush` generations written.
pub const LARGE_TXN_FLUSHES: Counter = Counter::new("large_txn_flushes");
/// Small transactions committed.
pub const SMALL_TXNS_COMMITTED: Counter = Counter::new("small_txns_committed");
/// Large transactions committed.
pub const LARGE_TXNS_COMMITTED: Counter = Counter::new("large_txns_committed");
/// Request timeout of every request, virtual µs.
const REQUEST_TIMEOUT: Micros = 2 * SEC;

/// The workload's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelinedConfig {
    /// Small-transaction writer threads.
    pub writers: u32,
    /// Pause of a writer between two transactions, virtual µs.
    pub think_time: Micros,
    /// Stale-read threads.
    pub stale_readers: u32,
    /// Pause of a stale reader between two reads, virtual µs.
    pub stale_read_interval: Micros,
    /// `tidb_read_staleness`, virtual ms.
    pub staleness_ms: u64,
    /// Keys of each large transaction.
    pub large_txn_size: u64,
    /// How long each large transaction writes before committing, virtual µs.
    pub large_txn_duration: Micros,
    /// Keys per `Flush` generation.
    pub generation_size: u64,
    /// The TTL manager's heartbeat interval, virtual µs.
    pub heartbeat_interval: Micros,
    /// When the first large transaction starts, virtual µs.
    pub large_txn_start: Micros,
    /// Pause between a large transaction's end and the next one, virtual µs.
    pub large_txn_pause: Micros,
    /// The regions (their first keys and widths) the large transaction writes.
    pub large_txn_ranges: Vec<(Key, Key)>,
    /// The regions the writers write, as (first key, width).
    pub write_ranges: Vec<(Key, Key)>,
    /// The instance dies halfway through each large transaction.
    pub client_dies: bool,
    /// Every store (the broadcast's targets).
    pub stores: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Writer,
    LargeTxn,
    TtlManager,
    StaleReader,
}

#[derive(Clone, Debug)]
struct Inflight {
    req_id: u64,
    key: Key,
    cmd: TxnCommand,
}

#[derive(Clone, Debug)]
struct Actor {
    id: u32,
    role: Role,
    inflight: Option<Inflight>,
    /// A command waiting for its region's route from PD.
    waiting_route: Option<(Key, TxnCommand)>,
    waiting_ts: bool,
    next_req: u64,
    timeout: RequestTimeout,
    /// Writer: (start_ts, key).
    small: Option<(u64, Key)>,
    /// Writer: when its transaction asked for its start_ts, virtual µs.
    began: Micros,
    /// Writer: commit_ts.
    commit_ts: u64,
}

#[derive(Clone, Debug)]
struct Route {
    meta: RegionMeta,
    leader: Option<PeerMeta>,
}

/// Where the large transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LargePhase {
    /// Not started, or between two.
    Idle,
    /// Writing and flushing generations.
    Writing,
    /// Committing the primary.
    CommittingPrimary,
    /// Resolving the secondaries region by region.
    CommittingSecondaries,
    /// Its client died: nothing more is sent.
    Dead,
}

/// The large transaction as the instance knows it (for the page and tests).
#[derive(Clone, Debug)]
pub struct LargeTxnState {
    /// Phase.
    pub phase: LargePhase,
    /// start_ts (0 before it got one).
    pub start_ts: u64,
    /// The primary key.
    pub primary: Key,
    /// Generations flushed.
    pub generation: u64,
    /// Keys buffered so far.
    pub written: u64,
    /// The newest `min_commit_ts` pushed by a heartbeat.
    pub min_commit_ts: u64,
    /// commit_ts once committing.
    pub commit_ts: u64,
    /// When it started, virtual µs.
    pub started_at: Micros,
    /// Keys per region written (region start key → keys).
    pub keys_by_range: BTreeMap<Key, Vec<Key>>,
    /// Mutations of the current generation not yet flushed, by range start.
    pending_flush: VecDeque<(Key, Vec<Key>)>,
    /// Regions left to resolve on commit, by range start.
    pending_resolve: VecDeque<Key>,
    /// Ranges touched, in order.
    pub touched: Vec<Key>,
}

/// A marker on the timeline: what the large transaction did and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LargeTxnMarker {
    /// Virtual ms.
    pub t_ms: u64,
    /// `start`, `flush`, `heartbeat`, `commit`, `died`.
    pub kind: &'static str,
    /// The transaction's start_ts.
    pub start_ts: u64,
    /// The generation (flush) or min_commit_ts (heartbeat) or commit_ts.
    pub detail: u64,
}

/// The workload (see the module docs).
pub struct PipelinedWorkload {
    /// Settings (size and duration are live).
    pub cfg: PipelinedConfig,
    actors: Vec<Actor>,
    pd_client: PdClient,
    routes: BTreeMap<Key, Route>,
    /// The large transaction.
    pub large: LargeTxnState,
    /// Markers for the page, oldest first.
    pub markers: Vec<LargeTxnMarker>,
    /// Committed writes: key → commit_ts → start_ts.
    commits: BTreeMap<Key, BTreeMap<u64, u64>>,
    /// Recent stale reads per key: (read ts, start_ts of the version seen).
    reads: BTreeMap<Key, VecDeque<(u64, Option<u64>)>>,
    violations: Vec<Violation>,
    last_tso: u64,
    stats: WorkloadStats,
}

impl PipelinedWorkload {
    /// The instance's PD client is `pd_client_id`; its threads are
    /// `first_client..`.
    pub fn new(cfg: PipelinedConfig, pd: &Pd, pd_client_id: u32, first_client: u32) -> Self {
        let mut actors = Vec::new();
        let mut push = |role| {
            actors.push(Actor {
                id: first_client + actors.len() as u32,
                role,
                inflight: None,
                waiting_route: None,
                waiting_ts: false,
                next_req: 0,
                timeout: RequestTimeout::default(),
                small: None,
                began: 0,
                commit_ts: 0,
            })
        };
        for _ in 0..cfg.writers {
            push(Role::Writer);
        }
        push(Role::LargeTxn);
        push(Role::TtlManager);
        for _ in 0..cfg.stale_readers {
            push(Role::StaleReader);
        }
        let routes = pd
            .regions
            .values()
            .map(|r| {
                (
                    r.meta.start_key,
                    Route {
                        meta: r.meta.clone(),
                        leader: r.leader,
                    },
                )
            })
            .collect();
        PipelinedWorkload {
            cfg,
            actors,
            pd_client: PdClient::new(pd_client_id),
            routes,
            large: LargeTxnState {
                phase: LargePhase::Idle,
                start_ts: 0,
                primary: 0,
                generation: 0,
                written: 0,
                min_commit_ts: 0,
                commit_ts: 0,
                started_at: 0,
                keys_by_range: BTreeMap::new(),
                pending_flush: VecDeque::new(),
                pending_resolve: VecDeque::new(),
                touched: Vec::new(),
            },
            markers: Vec::new(),
            commits: BTreeMap::new(),
            reads: BTreeMap::new(),
            violations: Vec::new(),
            last_tso: 0,
            stats: WorkloadStats::default(),
        }
    }

    /// Arms every thread's first step.
    pub fn start(&mut self, ctx: &mut Ctx) {
        for i in 0..self.actors.len() {
            let a = &self.actors[i];
            let after = match a.role {
                Role::Writer => MS + ctx.rng.below(self.cfg.think_time.max(1)),
                Role::LargeTxn => self.cfg.large_txn_start,
                Role::TtlManager => self.cfg.large_txn_start + self.cfg.heartbeat_interval,
                Role::StaleReader => SEC + ctx.rng.below(self.cfg.stale_read_interval.max(1)),
            };
            ctx.timer(Node::Client(a.id), after, Timer::ClientNext);
        }
    }

    fn idx(&self, client: u32) -> Option<usize> {
        let first = self.actors.first()?.id;
        let i = client.checked_sub(first)? as usize;
        (i < self.actors.len()).then_some(i)
    }

    fn route(&self, key: Key) -> Option<&Route> {
        self.routes
            .range(..=key)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| key >= r.meta.start_key && key < r.meta.end_key)
    }

    fn forget(&mut self, key: Key) {
        if let Some(start) = self.route(key).map(|r| r.meta.start_key) {
            self.routes.remove(&start);
        }
    }

    fn physical_ms(ts: u64) -> u64 {
        (ts >> 18).saturating_sub(1)
    }

    fn get_ts(&mut self, ctx: &mut Ctx, i: usize) {
        self.actors[i].waiting_ts = true;
        let id = self.actors[i].id;
        self.pd_client.get_ts(ctx, id);
    }

    /// Sends `cmd` for `key` to its region's leader (or, for a stale read,
    /// to a random peer), locating the region first if needed.
    fn send(&mut self, ctx: &mut Ctx, i: usize, key: Key, cmd: TxnCommand) {
        let Some(route) = self.route(key).cloned() else {
            self.actors[i].waiting_route = Some((key, cmd));
            let id = self.actors[i].id;
            self.pd_client.locate(ctx, id, key);
            return;
        };
        let store = if matches!(cmd, TxnCommand::StaleGet { .. }) {
            let peers: Vec<_> = route.meta.peers.iter().filter(|p| !p.is_learner).collect();
            if peers.is_empty() {
                None
            } else {
                Some(peers[ctx.rng.below(peers.len() as u64) as usize].store_id)
            }
        } else {
            route.leader.map(|l| l.store_id)
        };
        let Some(store) = store else {
            self.forget(key);
            return self.send(ctx, i, key, cmd);
        };
        let a = &mut self.actors[i];
        a.next_req += 1;
        let req_id = a.next_req;
        a.inflight = Some(Inflight {
            req_id,
            key,
            cmd: cmd.clone(),
        });
        let node = Node::Client(a.id);
        a.timeout
            .arm(ctx, node, REQUEST_TIMEOUT, Timer::ClientTimeout);
        ctx.send(
            node,
            Node::Store(store),
            Msg::TxnRequest {
                client: a.id,
                req_id,
                region_id: route.meta.id,
                cmd,
            },
        );
    }

    fn after(&self, ctx: &mut Ctx, i: usize, after: Micros) {
        ctx.timer(
            Node::Client(self.actors[i].id),
            after.max(1),
            Timer::ClientNext,
        );
    }

    fn broadcast(&self, ctx: &mut Ctx, i: usize, entry: TxnStatusEntry) {
        for &s in &self.cfg.stores {
            ctx.send(
                Node::Client(self.actors[i].id),
                Node::Store(s),
                Msg::BroadcastTxnStatus {
                    statuses: vec![entry],
                },
            );
        }
    }

    fn marker(&mut self, ctx: &Ctx, kind: &'static str, detail: u64) {
        self.markers.push(LargeTxnMarker {
            t_ms: ctx.now / MS,
            kind,
            start_ts: self.large.start_ts,
            detail,
        });
    }

    fn flush_interval(&self) -> Micros {
        let gens = self
            .cfg
            .large_txn_size
            .div_ceil(self.cfg.generation_size.max(1))
            .max(1);
        (self.cfg.large_txn_duration / gens).max(MS)
    }

    fn log(&self, ctx: &Ctx, msg: String) {
        ctx.log("tidb", Level::Info, None, None, msg);
    }

    /// A thread's timer: its next step.
    fn on_next(&mut self, ctx: &mut Ctx, i: usize) {
        let a = &self.actors[i];
        if a.inflight.is_some() || a.waiting_ts || a.waiting_route.is_some() {
            return;
        }
        match a.role {
            Role::Writer => {
                self.actors[i].began = ctx.now;
                self.get_ts(ctx, i)
            }
            Role::StaleReader => self.get_ts(ctx, i),
            Role::LargeTxn => match self.large.phase {
                LargePhase::Idle => self.get_ts(ctx, i),
                LargePhase::Writing if !self.large.pending_flush.is_empty() => {
                    self.flush_next(ctx, i)
                }
                LargePhase::Writing => self.next_generation(ctx, i),
                LargePhase::CommittingSecondaries => self.resolve_next(ctx, i),
                _ => {}
            },
            Role::TtlManager => {
                if self.large.phase == LargePhase::Writing && self.large.generation > 0 {
                    self.get_ts(ctx, i);
                } else if self.large.phase != LargePhase::Dead {
                    self.after(ctx, i, self.cfg.heartbeat_interval);
                }
            }
        }
    }

    /// Buffers the next generation's keys and starts flushing them, or
    /// commits when every key is written (and flushed).
    fn next_generation(&mut self, ctx: &mut Ctx, i: usize) {
        if self.cfg.client_dies
            && ctx.now >= self.large.started_at + self.cfg.large_txn_duration / 2
        {
            self.large.phase = LargePhase::Dead;
            self.marker(ctx, "died", 0);
            ctx.log(
                "tidb",
                Level::Warn,
                None,
                None,
                format!(
                    "TiDB instance died; pipelined txn {} left its locks (ttl {} ms)",
                    self.large.start_ts, MANAGED_LOCK_TTL_MS
                ),
            );
            return;
        }
        if self.large.written >= self.cfg.large_txn_size {
            return self.get_ts(ctx, i); // commit_ts
        }
        let n = self
            .cfg
            .generation_size
            .min(self.cfg.large_txn_size - self.large.written);
        let ranges = self.cfg.large_txn_ranges.clone();
        let mut batch: BTreeMap<Key, Vec<Key>> = BTreeMap::new();
        for j in 0..n {
            let w = self.large.written + j;
            let (start, width) = ranges[(w % ranges.len() as u64) as usize];
            let key = start + width / 2 + w / ranges.len() as u64 % (width / 2).max(1);
            batch.entry(start).or_default().push(key);
            let e = self.large.keys_by_range.entry(start).or_default();
            if !self.large.touched.contains(&start) {
                self.large.touched.push(start);
            }
            e.push(key);
        }
        if self.large.written == 0 {
            self.large.primary = batch
                .values()
                .next()
                .and_then(|v| v.first().copied())
                .unwrap_or(0);
        }
        self.large.written += n;
        self.large.generation += 1;
        self.large.pending_flush = batch.into_iter().collect();
        self.flush_next(ctx, i);
    }

    fn flush_next(&mut self, ctx: &mut Ctx, i: usize) {
        if let Some((start, keys)) = self.large.pending_flush.pop_front() {
            let (here, rest) = self.split_by_region(keys);
            if !rest.is_empty() {
                self.large.pending_flush.push_front((start, rest));
            }
            self.large.pending_flush.push_front((start, here));
        }
        let Some((_, keys)) = self.large.pending_flush.front().cloned() else {
            ctx.count(LARGE_TXN_FLUSHES, 1);
            let g = self.large.generation;
            self.marker(ctx, "flush", g);
            let wait = self.flush_interval();
            return self.after(ctx, i, wait);
        };
        let cmd = TxnCommand::Flush {
            start_ts: self.large.start_ts,
            primary: self.large.primary,
            mutations: keys
                .iter()
                .map(|&k| Mutation::Put(k, self.large.start_ts as i64))
                .collect(),
            generation: self.large.generation,
            lock_ttl: MANAGED_LOCK_TTL_MS,
        };
        self.send(ctx, i, keys[0], cmd);
    }

    /// Splits `keys` into those of the cached region of `keys[0]` and the
    /// rest (a region split since the keys were grouped: client-go groups
    /// mutations by region before sending).
    fn split_by_region(&self, keys: Vec<Key>) -> (Vec<Key>, Vec<Key>) {
        let Some(r) = keys.first().and_then(|&k| self.route(k)) else {
            return (keys, Vec::new());
        };
        let (start, end) = (r.meta.start_key, r.meta.end_key);
        keys.into_iter().partition(|&k| k >= start && k < end)
    }

    fn resolve_next(&mut self, ctx: &mut Ctx, i: usize) {
        let Some(start) = self.large.pending_resolve.front().copied() else {
            // Every lock is resolved: the large-txn cache entries may go.
            self.broadcast(
                ctx,
                i,
                TxnStatusEntry {
                    start_ts: self.large.start_ts,
                    min_commit_ts: self.large.min_commit_ts,
                    commit_ts: self.large.commit_ts,
                    rolled_back: false,
                    is_completed: true,
                },
            );
            self.log(
                ctx,
                format!("pipelined txn {} completed", self.large.start_ts),
            );
            self.large.phase = LargePhase::Idle;
            self.large.keys_by_range.clear();
            self.large.touched.clear();
            let pause = self.cfg.large_txn_pause;
            return self.after(ctx, i, pause);
        };
        let all = self
            .large
            .keys_by_range
            .get(&start)
            .cloned()
            .unwrap_or_default();
        let (keys, rest) = self.split_by_region(all);
        if let Some(&r0) = rest.first() {
            // Resolve this region's part now and the rest as its own range.
            self.large.keys_by_range.insert(start, keys.clone());
            self.large.keys_by_range.insert(r0, rest);
            self.large.pending_resolve.insert(1, r0);
        }
        let Some(&first) = keys.first() else {
            self.large.pending_resolve.pop_front();
            return self.resolve_next(ctx, i);
        };
        let cmd = TxnCommand::ResolveLock {
            start_ts: self.large.start_ts,
            commit_ts: self.large.commit_ts,
            keys,
        };
        self.send(ctx, i, first, cmd);
    }

    fn on_ts(&mut self, ctx: &mut Ctx, i: usize, ts: u64) {
        self.actors[i].waiting_ts = false;
        self.last_tso = self.last_tso.max(ts);
        match self.actors[i].role {
            Role::Writer => {
                if let Some((start_ts, key)) = self.actors[i].small {
                    self.actors[i].commit_ts = ts;
                    self.send(
                        ctx,
                        i,
                        key,
                        TxnCommand::Commit {
                            start_ts,
                            commit_ts: ts,
                            keys: vec![key],
                        },
                    );
                } else {
                    let (start, width) = self.cfg.write_ranges
                        [ctx.rng.below(self.cfg.write_ranges.len() as u64) as usize];
                    let key = start + ctx.rng.below((width / 2).max(1));
                    self.actors[i].small = Some((ts, key));
                    self.send(
                        ctx,
                        i,
                        key,
                        TxnCommand::Prewrite {
                            start_ts: ts,
                            for_update_ts: 0,
                            primary: key,
                            mutations: vec![Mutation::Put(key, ts as i64)],
                            lock_ttl: DEFAULT_LOCK_TTL_MS,
                        },
                    );
                }
            }
            Role::StaleReader => {
                let (start, width) = self.cfg.write_ranges
                    [ctx.rng.below(self.cfg.write_ranges.len() as u64) as usize];
                let key = start + ctx.rng.below(width.max(1));
                let phys = Self::physical_ms(ts).saturating_sub(self.cfg.staleness_ms);
                let read_ts = (phys + 1) << 18;
                self.send(ctx, i, key, TxnCommand::StaleGet { ts: read_ts, key });
            }
            Role::LargeTxn => match self.large.phase {
                LargePhase::Idle => {
                    self.large.phase = LargePhase::Writing;
                    self.large.start_ts = ts;
                    self.large.started_at = ctx.now;
                    self.large.generation = 0;
                    self.large.written = 0;
                    self.large.min_commit_ts = ts;
                    self.large.commit_ts = 0;
                    self.marker(ctx, "start", ts);
                    self.log(
                        ctx,
                        format!(
                            "pipelined txn {ts} begins: {} keys over {} s, {} keys per flush",
                            self.cfg.large_txn_size,
                            self.cfg.large_txn_duration / SEC,
                            self.cfg.generation_size
                        ),
                    );
                    self.next_generation(ctx, i);
                }
                LargePhase::Writing => {
                    self.large.phase = LargePhase::CommittingPrimary;
                    self.large.commit_ts = ts.max(self.large.min_commit_ts + 1);
                    let primary = self.large.primary;
                    let cmd = TxnCommand::Commit {
                        start_ts: self.large.start_ts,
                        commit_ts: self.large.commit_ts,
                        keys: vec![primary],
                    };
                    self.send(ctx, i, primary, cmd);
                }
                _ => {}
            },
            Role::TtlManager => {
                if self.large.phase != LargePhase::Writing {
                    return self.after(ctx, i, self.cfg.heartbeat_interval);
                }
                let elapsed =
                    Self::physical_ms(ts).saturating_sub(Self::physical_ms(self.large.start_ts));
                let cmd = TxnCommand::TxnHeartBeat {
                    primary: self.large.primary,
                    start_ts: self.large.start_ts,
                    advise_ttl: elapsed + MANAGED_LOCK_TTL_MS,
                    min_commit_ts: ts,
                };
                let primary = self.large.primary;
                self.send(ctx, i, primary, cmd);
            }
        }
    }

    fn on_response(
        &mut self,
        ctx: &mut Ctx,
        i: usize,
        inf: Inflight,
        result: Result<TxnOk, TxnError>,
    ) {
        if let Err(TxnError::Region(e)) = &result {
            let stale_refused = matches!(e, RegionError::DataIsNotReady { .. });
            match e {
                RegionError::EpochNotMatch { current_regions } => {
                    for m in current_regions {
                        self.routes.retain(|_, r| {
                            r.meta.end_key <= m.start_key || r.meta.start_key >= m.end_key
                        });
                    }
                    self.forget(inf.key);
                }
                RegionError::NotLeader {
                    leader_store: Some(s),
                } => {
                    let s = *s;
                    if let Some(start) = self.route(inf.key).map(|r| r.meta.start_key) {
                        let r = self.routes.get_mut(&start).expect("found");
                        r.leader = r.meta.peer_on(s);
                        if r.leader.is_none() {
                            self.routes.remove(&start);
                        }
                    }
                }
                RegionError::DataIsNotReady { .. } => {}
                _ => self.forget(inf.key),
            }
            if stale_refused {
                let wait = self.cfg.stale_read_interval;
                return self.after(ctx, i, wait);
            }
            if matches!(
                inf.cmd,
                TxnCommand::Flush { .. } | TxnCommand::ResolveLock { .. }
            ) {
                // Regroup by the regions as they are now, after a backoff.
                let id = self.actors[i].id;
                self.pd_client.locate(ctx, id, inf.key);
                return self.after(ctx, i, 100 * MS);
            }
            // Retry the same command after client-go's short backoff.
            let (key, cmd) = (inf.key, inf.cmd);
            self.actors[i].waiting_route = Some((key, cmd));
            let id = self.actors[i].id;
            return self.pd_client.locate(ctx, id, key);
        }
        match self.actors[i].role {
            Role::Writer => self.on_writer_result(ctx, i, inf, result),
            Role::StaleReader => {
                if let (TxnCommand::StaleGet { ts, key }, Ok(ok)) = (&inf.cmd, &result) {
                    let seen = ok.value.map(|v| v as u64);
                    self.check_read(ctx, *key, *ts, seen);
                    let q = self.reads.entry(*key).or_default();
                    q.push_back((*ts, seen));
                    if q.len() > 8 {
                        q.pop_front();
                    }
                }
                let wait = self.cfg.stale_read_interval;
                self.after(ctx, i, wait);
            }
            Role::LargeTxn => self.on_large_result(ctx, i, inf, result),
            Role::TtlManager => {
                if let Ok(TxnOk {
                    txn_status: Some(TxnStatus::Uncommitted { min_commit_ts, .. }),
                    ..
                }) = result
                {
                    if self.large.phase == LargePhase::Writing
                        && min_commit_ts > self.large.min_commit_ts
                    {
                        self.large.min_commit_ts = min_commit_ts;
                        self.marker(ctx, "heartbeat", min_commit_ts);
                        self.broadcast(
                            ctx,
                            i,
                            TxnStatusEntry {
                                start_ts: self.large.start_ts,
                                min_commit_ts,
                                commit_ts: 0,
                                rolled_back: false,
                                is_completed: false,
                            },
                        );
                    }
                }
                let wait = self.cfg.heartbeat_interval;
                self.after(ctx, i, wait);
            }
        }
    }

    fn on_writer_result(
        &mut self,
        ctx: &mut Ctx,
        i: usize,
        inf: Inflight,
        result: Result<TxnOk, TxnError>,
    ) {
        let think = self.cfg.think_time;
        match (&inf.cmd, result) {
            (TxnCommand::Prewrite { .. }, Ok(_)) => self.get_ts(ctx, i),
            (
                TxnCommand::Commit {
                    start_ts,
                    commit_ts,
                    keys,
                },
                Ok(_),
            ) => {
                let (start_ts, commit_ts, key) = (*start_ts, *commit_ts, keys[0]);
                self.on_committed(ctx, key, start_ts, commit_ts);
                self.stats.completed += 1;
                let latency = ctx.now.saturating_sub(self.actors[i].began);
                self.stats.latency.record(latency);
                if let Some(r) = self.route(key).map(|r| r.meta.id) {
                    *self.stats.completed_by_region.entry(r).or_insert(0) += 1;
                    self.stats
                        .latency_by_region
                        .entry(r)
                        .or_default()
                        .record(latency);
                }
                ctx.count(SMALL_TXNS_COMMITTED, 1);
                self.actors[i].small = None;
                self.after(ctx, i, think);
            }
            (TxnCommand::Prewrite { start_ts, .. }, Err(_)) => {
                // KeyIsLocked or WriteConflict: give up, start over.
                let (start_ts, key) = (*start_ts, inf.key);
                self.actors[i].small = None;
                self.stats.failed += 1;
                self.actors[i].inflight = None;
                // Clean the key in case the prewrite applied before a retry
                // failed (a rollback of nothing is harmless).
                self.send(
                    ctx,
                    i,
                    key,
                    TxnCommand::Rollback {
                        start_ts,
                        keys: vec![key],
                    },
                );
            }
            (TxnCommand::Rollback { .. }, _) => self.after(ctx, i, think),
            (_, _) => {
                self.actors[i].small = None;
                self.stats.failed += 1;
                self.after(ctx, i, think);
            }
        }
    }

    fn on_large_result(
        &mut self,
        ctx: &mut Ctx,
        i: usize,
        inf: Inflight,
        result: Result<TxnOk, TxnError>,
    ) {
        match (&inf.cmd, result) {
            (TxnCommand::Flush { .. }, Ok(_)) => {
                self.large.pending_flush.pop_front();
                self.flush_next(ctx, i);
            }
            (TxnCommand::Flush { .. }, Err(e)) => {
                // A lock of another transaction: retry after a backoff.
                ctx.log(
                    "tidb",
                    Level::Warn,
                    None,
                    None,
                    format!("pipelined flush failed: {e:?}; retrying"),
                );
                let (key, cmd) = (inf.key, inf.cmd);
                self.actors[i].waiting_route = Some((key, cmd));
                let id = self.actors[i].id;
                self.pd_client.locate(ctx, id, key);
            }
            (TxnCommand::Commit { .. }, Ok(_)) => {
                ctx.count(LARGE_TXNS_COMMITTED, 1);
                let commit_ts = self.large.commit_ts;
                self.marker(ctx, "commit", commit_ts);
                self.log(
                    ctx,
                    format!(
                        "pipelined txn {} committed at {commit_ts}",
                        self.large.start_ts
                    ),
                );
                let keys: Vec<(Key, u64)> = self
                    .large
                    .keys_by_range
                    .values()
                    .flatten()
                    .map(|&k| (k, self.large.start_ts))
                    .collect();
                for (k, s) in keys {
                    self.on_committed(ctx, k, s, commit_ts);
                }
                self.broadcast(
                    ctx,
                    i,
                    TxnStatusEntry {
                        start_ts: self.large.start_ts,
                        min_commit_ts: self.large.min_commit_ts,
                        commit_ts,
                        rolled_back: false,
                        is_completed: false,
                    },
                );
                self.large.phase = LargePhase::CommittingSecondaries;
                self.large.pending_resolve = self.large.touched.iter().copied().collect();
                self.resolve_next(ctx, i);
            }
            (TxnCommand::Commit { .. }, Err(e)) => {
                // The primary was rolled back (its TTL expired): the
                // transaction failed.
                ctx.log(
                    "tidb",
                    Level::Warn,
                    None,
                    None,
                    format!("pipelined txn {} commit failed: {e:?}", self.large.start_ts),
                );
                self.large.phase = LargePhase::Idle;
                self.large.keys_by_range.clear();
                self.large.touched.clear();
                let pause = self.cfg.large_txn_pause;
                self.after(ctx, i, pause);
            }
            (TxnCommand::ResolveLock { .. }, _) => {
                self.large.pending_resolve.pop_front();
                self.resolve_next(ctx, i);
            }
            _ => {}
        }
    }

    fn on_committed(&mut self, ctx: &Ctx, key: Key, start_ts: u64, commit_ts: u64) {
        self.commits
            .entry(key)
            .or_default()
            .insert(commit_ts, start_ts);
        let reads: Vec<(u64, Option<u64>)> = self
            .reads
            .get(&key)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default();
        for (ts, seen) in reads {
            self.check_read(ctx, key, ts, seen);
        }
    }

    /// A stale read at `ts` saw the version written by `seen` (a start_ts):
    /// it must not be older than a write committed at or below `ts`.
    fn check_read(&mut self, ctx: &Ctx, key: Key, ts: u64, seen: Option<u64>) {
        let Some(versions) = self.commits.get(&key) else {
            return;
        };
        let Some((&newest_commit, &newest_start)) = versions.range(..=ts).next_back() else {
            return;
        };
        let seen_commit =
            seen.and_then(|s| versions.iter().find(|(_, &st)| st == s).map(|(&c, _)| c));
        if seen_commit.is_none_or(|c| c < newest_commit) && self.violations.len() < 100 {
            let details = format!(
                "stale read of key {key} at ts {ts} saw {seen:?}, \
                 but txn {newest_start} committed it at {newest_commit} <= ts"
            );
            self.violations.push(Violation {
                t_ms: ctx.now / MS,
                invariant: "stale-read-missed-write",
                region: 0,
                details,
            });
        }
    }
}

impl super::Workload for PipelinedWorkload {
    fn owns(&self, client: u32) -> bool {
        client == self.pd_client.id || self.idx(client).is_some()
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: u32, msg: Msg) {
        if client == self.pd_client.id {
            for answer in self.pd_client.on_message(ctx, msg) {
                match answer {
                    PdAnswer::Ts { client, ts } => {
                        if let Some(i) = self.idx(client) {
                            if self.large.phase == LargePhase::Dead
                                && matches!(self.actors[i].role, Role::LargeTxn | Role::TtlManager)
                            {
                                self.actors[i].waiting_ts = false;
                                continue;
                            }
                            self.on_ts(ctx, i, ts);
                        }
                    }
                    PdAnswer::Region { client, region, .. } => {
                        if let Some((meta, leader)) = region {
                            self.routes.retain(|_, r| {
                                r.meta.end_key <= meta.start_key || r.meta.start_key >= meta.end_key
                            });
                            self.routes.insert(meta.start_key, Route { meta, leader });
                        }
                        if let Some(i) = self.idx(client) {
                            if let Some((key, cmd)) = self.actors[i].waiting_route.take() {
                                if self.route(key).is_some_and(|r| r.leader.is_some()) {
                                    self.send(ctx, i, key, cmd);
                                } else {
                                    // PD knows no leader yet: ask again later.
                                    self.actors[i].waiting_route = Some((key, cmd));
                                    let id = self.actors[i].id;
                                    ctx.timer(Node::Client(id), 100 * MS, Timer::SessionNext);
                                }
                            }
                        }
                    }
                }
            }
            return;
        }
        let Some(i) = self.idx(client) else {
            return;
        };
        let Msg::TxnResponse { req_id, result } = msg else {
            return;
        };
        let Some(inf) = self.actors[i].inflight.take_if(|f| f.req_id == req_id) else {
            return;
        };
        if self.large.phase == LargePhase::Dead
            && matches!(self.actors[i].role, Role::LargeTxn | Role::TtlManager)
        {
            return;
        }
        self.on_response(ctx, i, inf, result);
    }

    fn on_timer(&mut self, ctx: &mut Ctx, client: u32, timer: Timer) {
        if client == self.pd_client.id {
            if timer == Timer::PdClientTimeout {
                self.pd_client.on_timeout(ctx);
            }
            return;
        }
        let Some(i) = self.idx(client) else {
            return;
        };
        let dead = self.large.phase == LargePhase::Dead
            && matches!(self.actors[i].role, Role::LargeTxn | Role::TtlManager);
        match timer {
            Timer::ClientNext if !dead => self.on_next(ctx, i),
            Timer::SessionNext if !dead => {
                if let Some((key, _)) = self.actors[i].waiting_route.clone() {
                    let id = self.actors[i].id;
                    self.forget(key);
                    self.pd_client.locate(ctx, id, key);
                }
            }
            Timer::ClientTimeout => {
                let node = Node::Client(self.actors[i].id);
                let in_flight = self.actors[i].inflight.is_some();
                if self.actors[i]
                    .timeout
                    .fired(ctx, node, Timer::ClientTimeout, in_flight)
                    && !dead
                {
                    // No answer: refresh the route and send again.
                    if let Some(inf) = self.actors[i].inflight.take() {
                        self.forget(inf.key);
                        if matches!(inf.cmd, TxnCommand::StaleGet { .. }) {
                            let wait = self.cfg.stale_read_interval;
                            self.after(ctx, i, wait);
                        } else {
                            self.actors[i].waiting_route = Some((inf.key, inf.cmd));
                            let id = self.actors[i].id;
                            self.pd_client.locate(ctx, id, inf.key);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn sample_second(&mut self, t_ms: u64, series: &mut SeriesMap) -> WorkloadStats {
        if self.last_tso > 0 {
            record(
                series,
                crate::resolved_ts::metrics::TSO.key(),
                t_ms,
                Self::physical_ms(self.last_tso) as f64,
            );
        }
        std::mem::take(&mut self.stats)
    }

    fn violations(&self) -> Vec<Violation> {
        self.violations.clone()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
