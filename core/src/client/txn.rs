//! Transaction sessions: TiDB sessions running Percolator transactions against
//! the simulated TiKV, as TiDB and client-go drive them.
//!
//! A pessimistic transaction takes `start_ts` from PD's TSO, acquires
//! pessimistic locks key by key (the first is `is_first_lock`; TiKV waits up to
//! `wait-for-lock-timeout`), then prewrites per region (primary region first)
//! and commits with a `commit_ts` from the TSO; the transaction is committed
//! once the primary's region commits. An optimistic one reads at `start_ts`,
//! then prewrites (conflicts appear there) and commits.
//!
//! Errors are handled as TiDB does: `KeyIsLocked` after a lock wait timed out
//! retries the lock with a new `for_update_ts` until `innodb_lock_wait_timeout`
//! (50 s); `WriteConflict` (`PessimisticRetry`) retries the statement with a new
//! `for_update_ts`; `Deadlock` aborts the transaction (TiDB error 1213), which
//! rolls back and starts again; `PessimisticLockNotFound` (locks lost with a
//! restarted store) and optimistic write conflicts abort and start again.
//! Region errors retry on the right leader with client-go's
//! `BoRegionScheduling` backoff; a request with no answer within the timeout is
//! sent again after refreshing the region from PD.

use std::collections::BTreeMap;

use serde::Serialize;

use super::pd_client::{PdAnswer, PdClient};
use super::{RequestTimeout, WorkloadStats};
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::metrics::LatencyHistogram;
use crate::kernel::rng::SimRng;
use crate::kernel::time::{Micros, MS, SEC};
use crate::kernel::violation::Violation;
use crate::pd::Pd;
use crate::proto::{Ctx, Timer};
use crate::proto::{
    Key, Msg, Mutation, RegionError, TxnCommand, TxnError, TxnOk, WriteConflictReason,
};

/// Accounts of the bank workload.
pub const BANK_ACCOUNTS: u64 = 12;
/// Each account's balance before the run.
pub const INITIAL_BALANCE: i64 = 1000;
/// TiDB's `innodb_lock_wait_timeout` default (50 s): how long a statement
/// keeps retrying a lock wait before the transaction gives up.
pub const INNODB_LOCK_WAIT_TIMEOUT: Micros = 50 * SEC;

/// A read-only transaction older than this gives up and starts over, since
/// its `start_ts` nears the MVCC GC safe point
/// ([`crate::mvcc::GC_LIFE_TIME_TSO`], 10 s): TiDB's
/// "GC life time is shorter than transaction duration".
pub const GC_TOO_EARLY: Micros = 5 * SEC;

/// What the sessions run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// Lock an own row, then one of the hot keys; hold; prewrite; commit.
    HotKeys,
    /// Transfers between accounts (even sessions pessimistic, odd optimistic)
    /// and audits of the total.
    Bank,
    /// Pairs of sessions locking two keys in opposite orders.
    Cycle,
}

/// Session workload parameters.
#[derive(Clone, Debug)]
pub struct TxnWorkloadConfig {
    /// What runs.
    pub kind: WorkloadKind,
    /// Number of sessions (concurrent transactions).
    pub sessions: u32,
    /// Hot keys (HotKeys workload).
    pub hot_keys: u64,
    /// Time a transaction holds its locks before prewriting, virtual µs.
    pub lock_hold_time: Micros,
    /// `tidb_pessimistic_txn_fair_locking`.
    pub fair_locking: bool,
    /// First key of the contended table's region.
    pub table_start: Key,
    /// First keys of the regions the bank accounts are spread over.
    pub accounts_regions: Vec<Key>,
    /// Time to wait for an answer before sending again, virtual µs.
    pub request_timeout: Micros,
}

impl TxnWorkloadConfig {
    /// The bank workload's account keys.
    pub fn bank_accounts(&self) -> Vec<Key> {
        let n = self.accounts_regions.len().max(1) as u64;
        (0..BANK_ACCOUNTS)
            .map(|i| {
                self.accounts_regions
                    .get((i % n) as usize)
                    .copied()
                    .unwrap_or(0)
                    + 700
                    + i
            })
            .collect()
    }

