//! The resolved-ts endpoint of one store (TiKV
//! `components/resolved_ts/src/endpoint.rs` and `advance.rs`).
//!
//! - **Registration.** A region whose peer here becomes leader is
//!   registered (`RegisterRegion`): its resolver starts `Pending` and an
//!   initial lock scan runs on the `inc-scan` pool (TiKV's
//!   `scan-lock-pool-size`, 2 threads). When the scan is done the locks of
//!   `CF_LOCK` are tracked and the resolver is `Ready` ("Resolver
//!   initialized"). A peer that stops leading, or is destroyed, is
//!   deregistered.
//! - **Tracking.** Each applied entry's [`ChangeRow`]s: a `Prewrite` tracks
//!   its lock, a `Commit` untracks it (`track_lock` / `untrack_lock`). A
//!   split or merge applied stops tracking ("region met split/merge command,
//!   stop tracking since key range changed, wait for re-register") and the
//!   region re-registers with a new scan; during `Pending` it logs "region
//!   met admin command {:?} while initializing resolver" and re-registers.
//! - **Advancing** (`advance_ts_for_regions`), every `advance-ts-interval`:
//!   a TSO from PD over the network, then `check_leader` to the stores of
//!   the followers (`LeadershipResolver`): a region whose leadership a
//!   quorum confirms (same term and leader) advances,
//!   `resolved_ts = max(prev, min(tso, oldest lock))` with the resolver's
//!   mode ([`ResolverMode`], the `fix`). Followers get `(applied_index,
//!   safe_ts)` in the same `LeaderInfo` and raise their safe-ts once they
//!   have applied that far (`RegionReadProgress`).
//! - **CDC.** With a downstream, the leader's committed rows (cdc's
//!   `Delegate`) go to it with each advance, then the feed's resolved-ts
//!   (`ResolvedTs` event), on one stream so a row always precedes the
//!   resolved-ts that covers it. The feed's resolved-ts comes from the
//!   delegate's own lock tracker, every lock by start_ts
//!   ([`ObserveRegion::cdc_resolver`]), as in TiKV.
//! - **Slow log**: every 10 s, "the max gap of leader resolved-ts is large"
//!   when the smallest leader resolved-ts is behind by more than
//!   `min(advance-ts-interval, 5 s) + advance-ts-interval + 1 s`, and "the
//!   max gap of follower safe-ts is large" over twice that.
//!
//! TiKV's memory quota (256 MiB) and the concurrency manager's memory locks
//! (async commit) are not modelled.

use std::collections::{BTreeMap, BTreeSet};

use raft::StateRole;

use super::cmd::ChangeRow;
use super::metrics;
use super::observer::ObservedEvent;
use super::resolver::{Resolver, ResolverMode, TsSource};
use crate::env::pool::PoolConfig;
use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::time::{Micros, MS, SEC};
use crate::mvcc::{LockType, WriteType};
use crate::proto::{CdcRow, Ctx, LeaderInfo, Msg, RegionMeta, Timer};
use crate::raftstore::fsm::Raftstore;
use crate::storage::txn_status_cache::TxnStatusCache;

/// The `inc-scan` pool of the initial lock scans (`scan-lock-pool-size` 2).
pub const INC_SCAN: PoolConfig = PoolConfig {
    name: "inc-scan",
    threads: 2,
};

/// `DEFAULT_CHECK_LEADER_TIMEOUT_DURATION` (advance.rs): a `check_leader`
/// round not answered by then advances the regions confirmed so far.
pub const CHECK_LEADER_TIMEOUT: Micros = 5 * SEC;

/// `SLOW_LOG_GRACE_PERIOD_MS` (endpoint.rs).
pub const SLOW_LOG_GRACE_PERIOD: Micros = SEC;

/// How often the slow-region log lines may appear.
pub const SLOW_LOG_INTERVAL: Micros = 10 * SEC;

/// The virtual ms a TSO timestamp stands for (PD counts physical ms from 1).
pub fn tso_ms(ts: u64) -> u64 {
    (ts >> 18).saturating_sub(1)
}

/// The endpoint's settings (`[resolved-ts]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedTsConfig {
    /// `advance-ts-interval`, virtual µs (TiKV 20 s).
    pub advance_ts_interval: Micros,
    /// Which resolver logic runs (the scenario's `fix`).
    pub mode: ResolverMode,
    /// CPU the initial scan spends per record of the region, virtual µs.
    pub scan_cost_per_record: Micros,
    /// The CDC downstream (a TiCDC client id), if any.
    pub cdc_downstream: Option<u32>,
}