    /// The hot keys.
    pub fn hot_key_list(&self) -> Vec<Key> {
        (0..self.hot_keys).map(|i| self.table_start + i).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Acquire the pessimistic lock of `plan[i]` (or read it, optimistic).
    Lock(usize),
    /// Holding, until the session timer fires.
    Hold(usize),
    /// Prewrite group `i`.
    Prewrite(usize),
    /// Commit group `i`.
    Commit(usize),
    /// Audit read of account `i`.
    Audit(usize),
    /// Roll back: cleanup command `i`.
    Cleanup(usize),
}

#[derive(Clone, Debug)]
struct Txn {
    start_ts: u64,
    for_update_ts: u64,
    commit_ts: u64,
    pessimistic: bool,
    plan: Vec<Key>,
    /// Lock index after which the transaction holds (`lock_hold_time`).
    hold_after: usize,
    values: BTreeMap<Key, i64>,
    locked: Vec<Key>,
    amount: i64,
    groups: Vec<(u64, Vec<Key>)>,
    cleanup: Vec<(u64, TxnCommand)>,
    step: Step,
    began_at: Micros,
    lock_wait_began: Option<Micros>,
    audit_sum: i64,
    committed: bool,
}

#[derive(Clone, Debug)]
struct Inflight {
    req_id: u64,
    region_id: u64,
}

#[derive(Clone, Debug)]
struct Cached {
    start: Key,
    end: Key,
    region_id: u64,
    leader_store: Option<u64>,
}

/// One session.
#[derive(Clone, Debug)]
struct Session {
    id: u32,
    rng: SimRng,
    txn: Option<Txn>,
    inflight: Option<Inflight>,
    next_req_id: u64,
    timeout: RequestTimeout,
    backoff: Micros,
    retiring: bool,
    txn_count: u64,
    regions: BTreeMap<Key, Cached>,
    /// What the session waits for from PD, if anything.
    awaiting: Option<Awaiting>,
}

/// What a session waits for from its TiDB instance's PD client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    /// A `start_ts` to begin a transaction.
    StartTs,
    /// A new `for_update_ts` to retry a lock.
    ForUpdateTs,
    /// The `commit_ts` after the last prewrite.
    CommitTs,
    /// The route of a key's region.
    Region,
}

/// Per-second statistics.
#[derive(Clone, Debug, Default)]
pub struct SessionStats {
    /// Transactions committed this second.
    pub committed: u64,
    /// Transactions aborted this second.
    pub aborted: u64,
    /// Latency of committed transactions (begin to primary commit), µs.
    pub latency: LatencyHistogram,
}

/// All sessions.
pub struct SessionWorkload {
    /// Parameters (some change while running).
    pub cfg: TxnWorkloadConfig,
    sessions: Vec<Session>,
    /// Per-second statistics, reset by the sampler.
    pub stats: SessionStats,
    /// Audits completed.
    pub audits: u64,
    /// Audits that read a wrong total: `snapshot-isolation` violations.
    audit_violations: Vec<Violation>,
    /// The TiDB instance's PD client: timestamps and region routes.
    pub pd_client: PdClient,
    /// The region routes TiDB loaded at start (new sessions begin with them).
    initial_routes: BTreeMap<Key, Cached>,
}

impl SessionWorkload {
    /// Sessions with a warm region cache (as TiDB has after loading the
    /// regions); each draws its own RNG from `rng`. The PD client's
    /// connection is client id `pd_client_id` (outside the sessions' ids).
    pub fn new(
        cfg: TxnWorkloadConfig,
        pd: &Pd,
        rng: &mut SimRng,
        pd_client_id: u32,
    ) -> SessionWorkload {
        let mut w = SessionWorkload {
            cfg,
            sessions: Vec::new(),
            stats: SessionStats::default(),
            audits: 0,
            audit_violations: Vec::new(),
            pd_client: PdClient::new(pd_client_id),
            initial_routes: Self::region_cache(pd),
        };
        let n = w.cfg.sessions;
        w.grow(n, rng);
        w
    }

    fn region_cache(pd: &Pd) -> BTreeMap<Key, Cached> {
        pd.regions
            .values()
            .map(|r| {
                (
                    r.meta.start_key,
                    Cached {
                        start: r.meta.start_key,
                        end: r.meta.end_key,
                        region_id: r.meta.id,
                        leader_store: r.leader.map(|l| l.store_id),
                    },
                )
            })
            .collect()
    }

    fn grow(&mut self, n: u32, rng: &mut SimRng) {
        let cache = self.initial_routes.clone();
        while (self.sessions.len() as u32) < n {
            let id = self.sessions.len() as u32;
            self.sessions.push(Session {
                id,
                rng: rng.fork(),
                txn: None,
                inflight: None,
                next_req_id: 0,
                timeout: RequestTimeout::default(),
                backoff: 0,
                retiring: false,
                txn_count: 0,
                regions: cache.clone(),
                awaiting: None,
            });
        }
    }

    /// Starts every session, staggered over the first 10 ms.
    pub fn start(&mut self, ctx: &mut Ctx) {
        for s in &mut self.sessions {
            let after = 1 + s.rng.below(10 * MS);
            ctx.timer(Node::Client(s.id), after, Timer::SessionNext);
        }
    }

    /// Sessions running now (not retiring).
    pub fn active_sessions(&self) -> u32 {
        self.sessions.iter().filter(|s| !s.retiring).count() as u32
    }

    /// Changes the number of sessions while running: new sessions start at
    /// once; sessions above `n` finish their transaction and stop.
    pub fn set_sessions(&mut self, ctx: &mut Ctx, n: u32) {
        self.cfg.sessions = n;
        let before = self.sessions.len() as u32;
        for s in &mut self.sessions {
            let was = s.retiring;
            s.retiring = s.id >= n;
            if was && !s.retiring && s.txn.is_none() {
                ctx.timer(Node::Client(s.id), 1, Timer::SessionNext);
            }
        }
        if n > before {
            self.grow(n, ctx.rng);
            for s in &mut self.sessions[before as usize..] {
                let after = 1 + s.rng.below(10 * MS);
                ctx.timer(Node::Client(s.id), after, Timer::SessionNext);
            }
        }
    }

    /// True when `client` is a session of this workload or its PD client.
    pub fn owns(&self, client: u32) -> bool {
        (client as usize) < self.sessions.len() || client == self.pd_client.id
    }

    /// Transactions in flight, for the wait-for graph.
    pub fn txns_in_flight(&self) -> Vec<TxnInFlight> {
        self.sessions
            .iter()
            .filter_map(|s| {
                let t = s.txn.as_ref()?;
                let phase = match t.step {
                    Step::Lock(_) if t.lock_wait_began.is_some() => TxnPhase::Waiting,
                    Step::Lock(_) | Step::Audit(_) => TxnPhase::Locking,
                    Step::Hold(_) => TxnPhase::Holding,
                    Step::Prewrite(_) => TxnPhase::Prewriting,
                    Step::Commit(_) => TxnPhase::Committing,
                    Step::Cleanup(_) => TxnPhase::RollingBack,
                };
                Some(TxnInFlight {
                    start_ts: t.start_ts,
                    client: s.id,
                    phase,
                    pessimistic: t.pessimistic,
                    locked_keys: t.locked.clone(),
                })
            })
            .collect()
    }

    /// A session timer fired (or the PD client's).
    pub fn on_timer(&mut self, ctx: &mut Ctx, client: u32, timer: Timer) {
        if client == self.pd_client.id {
            return self.pd_client.on_timeout(ctx);
        }
        let cfg = self.cfg.clone();
        let pdc = &mut self.pd_client;
        let Some(s) = self.sessions.get_mut(client as usize) else {
            return;
        };
        match timer {
            Timer::SessionNext => {
                if s.inflight.is_some() || s.awaiting.is_some() {
                    return;
                }
                match s.txn.as_mut() {
                    None => {
                        if !s.retiring {
                            s.begin(ctx, pdc, &cfg);
                        }
                    }
                    Some(t) => {
                        if let Step::Hold(i) = t.step {
                            let next = i + 1;
                            let done = next >= t.plan.len();
                            t.step = if done {
                                Step::Prewrite(0)
                            } else {
                                Step::Lock(next)
                            };
                            if done {
                                s.build_groups(&cfg);
                            }
                        }
                        s.send_step(ctx, pdc, &cfg);
                    }
                }
            }
            Timer::SessionTimeout => {
                let in_flight = s.inflight.is_some();
                if !s
                    .timeout
                    .fired(ctx, Node::Client(s.id), Timer::SessionTimeout, in_flight)
                {
                    return;
                }
                ctx.count(crate::client::metrics::TXN_REQUEST_TIMEOUTS, 1);
                // client-go drops the cached region and locates it again.
                if let Some(inf) = s.inflight.take() {
                    s.forget_region(inf.region_id);
                }
                s.send_step(ctx, pdc, &cfg);
            }
            _ => {}
        }
    }