/// `ResolverStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolverStatus {
    /// The initial lock scan runs; `buffered` rows arrived meanwhile (TiKV
    /// keeps them as `PendingLock`s; here the scan reads `CF_LOCK` when it
    /// ends, which already holds them).
    Pending {
        /// Rows seen while scanning.
        buffered: usize,
    },
    /// Tracking.
    Ready,
}

/// One registered region (TiKV's `ObserveRegion`).
#[derive(Clone, Debug)]
pub struct ObserveRegion {
    /// The region as registered.
    pub meta: RegionMeta,
    /// `ObserveId`: a re-registration gets a new one, and an older scan's
    /// result is dropped.
    pub observe_id: u64,
    /// The resolver.
    pub resolver: Resolver,
    /// Pending or Ready.
    pub status: ResolverStatus,
    /// The CDC delegate's own lock tracker (TiKV `cdc/src/delegate.rs`
    /// `LockTracker`): every lock by its start_ts, whatever its generation
    /// and whatever the `TxnStatusCache` says. The feed's resolved-ts comes
    /// from it, so PR 17540 does not unblock a change feed: a committed
    /// large transaction's secondaries are still to be committed, at a
    /// commit_ts below what the cache lets resolved-ts reach.
    pub cdc_resolver: Resolver,
    /// Committed rows not yet sent to the CDC downstream.
    pub cdc_rows: Vec<CdcRow>,
    /// When it was registered, virtual µs.
    pub registered_at: Micros,
}

/// `RegionReadProgress` of one peer: the safe-ts stale reads may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadProgress {
    /// Stale reads at or below this ts are served (TSO).
    pub safe_ts: u64,
    /// The peer's applied index as the endpoint last saw it.
    pub applied_index: u64,
    /// A leader's `read_state` waiting for this peer to apply that far:
    /// `(applied_index, safe_ts)`.
    pub pending: Option<(u64, u64)>,
}

#[derive(Clone, Debug)]
struct PendingAdvance {
    ts: u64,
    started: Micros,
    /// Region → (voters, confirmations so far including the leader).
    regions: BTreeMap<u64, (usize, usize)>,
    waiting: BTreeSet<u64>,
}

/// The resolved-ts endpoint of one store. Volatile: a crash loses it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Store.
    pub store_id: u64,
    /// Settings.
    pub cfg: ResolvedTsConfig,
    /// Registered regions (this store's leaders), by id.
    pub regions: BTreeMap<u64, ObserveRegion>,
    /// Every peer's read progress, by region.
    pub read_progress: BTreeMap<u64, ReadProgress>,
    next_observe_id: u64,
    tso_req_id: u64,
    advance: Option<PendingAdvance>,
    last_slow_log: Micros,
}

impl Endpoint {
    /// An endpoint with no region registered.
    pub fn new(store_id: u64, cfg: ResolvedTsConfig) -> Endpoint {
        Endpoint {
            store_id,
            cfg,
            regions: BTreeMap::new(),
            read_progress: BTreeMap::new(),
            next_observe_id: 1,
            tso_req_id: 0,
            advance: None,
            last_slow_log: 0,
        }
    }

    /// The store restarted: everything volatile is gone.
    pub fn reset(&mut self) {
        *self = Endpoint::new(self.store_id, self.cfg);
    }

    /// Switches the resolver logic of every registered region (the live
    /// `fix`): each resolver keeps its resolved-ts and is rebuilt from the
    /// region's `CF_LOCK` with the new mode, as a TiKV rolling upgrade
    /// re-registers its regions.
    pub fn set_mode(&mut self, rs: &Raftstore, mode: ResolverMode) {
        if self.cfg.mode == mode {
            return;
        }
        self.cfg.mode = mode;
        let ids: Vec<u64> = self.regions.keys().copied().collect();
        for id in ids {
            let Some(o) = self.regions.get_mut(&id) else {
                continue;
            };
            let mut r = Resolver::new(id, mode);
            r.resolved_ts = o.resolver.resolved_ts;
            r.min_ts = o.resolver.min_ts;
            o.resolver = r;
            if o.status == ResolverStatus::Ready {
                Self::track_scanned_locks(o, rs, false);
            }
        }
    }

    /// Arms the advance tick.
    pub fn start_timers(&self, ctx: &mut Ctx) {
        ctx.timer(
            Node::Store(self.store_id),
            self.cfg.advance_ts_interval,
            Timer::ResolvedTsAdvanceTick,
        );
    }

    fn log(&self, ctx: &Ctx, level: Level, region: Option<u64>, msg: String) {
        ctx.log("resolved_ts", level, Some(self.store_id), region, msg);
    }

    /// The observer's events, after raftstore handled its readies.
    pub fn on_events(&mut self, ctx: &mut Ctx, events: Vec<ObservedEvent>, rs: &Raftstore) {
        for e in events {
            match e {
                ObservedEvent::Rows {
                    region,
                    index,
                    rows,
                } => self.on_rows(&region, index, &rows),
                ObservedEvent::Admin { region, cmd } => self.on_admin(ctx, rs, &region, cmd),
                ObservedEvent::Role {
                    region,
                    state,
                    initialized,
                } => {
                    if state == StateRole::Leader && initialized {
                        let same = self.regions.get(&region.id).is_some_and(|o| {
                            o.meta.version == region.version
                                && o.meta.start_key == region.start_key
                                && o.meta.end_key == region.end_key
                        });
                        if !same {
                            self.register_region(ctx, rs, region);
                        }
                    } else if state != StateRole::Leader {
                        self.deregister_region(ctx, region.id);
                    }
                }
                ObservedEvent::Destroyed { region_id } => {
                    self.deregister_region(ctx, region_id);
                    self.read_progress.remove(&region_id);
                }
            }
        }
    }

    fn on_rows(&mut self, region: &RegionMeta, index: u64, rows: &[ChangeRow]) {
        let rp = self.read_progress.entry(region.id).or_default();
        rp.applied_index = rp.applied_index.max(index);
        if let Some((need, safe_ts)) = rp.pending {
            if rp.applied_index >= need {
                rp.safe_ts = rp.safe_ts.max(safe_ts);
                rp.pending = None;
            }
        }
        let Some(o) = self.regions.get_mut(&region.id) else {
            return;
        };
        if self.cfg.cdc_downstream.is_some() {
            for r in rows {
                if let ChangeRow::Commit {
                    key,
                    write_type: WriteType::Put,
                    start_ts: Some(start_ts),
                    commit_ts: Some(commit_ts),
                } = *r
                {
                    o.cdc_rows.push(CdcRow {
                        key,
                        start_ts,
                        commit_ts,
                    });
                }
            }
        }
        match &mut o.status {
            ResolverStatus::Pending { buffered } => *buffered += rows.len(),
            ResolverStatus::Ready => {
                for r in rows {
                    match *r {
                        ChangeRow::Prewrite {
                            key,
                            start_ts,
                            generation,
                        } => {
                            o.resolver
                                .track_lock(start_ts, key, Some(index), generation);
                            o.cdc_resolver
                                .track_lock(start_ts, key, Some(index), generation);
                        }
                        ChangeRow::Commit { key, .. } => {
                            o.resolver.untrack_lock(key, Some(index));
                            o.cdc_resolver.untrack_lock(key, Some(index));
                        }
                    }
                }
                o.resolver.update_tracked_index(index);
                o.cdc_resolver.update_tracked_index(index);
            }
        }
    }

    fn on_admin(&mut self, ctx: &mut Ctx, rs: &Raftstore, region: &RegionMeta, cmd: &str) {
        let Some(o) = self.regions.get_mut(&region.id) else {
            return;
        };
        match o.status {
            ResolverStatus::Ready => {
                o.resolver.stop_tracking();
                self.log(
                    ctx,
                    Level::Info,
                    Some(region.id),
                    format!("region met split/merge command, stop tracking since key range changed, wait for re-register; req_type: {cmd}"),
                );
            }
            ResolverStatus::Pending { .. } => self.log(
                ctx,
                Level::Warn,
                Some(region.id),
                format!("region met admin command {cmd} while initializing resolver"),
            ),
        }
        // The region-change event re-registers it (`ReRegisterRegion`) with
        // its new range, if this peer still leads.
        let now_meta = rs
            .peers
            .get(&region.id)
            .filter(|p| p.is_leader())
            .map(|p| p.region().clone());
        match now_meta {
            Some(m) => self.register_region(ctx, rs, m),
            None => self.deregister_region(ctx, region.id),
        }
    }