    /// A response reached session `client` (or the PD client's answers).
    pub fn on_message(&mut self, ctx: &mut Ctx, client: u32, msg: Msg) {
        let cfg = self.cfg.clone();
        if client == self.pd_client.id {
            for answer in self.pd_client.on_message(ctx, msg) {
                let id = match answer {
                    PdAnswer::Ts { client, .. } | PdAnswer::Region { client, .. } => client,
                };
                if let Some(s) = self.sessions.get_mut(id as usize) {
                    s.on_pd_answer(ctx, &mut self.pd_client, &cfg, answer);
                }
            }
            return;
        }
        let pdc = &mut self.pd_client;
        let Msg::TxnResponse { req_id, result } = msg else {
            return;
        };
        let Some(s) = self.sessions.get_mut(client as usize) else {
            return;
        };
        let Some(inf) = s.inflight.take_if(|i| i.req_id == req_id) else {
            return; // a late answer to a request sent again
        };
        let outcome = s.on_result(ctx, pdc, &cfg, inf, result);
        match outcome {
            Outcome::Continue => {}
            Outcome::Committed(latency) => {
                self.stats.committed += 1;
                self.stats.latency.record(latency);
                ctx.count(crate::client::metrics::TXN_COMMITTED, 1);
            }
            Outcome::Aborted => {
                self.stats.aborted += 1;
                ctx.count(crate::client::metrics::TXN_ROLLED_BACK, 1);
            }
            Outcome::Audited(sum) => {
                self.audits += 1;
                ctx.count(crate::client::metrics::BANK_AUDITS, 1);
                let total = INITIAL_BALANCE * BANK_ACCOUNTS as i64;
                if sum != total {
                    self.audit_violations.push(Violation {
                        t_ms: crate::kernel::time::to_ms(ctx.now),
                        invariant: "snapshot-isolation",
                        region: 0,
                        details: format!("audit read a total of {sum}, expected {total}"),
                    });
                }
            }
        }
    }
}

enum Outcome {
    Continue,
    Committed(Micros),
    Aborted,
    Audited(i64),
}

impl Session {
    fn region_of(&self, key: Key) -> Option<&Cached> {
        self.regions
            .range(..=key)
            .next_back()
            .map(|(_, c)| c)
            .filter(|c| key < c.end && key >= c.start)
    }

    /// Forgets the cached route of `region_id` (client-go invalidates it).
    fn forget_region(&mut self, region_id: u64) {
        self.regions.retain(|_, c| c.region_id != region_id);
    }

    /// Waits for `what` from PD.
    fn ask(&mut self, ctx: &mut Ctx, pdc: &mut PdClient, what: Awaiting) {
        self.awaiting = Some(what);
        pdc.get_ts(ctx, self.id);
    }

    /// PD answered what the session waited for.
    fn on_pd_answer(
        &mut self,
        ctx: &mut Ctx,
        pdc: &mut PdClient,
        cfg: &TxnWorkloadConfig,
        answer: PdAnswer,
    ) {
        match (self.awaiting.take(), answer) {
            (Some(Awaiting::StartTs), PdAnswer::Ts { ts, .. }) => self.start_txn(ctx, pdc, cfg, ts),
            (Some(Awaiting::ForUpdateTs), PdAnswer::Ts { ts, .. }) => {
                if let Some(t) = self.txn.as_mut() {
                    t.for_update_ts = ts;
                }
                self.send_step(ctx, pdc, cfg);
            }
            (Some(Awaiting::CommitTs), PdAnswer::Ts { ts, .. }) => {
                if let Some(t) = self.txn.as_mut() {
                    t.commit_ts = ts;
                    t.step = Step::Commit(0);
                }
                self.send_step(ctx, pdc, cfg);
            }
            (Some(Awaiting::Region), PdAnswer::Region { region, .. }) => {
                match region {
                    Some((meta, leader)) if leader.is_some() => {
                        self.regions.insert(
                            meta.start_key,
                            Cached {
                                start: meta.start_key,
                                end: meta.end_key,
                                region_id: meta.id,
                                leader_store: leader.map(|l| l.store_id),
                            },
                        );
                        self.send_step(ctx, pdc, cfg);
                    }
                    // PD knows no leader yet: back off and look again.
                    _ => self.backoff_retry(ctx),
                }
            }
            (other, _) => self.awaiting = other,
        }
    }

    fn begin(&mut self, ctx: &mut Ctx, pdc: &mut PdClient, cfg: &TxnWorkloadConfig) {
        let _ = cfg;
        self.ask(ctx, pdc, Awaiting::StartTs);
    }

    /// Begins a transaction at `start_ts`.
    fn start_txn(
        &mut self,
        ctx: &mut Ctx,
        pdc: &mut PdClient,
        cfg: &TxnWorkloadConfig,
        start_ts: u64,
    ) {
        self.txn_count += 1;
        let t = cfg.table_start;
        let (plan, hold_after, pessimistic, audit) = match cfg.kind {
            WorkloadKind::HotKeys => {
                let own = t + 512 + (self.id as u64 % 500);
                let hot = t + self.rng.below(cfg.hot_keys.max(1));
                (vec![own, hot], 1, true, false)
            }
            WorkloadKind::Cycle => {
                let x = t + 300 + 2 * (self.id as u64 / 2 % 100);
                let plan = if self.id % 2 == 0 {
                    vec![x, x + 1]
                } else {
                    vec![x + 1, x]
                };
                (plan, 0, true, false)
            }
            WorkloadKind::Bank => {
                let accounts = cfg.bank_accounts();
                if self.txn_count % 4 == 0 {
                    (accounts, usize::MAX, false, true)
                } else {
                    let a = self.rng.below(accounts.len() as u64) as usize;
                    let mut b = self.rng.below(accounts.len() as u64 - 1) as usize;
                    if b >= a {
                        b += 1;
                    }
                    (
                        vec![accounts[a], accounts[b]],
                        usize::MAX,
                        self.id % 2 == 0,
                        false,
                    )
                }
            }
        };
        self.backoff = 0;
        let amount = 1 + self.rng.below(10) as i64;
        self.txn = Some(Txn {
            start_ts,
            for_update_ts: start_ts,
            commit_ts: 0,
            pessimistic,
            plan,
            hold_after,
            values: BTreeMap::new(),
            locked: Vec::new(),
            amount,
            groups: Vec::new(),
            cleanup: Vec::new(),
            step: if audit { Step::Audit(0) } else { Step::Lock(0) },
            began_at: ctx.now,
            lock_wait_began: None,
            audit_sum: 0,
            committed: false,
        });
        self.send_step(ctx, pdc, cfg);
    }

    /// Groups the writes by region, primary's region first.
    fn build_groups(&mut self, cfg: &TxnWorkloadConfig) {
        let _ = cfg;
        let regions: Vec<(Key, u64)> = {
            let t = self.txn.as_ref().expect("txn");
            t.plan
                .iter()
                .map(|&k| (k, self.region_of(k).map_or(0, |c| c.region_id)))
                .collect()
        };
        let t = self.txn.as_mut().expect("txn");
        let mut groups: Vec<(u64, Vec<Key>)> = Vec::new();
        for (k, r) in regions {
            match groups.iter_mut().find(|g| g.0 == r) {
                Some(g) => g.1.push(k),
                None => groups.push((r, vec![k])),
            }
        }
        t.groups = groups;
    }

    fn mutations(t: &Txn, cfg: &TxnWorkloadConfig, keys: &[Key]) -> Vec<Mutation> {
        keys.iter()
            .map(|&k| match cfg.kind {
                WorkloadKind::Bank => {
                    let v = t.values.get(&k).copied().unwrap_or(0);
                    let delta = if k == t.plan[0] { -t.amount } else { t.amount };
                    Mutation::Put(k, v + delta)
                }
                _ => Mutation::Put(k, t.values.get(&k).copied().unwrap_or(0) + 1),
            })
            .collect()
    }