    /// `register_region`: a new resolver, Pending, and its initial scan.
    fn register_region(&mut self, ctx: &mut Ctx, rs: &Raftstore, region: RegionMeta) {
        self.flush_cdc_rows(ctx, region.id);
        let observe_id = self.next_observe_id;
        self.next_observe_id += 1;
        let prev_ts = self
            .regions
            .get(&region.id)
            .map_or(0, |o| o.resolver.resolved_ts);
        let prev_cdc = self
            .regions
            .get(&region.id)
            .map_or(0, |o| o.cdc_resolver.resolved_ts);
        let mut cdc_resolver = Resolver::new(region.id, ResolverMode::Legacy);
        cdc_resolver.resolved_ts = prev_cdc;
        let mut resolver = Resolver::new(region.id, self.cfg.mode);
        // A re-registered region keeps its resolved-ts (TiKV keeps the
        // region's read progress); a new leader starts from 0.
        resolver.resolved_ts = prev_ts;
        let records = rs
            .peers
            .get(&region.id)
            .map_or(0, |p| p.raft.store().mvcc.records() as u64);
        let region_id = region.id;
        self.regions.insert(
            region_id,
            ObserveRegion {
                meta: region,
                observe_id,
                resolver,
                cdc_resolver,
                status: ResolverStatus::Pending { buffered: 0 },
                cdc_rows: Vec::new(),
                registered_at: ctx.now,
            },
        );
        ctx.spawn(
            self.store_id,
            INC_SCAN.name,
            (records * self.cfg.scan_cost_per_record).max(MS),
            Timer::ResolvedTsScanDone {
                region_id,
                observe_id,
            },
        );
    }

    fn deregister_region(&mut self, ctx: &mut Ctx, region_id: u64) {
        self.flush_cdc_rows(ctx, region_id);
        self.regions.remove(&region_id);
    }

    fn track_scanned_locks(o: &mut ObserveRegion, rs: &Raftstore, cdc: bool) {
        let Some(peer) = rs.peers.get(&o.meta.id) else {
            return;
        };
        let store = peer.raft.store();
        for (&key, l) in &store.mvcc.lock {
            if l.lock_type == LockType::Put {
                o.resolver.track_lock(l.ts, key, None, l.generation);
                if cdc {
                    o.cdc_resolver.track_lock(l.ts, key, None, l.generation);
                }
            }
        }
        o.resolver.update_tracked_index(store.applied_index);
    }

    /// The initial lock scan of `region_id` finished on `inc-scan`.
    pub fn on_scan_done(&mut self, ctx: &mut Ctx, rs: &Raftstore, region_id: u64, observe_id: u64) {
        let Some(o) = self.regions.get_mut(&region_id) else {
            return;
        };
        if o.observe_id != observe_id || o.status == ResolverStatus::Ready {
            return;
        }
        let ResolverStatus::Pending { buffered } = o.status else {
            return;
        };
        Self::track_scanned_locks(o, rs, true);
        o.status = ResolverStatus::Ready;
        let msg = format!(
            "Resolver initialized; observe_id: {observe_id}, snapshot_index: {}, pending_data_index: {buffered}, locks: {}, txns: {}",
            o.resolver.tracked_index,
            o.resolver.num_locks(),
            o.resolver.num_transactions()
        );
        self.log(ctx, Level::Info, Some(region_id), msg);
    }

    /// The advance tick: ask PD for a TSO.
    pub fn on_advance_tick(&mut self, ctx: &mut Ctx, rs: &Raftstore, cache: &TxnStatusCache) {
        self.start_timers(ctx);
        if let Some(a) = &self.advance {
            if ctx.now >= a.started + CHECK_LEADER_TIMEOUT {
                self.finish_advance(ctx, rs, cache);
            }
        }
        self.tso_req_id += 1;
        ctx.send(
            Node::Store(self.store_id),
            Node::Pd,
            Msg::TsoRequest {
                req_id: self.tso_req_id,
                count: 1,
            },
        );
        self.log_slow_regions(ctx);
    }

    /// PD's TSO arrived: `check_leader` for every region led here.
    pub fn on_tso(
        &mut self,
        ctx: &mut Ctx,
        rs: &Raftstore,
        cache: &TxnStatusCache,
        req_id: u64,
        ts: u64,
    ) {
        if req_id != self.tso_req_id || self.advance.is_some() {
            return;
        }
        let mut regions = BTreeMap::new();
        let mut per_store: BTreeMap<u64, Vec<LeaderInfo>> = BTreeMap::new();
        for &id in self.regions.keys() {
            let Some(peer) = rs.peers.get(&id).filter(|p| p.is_leader()) else {
                continue;
            };
            let region = peer.region();
            let voters: Vec<_> = region.peers.iter().filter(|p| !p.is_learner).collect();
            let rp = self.read_progress.get(&id).copied().unwrap_or_default();
            let info = LeaderInfo {
                region_id: id,
                peer_id: peer.meta.id,
                term: peer.raft.raft.term,
                version: region.version,
                conf_ver: region.conf_ver,
                applied_index: rp.applied_index,
                safe_ts: rp.safe_ts,
            };
            for p in &region.peers {
                if p.store_id != self.store_id {
                    per_store.entry(p.store_id).or_default().push(info);
                }
            }
            regions.insert(id, (voters.len(), 1));
        }
        let waiting: BTreeSet<u64> = per_store.keys().copied().collect();
        for (store, infos) in per_store {
            ctx.send(
                Node::Store(self.store_id),
                Node::Store(store),
                Msg::CheckLeader {
                    from_store: self.store_id,
                    ts,
                    regions: infos,
                },
            );
        }
        self.advance = Some(PendingAdvance {
            ts,
            started: ctx.now,
            regions,
            waiting,
        });
        if self.advance.as_ref().is_some_and(|a| a.waiting.is_empty()) {
            self.finish_advance(ctx, rs, cache);
        }
    }

    /// A follower's store answers `CheckLeader` (TiKV `check_leader` in
    /// `src/server/service/kv.rs`, `RegionReadProgressRegistry::handle_check_leaders`):
    /// a region is confirmed when this store has a peer of it that knows the
    /// same term and leader; its `read_state` raises the peer's safe-ts once
    /// it has applied that far.
    pub fn handle_check_leader(&mut self, rs: &Raftstore, infos: &[LeaderInfo]) -> Vec<u64> {
        let mut confirmed = Vec::new();
        for info in infos {
            let Some(peer) = rs.peers.get(&info.region_id) else {
                continue;
            };
            if peer.raft.raft.term != info.term || peer.raft.raft.leader_id != info.peer_id {
                continue;
            }
            let region = peer.region();
            if region.version != info.version {
                continue;
            }
            confirmed.push(info.region_id);
            let applied = peer.raft.store().applied_index;
            let rp = self.read_progress.entry(info.region_id).or_default();
            rp.applied_index = rp.applied_index.max(applied);
            if rp.applied_index >= info.applied_index {
                rp.safe_ts = rp.safe_ts.max(info.safe_ts);
            } else {
                rp.pending = Some((info.applied_index, info.safe_ts));
            }
        }
        confirmed
    }

    /// An answer to this store's `CheckLeader`.
    pub fn on_check_leader_response(
        &mut self,
        ctx: &mut Ctx,
        rs: &Raftstore,
        cache: &TxnStatusCache,
        from_store: u64,
        ts: u64,
        regions: &[u64],
    ) {
        let Some(a) = self.advance.as_mut().filter(|a| a.ts == ts) else {
            return;
        };
        for r in regions {
            if let Some(e) = a.regions.get_mut(r) {
                e.1 += 1;
            }
        }
        a.waiting.remove(&from_store);
        if a.waiting.is_empty() {
            self.finish_advance(ctx, rs, cache);
        }
    }