    fn send_step(&mut self, ctx: &mut Ctx, pdc: &mut PdClient, cfg: &TxnWorkloadConfig) {
        let Some(t) = &self.txn else { return };
        let cmd = match t.step {
            Step::Lock(i) => {
                let key = t.plan[i];
                if t.pessimistic {
                    TxnCommand::AcquirePessimisticLock {
                        start_ts: t.start_ts,
                        for_update_ts: t.for_update_ts,
                        primary: t.plan[0],
                        key,
                        is_first_lock: t.locked.is_empty(),
                        wait: true,
                        allow_lock_with_conflict: cfg.fair_locking,
                    }
                } else {
                    TxnCommand::Get {
                        ts: t.start_ts,
                        key,
                    }
                }
            }
            Step::Audit(i) => TxnCommand::Get {
                ts: t.start_ts,
                key: t.plan[i],
            },
            Step::Hold(_) => return,
            Step::Prewrite(g) => TxnCommand::Prewrite {
                start_ts: t.start_ts,
                for_update_ts: if t.pessimistic { t.for_update_ts } else { 0 },
                primary: t.plan[0],
                mutations: Self::mutations(t, cfg, &t.groups[g].1),
                // These sessions never check each other's status (they
                // wait in the lock manager instead): no TTL.
                lock_ttl: 0,
            },
            Step::Commit(g) => TxnCommand::Commit {
                start_ts: t.start_ts,
                commit_ts: t.commit_ts,
                keys: t.groups[g].1.clone(),
            },
            Step::Cleanup(i) => t.cleanup[i].1.clone(),
        };
        let key = cmd.route_key().unwrap_or(0);
        let (region_id, store) = match self.region_of(key) {
            Some(c) => (c.region_id, c.leader_store),
            None => (0, None),
        };
        let Some(store) = store else {
            // No route cached: locate the key's region through PD.
            self.awaiting = Some(Awaiting::Region);
            return pdc.locate(ctx, self.id, key);
        };
        self.next_req_id += 1;
        let req_id = self.next_req_id;
        self.inflight = Some(Inflight { req_id, region_id });
        ctx.send(
            Node::Client(self.id),
            Node::Store(store),
            Msg::TxnRequest {
                client: self.id,
                req_id,
                region_id,
                cmd,
            },
        );
        self.timeout.arm(
            ctx,
            Node::Client(self.id),
            cfg.request_timeout,
            Timer::SessionTimeout,
        );
    }

    /// client-go's `BoRegionScheduling`: 2 ms doubling to 500 ms.
    fn backoff_retry(&mut self, ctx: &mut Ctx) {
        self.backoff = (self.backoff * 2).clamp(2 * MS, 500 * MS);
        ctx.timer(Node::Client(self.id), self.backoff, Timer::SessionNext);
    }

    /// Aborts the transaction: roll back what it holds, then start again.
    fn abort(&mut self, ctx: &mut Ctx, pdc: &mut PdClient, cfg: &TxnWorkloadConfig) {
        let Some(t) = self.txn.as_mut() else { return };
        let prewritten = matches!(t.step, Step::Prewrite(_) | Step::Commit(_));
        let mut by_region: BTreeMap<u64, Vec<Key>> = BTreeMap::new();
        let keys: Vec<Key> = if prewritten {
            t.plan.clone()
        } else {
            t.locked.clone()
        };
        let start_ts = t.start_ts;
        let pessimistic = t.pessimistic;
        let lookup: Vec<(Key, u64)> = keys
            .iter()
            .map(|&k| (k, self.region_of(k).map_or(0, |c| c.region_id)))
            .collect();
        for (k, r) in lookup {
            by_region.entry(r).or_default().push(k);
        }
        let t = self.txn.as_mut().expect("txn");
        t.cleanup = by_region
            .into_iter()
            .map(|(region, keys)| {
                let cmd = if prewritten || !pessimistic {
                    TxnCommand::Rollback { start_ts, keys }
                } else {
                    TxnCommand::PessimisticRollback { start_ts, keys }
                };
                (region, cmd)
            })
            .collect();
        if t.cleanup.is_empty() {
            self.txn = None;
            return self.next_txn_after(ctx, 10 * MS);
        }
        t.step = Step::Cleanup(0);
        self.send_step(ctx, pdc, cfg);
    }

    fn next_txn_after(&mut self, ctx: &mut Ctx, after: Micros) {
        let jitter = self.rng.below(after.max(1));
        ctx.timer(Node::Client(self.id), 1 + jitter, Timer::SessionNext);
    }

    fn on_result(
        &mut self,
        ctx: &mut Ctx,
        pdc: &mut PdClient,
        cfg: &TxnWorkloadConfig,
        inf: Inflight,
        result: Result<TxnOk, TxnError>,
    ) -> Outcome {
        let Some(step) = self.txn.as_ref().map(|t| t.step.clone()) else {
            return Outcome::Continue;
        };
        if let Err(TxnError::Region(e)) = &result {
            match e {
                RegionError::NotLeader {
                    leader_store: Some(s),
                } => {
                    let key_region = inf.region_id;
                    for c in self.regions.values_mut() {
                        if c.region_id == key_region {
                            c.leader_store = Some(*s);
                        }
                    }
                }
                _ => self.forget_region(inf.region_id),
            }
            ctx.count(crate::client::metrics::TXN_REGION_ERRORS, 1);
            self.backoff_retry(ctx);
            return Outcome::Continue;
        }
        self.backoff = 0;
        match step {
            Step::Lock(i) => match result {
                Ok(ok) => {
                    let t = self.txn.as_mut().expect("txn");
                    let key = t.plan[i];
                    if let Some(v) = ok.value {
                        t.values.insert(key, v);
                    }
                    if let Some(c) = ok.locked_with_conflict_ts {
                        t.for_update_ts = t.for_update_ts.max(c);
                    }
                    if t.pessimistic {
                        t.locked.push(key);
                    }
                    t.lock_wait_began = None;
                    self.after_lock(ctx, pdc, cfg, i);
                    Outcome::Continue
                }
                Err(TxnError::KeyIsLocked { .. })
                    if self.txn.as_ref().is_some_and(|t| !t.pessimistic) =>
                {
                    // An optimistic read met a lock: back off until it resolves.
                    ctx.timer(Node::Client(self.id), 5 * MS, Timer::SessionNext);
                    Outcome::Continue
                }
                Err(TxnError::KeyIsLocked { .. }) | Err(TxnError::WriteConflict { .. }) => {
                    let t = self.txn.as_mut().expect("txn");
                    let began = *t.lock_wait_began.get_or_insert(ctx.now);
                    if matches!(
                        result,
                        Err(TxnError::WriteConflict {
                            reason: WriteConflictReason::PessimisticRetry,
                            ..
                        })
                    ) {
                        ctx.count(crate::client::metrics::TXN_PESSIMISTIC_RETRIES, 1);
                    }
                    if ctx.now - began > INNODB_LOCK_WAIT_TIMEOUT {
                        ctx.count(crate::client::metrics::TXN_LOCK_WAIT_TIMEOUTS, 1);
                        self.abort(ctx, pdc, cfg);
                        return Outcome::Aborted;
                    }
                    self.ask(ctx, pdc, Awaiting::ForUpdateTs);
                    Outcome::Continue
                }
                Err(TxnError::Deadlock { .. }) => {
                    ctx.count(crate::client::metrics::TXN_DEADLOCK_ERRORS, 1);
                    ctx.log(
                        "tidb",
                        Level::Warn,
                        None,
                        inf.region_id.into(),
                        format!(
                            "[kv:1213]Deadlock found when trying to get lock; try restarting transaction, start_ts: {}",
                            self.txn.as_ref().map_or(0, |t| t.start_ts)
                        ),
                    );
                    self.abort(ctx, pdc, cfg);
                    Outcome::Aborted
                }
                Err(_) => {
                    self.abort(ctx, pdc, cfg);
                    Outcome::Aborted
                }
            },
            Step::Audit(_)
                if ctx.now - self.txn.as_ref().map_or(ctx.now, |t| t.began_at) > GC_TOO_EARLY =>
            {
                // TiDB's ErrGCTooEarly: a read older than the GC safe point
                // could see collected versions; the audit starts over.
                ctx.count(crate::client::metrics::TXN_GC_TOO_EARLY, 1);
                self.txn = None;
                self.next_txn_after(ctx, 5 * MS);
                Outcome::Continue
            }
            Step::Audit(i) => match result {
                Ok(ok) => {
                    let t = self.txn.as_mut().expect("txn");
                    t.audit_sum += ok.value.unwrap_or(0);
                    if i + 1 < t.plan.len() {
                        t.step = Step::Audit(i + 1);
                        self.send_step(ctx, pdc, cfg);
                        Outcome::Continue
                    } else {
                        let sum = t.audit_sum;
                        self.txn = None;
                        self.next_txn_after(ctx, 5 * MS);
                        Outcome::Audited(sum)
                    }
                }
                Err(_) => {
                    ctx.timer(Node::Client(self.id), 5 * MS, Timer::SessionNext);
                    Outcome::Continue
                }
            },
            Step::Prewrite(g) => match result {
                Ok(_) => {
                    let t = self.txn.as_mut().expect("txn");
                    if g + 1 < t.groups.len() {
                        t.step = Step::Prewrite(g + 1);
                        self.send_step(ctx, pdc, cfg);
                    } else {
                        self.ask(ctx, pdc, Awaiting::CommitTs);
                    }
                    Outcome::Continue
                }
                Err(_) => {
                    ctx.count(crate::client::metrics::TXN_PREWRITE_ERRORS, 1);
                    self.abort(ctx, pdc, cfg);
                    Outcome::Aborted
                }
            },
            Step::Commit(g) => {
                let t = self.txn.as_mut().expect("txn");
                match result {
                    Ok(_) => {
                        let first_commit = !t.committed;
                        t.committed = true;
                        let latency = ctx.now - t.began_at;
                        if g + 1 < t.groups.len() {
                            t.step = Step::Commit(g + 1);
                            self.send_step(ctx, pdc, cfg);
                        } else {
                            self.txn = None;
                            self.next_txn_after(ctx, MS);
                        }
                        if first_commit {
                            Outcome::Committed(latency)
                        } else {
                            Outcome::Continue
                        }
                    }
                    Err(_) if g == 0 && !t.committed => {
                        self.abort(ctx, pdc, cfg);
                        Outcome::Aborted
                    }
                    Err(_) => {
                        // A secondary's lock is gone only if someone resolved it; move on.
                        self.txn = None;
                        self.next_txn_after(ctx, MS);
                        Outcome::Continue
                    }
                }
            }
            Step::Cleanup(i) => {
                let t = self.txn.as_mut().expect("txn");
                if i + 1 < t.cleanup.len() {
                    t.step = Step::Cleanup(i + 1);
                    self.send_step(ctx, pdc, cfg);
                } else {
                    self.txn = None;
                    self.next_txn_after(ctx, 10 * MS);
                }
                Outcome::Continue
            }
            Step::Hold(_) => Outcome::Continue,
        }
    }