    /// `ResolvedTsAdvanced`: every region a quorum confirmed advances.
    fn finish_advance(&mut self, ctx: &mut Ctx, rs: &Raftstore, cache: &TxnStatusCache) {
        let Some(a) = self.advance.take() else {
            return;
        };
        for (id, (voters, confirmed)) in a.regions {
            if confirmed * 2 <= voters {
                continue;
            }
            let Some(o) = self.regions.get_mut(&id) else {
                continue;
            };
            if o.status != ResolverStatus::Ready {
                continue;
            }
            let before = o.resolver.resolved_ts;
            let out = o.resolver.resolve(a.ts, TsSource::PdTso, cache);
            for start_ts in &out.cache_misses {
                ctx.log(
                    "resolved_ts",
                    Level::Info,
                    Some(self.store_id),
                    Some(id),
                    format!("Large txn not found in cache; start_ts: {start_ts}"),
                );
            }
            if out.resolved_ts > before {
                ctx.count(metrics::RESOLVED_TS_ADVANCES, 1);
            }
            let applied = rs
                .peers
                .get(&id)
                .map_or(0, |p| p.raft.store().applied_index);
            let rp = self.read_progress.entry(id).or_default();
            rp.applied_index = rp.applied_index.max(applied);
            rp.safe_ts = rp.safe_ts.max(out.resolved_ts);
            if let Some(client) = self.cfg.cdc_downstream {
                let feed_ts = o
                    .cdc_resolver
                    .resolve(a.ts, TsSource::PdTso, cache)
                    .resolved_ts;
                let rows = std::mem::take(&mut o.cdc_rows);
                ctx.send(
                    Node::Store(self.store_id),
                    Node::Client(client),
                    Msg::ChangeDataEvent {
                        from_store: self.store_id,
                        region_id: id,
                        rows,
                        resolved_ts: Some(feed_ts),
                    },
                );
            }
        }
    }

    fn flush_cdc_rows(&mut self, ctx: &mut Ctx, region_id: u64) {
        let (Some(client), Some(o)) = (self.cfg.cdc_downstream, self.regions.get_mut(&region_id))
        else {
            return;
        };
        if o.cdc_rows.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut o.cdc_rows);
        ctx.send(
            Node::Store(self.store_id),
            Node::Client(client),
            Msg::ChangeDataEvent {
                from_store: self.store_id,
                region_id,
                rows,
                resolved_ts: None,
            },
        );
    }

    /// `log_slow_regions`, at most every [`SLOW_LOG_INTERVAL`].
    fn log_slow_regions(&mut self, ctx: &mut Ctx) {
        if ctx.now < self.last_slow_log + SLOW_LOG_INTERVAL {
            return;
        }
        self.last_slow_log = ctx.now;
        let interval = self.cfg.advance_ts_interval;
        let expected = interval.min(CHECK_LEADER_TIMEOUT) + interval;
        let leader_threshold = (expected + SLOW_LOG_GRACE_PERIOD) / MS;
        let follower_threshold = (2 * expected + SLOW_LOG_GRACE_PERIOD) / MS;
        let now_ms = ctx.now / MS;
        let min_leader = self
            .regions
            .values()
            .filter(|o| o.status == ResolverStatus::Ready)
            .min_by_key(|o| o.resolver.resolved_ts);
        if let Some(o) = min_leader {
            let gap = now_ms.saturating_sub(tso_ms(o.resolver.resolved_ts));
            if gap > leader_threshold {
                let min_lock = o
                    .resolver
                    .lock_ts_heap
                    .iter()
                    .next()
                    .map(|(ts, l)| {
                        format!("{ts} (key {:?}, {} locks)", l.sample_lock, l.lock_count)
                    })
                    .unwrap_or_else(|| "none".into());
                let large = o
                    .resolver
                    .large_txns
                    .keys()
                    .next()
                    .map(|ts| ts.to_string())
                    .unwrap_or_else(|| "none".into());
                let msg = format!(
                    "the max gap of leader resolved-ts is large; gap: {gap}ms, resolved_ts: {}, min_lock: {min_lock}, min_large_txn: {large}, lock_num: {}, txn_num: {}",
                    o.resolver.resolved_ts,
                    o.resolver.num_locks(),
                    o.resolver.num_transactions()
                );
                self.log(ctx, Level::Info, Some(o.meta.id), msg);
            }
        }
        let min_follower = self
            .read_progress
            .iter()
            .filter(|(id, _)| !self.regions.contains_key(id))
            .min_by_key(|(_, rp)| rp.safe_ts);
        if let Some((&id, rp)) = min_follower {
            let gap = now_ms.saturating_sub(tso_ms(rp.safe_ts));
            if gap > follower_threshold && rp.safe_ts > 0 {
                self.log(
                    ctx,
                    Level::Info,
                    Some(id),
                    format!(
                        "the max gap of follower safe-ts is large; gap: {gap}ms, safe_ts: {}",
                        rp.safe_ts
                    ),
                );
            }
        }
    }

    /// The safe-ts of this store's peer of `region_id` (0 when unknown).
    pub fn safe_ts(&self, region_id: u64) -> u64 {
        self.read_progress
            .get(&region_id)
            .map_or(0, |rp| rp.safe_ts)
    }
}