    fn after_lock(&mut self, ctx: &mut Ctx, pdc: &mut PdClient, cfg: &TxnWorkloadConfig, i: usize) {
        let t = self.txn.as_mut().expect("txn");
        if i == t.hold_after && cfg.lock_hold_time > 0 {
            t.step = Step::Hold(i);
            let hold = cfg.lock_hold_time;
            ctx.timer(Node::Client(self.id), hold, Timer::SessionNext);
            return;
        }
        if i + 1 < t.plan.len() {
            t.step = Step::Lock(i + 1);
        } else {
            t.step = Step::Prewrite(0);
            self.build_groups(cfg);
        }
        self.send_step(ctx, pdc, cfg);
    }
}

/// A transaction's phase as its client (TiDB) runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TxnPhase {
    /// Acquiring pessimistic locks (or reading, for an optimistic transaction).
    Locking,
    /// Waiting in a lock wait queue for a key another transaction holds.
    Waiting,
    /// Holding its locks and doing its work (the scenario's lock hold time).
    Holding,
    /// Prewrite sent.
    Prewriting,
    /// Commit sent.
    Committing,
    /// Rolling back after an error.
    RollingBack,
}

/// One transaction in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxnInFlight {
    /// `start_ts` (its identity in the lock manager).
    pub start_ts: u64,
    /// Client (session) running it.
    pub client: u32,
    /// Phase.
    pub phase: TxnPhase,
    /// True for a pessimistic transaction.
    pub pessimistic: bool,
    /// Keys it holds locks on.
    pub locked_keys: Vec<u64>,
}

impl super::Workload for SessionWorkload {
    fn owns(&self, client: u32) -> bool {
        SessionWorkload::owns(self, client)
    }

    fn on_message(&mut self, ctx: &mut Ctx, client: u32, msg: Msg) {
        SessionWorkload::on_message(self, ctx, client, msg)
    }

    fn on_timer(&mut self, ctx: &mut Ctx, client: u32, timer: Timer) {
        SessionWorkload::on_timer(self, ctx, client, timer)
    }

    /// The transaction scenarios chart committed transactions as `qps` and
    /// aborted ones as `failed_ops`; `txn_commits` and `txn_aborts` too.
    fn sample_second(
        &mut self,
        t_ms: u64,
        series: &mut crate::kernel::metrics::SeriesMap,
    ) -> WorkloadStats {
        use crate::kernel::metrics::record;
        let s = std::mem::take(&mut self.stats);
        record(
            series,
            super::metrics::TXN_COMMITS.key(),
            t_ms,
            s.committed as f64,
        );
        record(
            series,
            super::metrics::TXN_ABORTS.key(),
            t_ms,
            s.aborted as f64,
        );
        WorkloadStats {
            completed: s.committed,
            failed: s.aborted,
            latency: s.latency,
            ..WorkloadStats::default()
        }
    }

    fn violations(&self) -> Vec<Violation> {
        self.audit_violations.clone()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
