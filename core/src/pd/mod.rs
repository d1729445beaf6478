//! PD, the placement driver: TSO, region and store heartbeats, operators and the
//! schedulers this simulation needs (after `tikv/pd`'s `pkg/schedule`):
//! evict-slow-store, hot-region (move-hot-write-peer) and balance-leader.
//!
//! Operators are dispatched to the region leader when created and again on every
//! region heartbeat while their current step is unfinished, as PD's operator
//! controller does; a step that does not finish within its wait time makes the
//! operator time out (`fastStepWaitDuration` for leader transfers, the slow wait
//! for peer changes).

pub mod metrics;
pub mod operator;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft::eraftpb::ConfChangeType;

pub use operator::{OpStep, Operator, OperatorStatus};

use crate::kernel::effect::Node;
use crate::kernel::log::Level;
use crate::kernel::time::{to_ms, Micros, SEC};
use crate::proto::{Ctx, Timer};
use crate::proto::{
    Msg, PdCommand, PeerMeta, RegionHeartbeat, RegionMeta, SplitId, StoreHeartbeat,
};

/// PD's `slowStoreEvictThreshold`: a store whose slow score reaches it is evicted.
pub const SLOW_STORE_EVICT_THRESHOLD: u64 = 100;
/// PD's `slowStoreRecoverThreshold`: eviction ends once the score is back to it.
pub const SLOW_STORE_RECOVER_THRESHOLD: u64 = 1;
/// Wait for a leader-transfer step before the operator times out (PD `FastStepWaitTime`).
pub const FAST_STEP_WAIT: Micros = 60 * SEC;
/// Wait for a peer-change step (PD `SlowStepWaitTime`).
pub const SLOW_STEP_WAIT: Micros = 600 * SEC;

/// PD configuration.
#[derive(Clone, Debug)]
pub struct PdConfig {
    /// Period of the scheduling loop, virtual µs.
    pub schedule_interval: Micros,
    /// When the hot-region scheduler is enabled (`pd-ctl scheduler add hot-region-scheduler`),
    /// virtual µs; `None` = never.
    pub hot_region_scheduler_from: Option<Micros>,
    /// Write flow above which a region counts as hot, bytes per virtual second.
    pub hot_write_bytes_threshold: u64,
    /// Whether balance-leader runs.
    pub balance_leader: bool,
    /// Placement rules with `role: leader`, as `(region, store)`: the rule
    /// checker moves the region's leader back to that store whenever it can
    /// (the article's placement rule keeping the table's leader away from
    /// the first region's leader).
    pub leader_rules: Vec<(u64, u64)>,
    /// The merge checker, when on.
    pub merge: Option<MergeCheckerConfig>,
}

/// PD's merge checker settings (`schedule.*`). PD's defaults are
/// `max-merge-region-size` 54 MiB (with TiKV's 256 MiB `region-split-size`),
/// `split-merge-interval` 1 h and `merge-schedule-limit` 8; scenarios scale
/// the size and the interval down.
#[derive(Clone, Copy, Debug)]
pub struct MergeCheckerConfig {
    /// `max-merge-region-size`, bytes: a region above it is not merged.
    pub max_merge_region_size: u64,
    /// TiKV's `region-max-size`, bytes: two regions whose sizes add up to
    /// more are not merged (`AllowMerge`).
    pub max_region_size: u64,
    /// `split-merge-interval`, virtual µs: no merge of a region split this
    /// recently, nor of any region this soon after PD started.
    pub split_merge_interval: Micros,
    /// `merge-schedule-limit`: merges running at once.
    pub merge_schedule_limit: usize,
}

/// What PD knows of a region (its `RegionInfo`).
#[derive(Clone, Debug)]
pub struct RegionInfo {
    /// The region as last reported.
    pub meta: RegionMeta,
    /// Its leader.
    pub leader: Option<PeerMeta>,
    /// Leader's term at the last heartbeat.
    pub term: u64,
    /// Pending peers at the last heartbeat.
    pub pending_peers: Vec<u64>,
    /// Write flow, bytes per virtual second, from the last heartbeat interval.
    pub write_bytes_rate: u64,
    /// Virtual µs of the last heartbeat.
    pub last_heartbeat: Micros,
    /// Consecutive heartbeats with the write flow above the hot threshold (PD's
    /// hot degree); the region counts as hot from [`HOT_REGION_CACHE_HITS_THRESHOLD`].
    pub hot_degree: u32,
    /// The leader's last `approximate_size`, bytes.
    pub approximate_size: Option<u64>,
    /// Peers in the `DemotingVoter` role at the last heartbeat.
    pub demoting_peers: Vec<u64>,
}

/// PD's `hot-region-cache-hits-threshold`: heartbeats in a row above the hot
/// threshold before a region is treated as hot.
pub const HOT_REGION_CACHE_HITS_THRESHOLD: u32 = 3;

/// What PD knows of a store.
#[derive(Clone, Debug, Default)]
pub struct StoreInfo {
    /// Last reported slow score.
    pub slow_score: u64,
    /// Marked by evict-slow-store.
    pub evicted_as_slow: bool,
    /// Virtual µs of the last store heartbeat.
    pub last_heartbeat: Micros,
}

/// The placement driver.
pub struct Pd {
    cfg: PdConfig,
    tso_physical_ms: u64,
    tso_logical: u64,
    /// Regions by id.
    pub regions: BTreeMap<u64, RegionInfo>,
    /// Stores by id.
    pub stores: BTreeMap<u64, StoreInfo>,
    running: BTreeMap<u64, Operator>,
    finished: VecDeque<Operator>,
    next_operator_id: u64,
    /// PD's id allocator (`alloc_id`): new peers and new regions.
    next_peer_id: u64,
    hot_moved: BTreeMap<u64, Micros>,
    /// When each region last took part in a split (PD's split cache for
    /// `split-merge-interval`), virtual µs.
    split_at: BTreeMap<u64, Micros>,
}

impl Pd {
    /// A PD knowing the bootstrapped regions (leaders as placed) and stores.
    pub fn new(
        cfg: PdConfig,
        regions: &[(RegionMeta, PeerMeta)],
        stores: &[u64],
        next_peer_id: u64,
    ) -> Pd {
        let regions = regions
            .iter()
            .map(|(m, l)| {
                (
                    m.id,
                    RegionInfo {
                        meta: m.clone(),
                        leader: Some(*l),
                        term: 0,
                        pending_peers: vec![],
                        write_bytes_rate: 0,
                        last_heartbeat: 0,
                        hot_degree: 0,
                        approximate_size: None,
                        demoting_peers: Vec::new(),
                    },
                )
            })
            .collect();
        let stores = stores
            .iter()
            .map(|&s| {
                (
                    s,
                    StoreInfo {
                        slow_score: 1,
                        ..Default::default()
                    },
                )
            })
            .collect();
        Pd {
            cfg,
            tso_physical_ms: 0,
            tso_logical: 0,
            regions,
            stores,
            running: BTreeMap::new(),
            finished: VecDeque::new(),
            next_operator_id: 0,
            next_peer_id,
            hot_moved: BTreeMap::new(),
            split_at: BTreeMap::new(),
        }
    }

    /// A TSO timestamp: `physical_ms << 18 | logical`, strictly increasing.
    /// Clients get theirs over the network (`TsoRequest`); the scenario
    /// builders use this for data loaded before the run.
    pub fn tso(&mut self, now: Micros) -> u64 {
        let phys = to_ms(now);
        if phys > self.tso_physical_ms {
            self.tso_physical_ms = phys;
            self.tso_logical = 0;
        } else {
            self.tso_logical += 1;
            if self.tso_logical >= 1 << 18 {
                self.tso_physical_ms += 1;
                self.tso_logical = 0;
            }
        }
        // Physical ms counts from 1 so that every TSO is above the data loaded
        // before the run (committed at ts 2).
        ((self.tso_physical_ms + 1) << 18) | self.tso_logical
    }

    /// Arms PD's scheduling loop.
    pub fn start(&self, ctx: &mut Ctx) {
        ctx.timer(Node::Pd, self.cfg.schedule_interval, Timer::PdSchedule);
    }

    fn log(ctx: &Ctx, level: Level, region: Option<u64>, msg: String) {
        ctx.log("pd", level, None, region, msg);
    }

    /// Handles a message delivered to PD from `from`.
    pub fn on_message(&mut self, ctx: &mut Ctx, from: Node, msg: Msg) {
        match msg {
            Msg::RegionHeartbeat(hb) => self.on_region_heartbeat(ctx, hb),
            Msg::StoreHeartbeat(hb) => self.on_store_heartbeat(ctx, hb),
            Msg::TsoRequest { req_id, count } => {
                let mut last = 0;
                for _ in 0..count.max(1) {
                    last = self.tso(ctx.now);
                }
                ctx.send(
                    Node::Pd,
                    from,
                    Msg::TsoResponse {
                        req_id,
                        last,
                        count: count.max(1),
                    },
                );
            }
            Msg::QueryRegion { req_id, keys } => {
                let regions = keys.iter().map(|&k| self.get_region(k)).collect();
                ctx.send(Node::Pd, from, Msg::QueryRegionResponse { req_id, regions });
            }
            Msg::AskBatchSplit { region, split_keys } => {
                // PD's `HandleAskBatchSplit`: one new region id and one id per
                // peer for each split key.
                let ids: Vec<SplitId> = split_keys
                    .iter()
                    .map(|_| SplitId {
                        new_region_id: self.alloc_id(),
                        new_peer_ids: region.peers.iter().map(|_| self.alloc_id()).collect(),
                    })
                    .collect();
                Self::log(
                    ctx,
                    Level::Info,
                    Some(region.id),
                    format!(
                        "alloc ids for region split, region-id: {}, number: {}",
                        region.id,
                        ids.len()
                    ),
                );
                ctx.send(
                    Node::Pd,
                    from,
                    Msg::AskBatchSplitResponse {
                        region,
                        split_keys,
                        ids,
                    },
                );
            }
            Msg::ReportBatchSplit { regions } => {
                for r in &regions {
                    self.split_at.insert(r.id, ctx.now);
                }
                if let Some(origin) = regions.last() {
                    Self::log(
                        ctx,
                        Level::Info,
                        Some(origin.id),
                        format!(
                            "region batch split, generate new regions, region-id: {}, total: {}",
                            origin.id,
                            regions.len()
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    fn on_store_heartbeat(&mut self, ctx: &mut Ctx, hb: StoreHeartbeat) {
        let any_evicted = self.stores.values().any(|s| s.evicted_as_slow);
        let Some(s) = self.stores.get_mut(&hb.store_id) else {
            return;
        };
        s.slow_score = hb.slow_score;
        s.last_heartbeat = ctx.now;
        if !s.evicted_as_slow && !any_evicted && hb.slow_score >= SLOW_STORE_EVICT_THRESHOLD {
            s.evicted_as_slow = true;
            ctx.count(crate::pd::metrics::SLOW_STORE_EVICTED, 1);
            Self::log(
                ctx,
                Level::Info,
                None,
                format!(
                    "detected slow store, start to evict leaders, store-id: {}",
                    hb.store_id
                ),
            );
        } else if s.evicted_as_slow && hb.slow_score <= SLOW_STORE_RECOVER_THRESHOLD {
            s.evicted_as_slow = false;
            Self::log(
                ctx,
                Level::Info,
                None,
                format!("slow store has been recovered, store-id: {}", hb.store_id),
            );
        }
    }

    fn on_region_heartbeat(&mut self, ctx: &mut Ctx, hb: RegionHeartbeat) {
        let rid = hb.region.id;
        let now = ctx.now;
        // Stale heartbeats (older term or epoch) are ignored, as PD's
        // `checkStaleRegion`: against the region's own entry, and against
        // the regions it overlaps in PD's region tree. Those it overlaps are
        // older: they leave the tree (their own heartbeat puts them back
        // with their new range).
        if let Some(entry) = self.regions.get(&rid) {
            if hb.term < entry.term || hb.region.is_epoch_stale(&entry.meta) {
                return;
            }
        }
        let (start, end) = (hb.region.start_key, hb.region.end_key);
        let overlaps: Vec<u64> = self
            .regions
            .iter()
            .filter(|(&id, r)| id != rid && r.meta.overlaps(start, end))
            .map(|(&id, _)| id)
            .collect();
        if overlaps
            .iter()
            .any(|id| self.regions[id].meta.version > hb.region.version)
        {
            return;
        }
        for id in overlaps {
            self.regions.remove(&id);
            self.split_at.remove(&id);
            // A merge source covered by its target: its operator is done.
            if let Some(mut op) = self.running.remove(&id) {
                let merged = matches!(
                    op.steps.get(op.current),
                    Some(OpStep::MergeRegion { passive: false, .. })
                );
                op.status = if merged {
                    OperatorStatus::Success
                } else {
                    OperatorStatus::Canceled
                };
                op.finished = Some(now);
                if merged {
                    ctx.count(crate::pd::metrics::PD_OPERATORS_SUCCEEDED, 1);
                }
                Self::log(
                    ctx,
                    Level::Info,
                    Some(id),
                    format!(
                        "operator finish, region-id: {id}, operator: \"{}\"",
                        op.describe()
                    ),
                );
                self.push_finished(op);
            }
        }
        let entry = self.regions.entry(rid).or_insert_with(|| RegionInfo {
            meta: hb.region.clone(),
            leader: None,
            term: 0,
            pending_peers: vec![],
            write_bytes_rate: 0,
            last_heartbeat: now,
            hot_degree: 0,
            approximate_size: None,
            demoting_peers: Vec::new(),
        });
        if hb.region.version != entry.meta.version {
            Self::log(
                ctx,
                Level::Info,
                Some(rid),
                format!(
                    "region Version changed, region-id: {rid}, old-version: {}, new-version: {}, range: [{}, {})",
                    entry.meta.version, hb.region.version, hb.region.start_key, hb.region.end_key
                ),
            );
        }
        let elapsed = now.saturating_sub(entry.last_heartbeat).max(SEC);
        entry.write_bytes_rate = hb.written_bytes * SEC / elapsed;
        entry.hot_degree = if entry.write_bytes_rate >= self.cfg.hot_write_bytes_threshold {
            entry.hot_degree + 1
        } else {
            0
        };
        entry.meta = hb.region;
        entry.leader = Some(hb.leader);
        entry.term = hb.term;
        entry.pending_peers = hb.pending_peers;
        entry.demoting_peers = hb.demoting_peers;
        entry.last_heartbeat = now;
        if hb.approximate_size.is_some() {
            entry.approximate_size = hb.approximate_size;
        }
        self.check_operator(ctx, rid, true);
    }

    /// Advances the operator of `region` if its step finished; re-dispatches the
    /// current step when `dispatch` (a heartbeat arrived).
    fn check_operator(&mut self, ctx: &mut Ctx, rid: u64, dispatch: bool) {
        let Some(info) = self.regions.get(&rid) else {
            return;
        };
        let Some(op) = self.running.get_mut(&rid) else {
            return;
        };
        let mut advanced = false;
        while op.current < op.steps.len() && op.steps[op.current].is_finished(info) {
            op.current += 1;
            op.step_started = ctx.now;
            advanced = true;
        }
        if op.current == op.steps.len() {
            let mut op = self.running.remove(&rid).expect("operator exists");
            op.status = OperatorStatus::Success;
            op.finished = Some(ctx.now);
            ctx.count(crate::pd::metrics::PD_OPERATORS_SUCCEEDED, 1);
            Self::log(
                ctx,
                Level::Info,
                Some(rid),
                format!(
                    "operator finish, region-id: {rid}, operator: \"{}\"",
                    op.describe()
                ),
            );
            self.push_finished(op);
            return;
        }
        if dispatch {
            if let Some(diff) = op.stale_by(info) {
                self.cancel_stale_operator(ctx, rid, diff);
                return;
            }
        }
        if dispatch || advanced {
            self.dispatch(ctx, rid);
        }
    }

    /// PD's `checkStaleOperator` found the operator of `rid` stale (its
    /// region's conf_ver moved `diff` since the operator was made, more than
    /// its steps did): it is cancelled (`EpochNotMatch`) and, for a merge,
    /// so is the other region's (`removeRelatedMergeOperator`), freeing the
    /// merge-schedule-limit for the checker to try again.
    fn cancel_stale_operator(&mut self, ctx: &mut Ctx, rid: u64, diff: u64) {
        let Some(mut op) = self.running.remove(&rid) else {
            return;
        };
        let meta = &self.regions[&rid].meta;
        Self::log(
            ctx,
            Level::Info,
            Some(rid),
            format!(
                "operator is stale, region-id: {rid}, diff: {diff}, latest-epoch: {{conf_ver: {}, version: {}}}",
                meta.conf_ver, meta.version
            ),
        );
        ctx.count(crate::pd::metrics::PD_OPERATORS_STALE, 1);
        let related = op.related_merge_region();
        op.status = OperatorStatus::Canceled;
        op.finished = Some(ctx.now);
        self.bury_canceled(ctx, op);
        if let Some(other) = related {
            if self
                .running
                .get(&other)
                .is_some_and(|o| o.related_merge_region() == Some(rid))
            {
                let mut o = self.running.remove(&other).expect("checked");
                o.status = OperatorStatus::Canceled;
                o.finished = Some(ctx.now);
                self.bury_canceled(ctx, o);
            }
        }
    }

    /// PD's `buryOperator` for a cancelled operator: "operator canceled".
    fn bury_canceled(&mut self, ctx: &mut Ctx, op: Operator) {
        let rid = op.region_id;
        Self::log(
            ctx,
            Level::Info,
            Some(rid),
            format!(
                "operator canceled, region-id: {rid}, operator: \"{}\"",
                op.describe()
            ),
        );
        self.push_finished(op);
    }

    fn dispatch(&mut self, ctx: &mut Ctx, rid: u64) {
        let Some(info) = self.regions.get(&rid) else {
            return;
        };
        let Some(op) = self.running.get(&rid) else {
            return;
        };
        let Some(leader) = info.leader else { return };
        let step = &op.steps[op.current];
        let cmd = match *step {
            OpStep::TransferLeader { to_store, .. } => match info.meta.peer_on(to_store) {
                Some(p) => PdCommand::TransferLeader { peer: p },
                None => return,
            },
            OpStep::AddLearner { to_store, peer_id } => PdCommand::ChangePeer {
                change: ConfChangeType::AddLearnerNode,
                peer: PeerMeta {
                    id: peer_id,
                    store_id: to_store,
                    is_learner: true,
                },
            },
            OpStep::PromoteLearner { to_store, peer_id } => PdCommand::ChangePeer {
                change: ConfChangeType::AddNode,
                peer: PeerMeta {
                    id: peer_id,
                    store_id: to_store,
                    is_learner: false,
                },
            },
            OpStep::RemovePeer {
                from_store,
                peer_id,
            } => PdCommand::ChangePeer {
                change: ConfChangeType::RemoveNode,
                peer: PeerMeta {
                    id: peer_id,
                    store_id: from_store,
                    is_learner: false,
                },
            },
            OpStep::ChangePeerV2Enter { promote, demote } => PdCommand::ChangePeerV2 {
                changes: vec![
                    (
                        ConfChangeType::AddNode,
                        PeerMeta {
                            id: promote.1,
                            store_id: promote.0,
                            is_learner: false,
                        },
                    ),
                    (
                        ConfChangeType::AddLearnerNode,
                        PeerMeta {
                            id: demote.1,
                            store_id: demote.0,
                            is_learner: true,
                        },
                    ),
                ],
            },
            OpStep::ChangePeerV2Leave { .. } => PdCommand::ChangePeerV2 {
                changes: Vec::new(),
            },
            OpStep::MergeRegion {
                to_region,
                passive: false,
                ..
            } => match self.regions.get(&to_region) {
                Some(t) => PdCommand::Merge {
                    target: t.meta.clone(),
                },
                None => return,
            },
            OpStep::MergeRegion { passive: true, .. } => return,
        };
        Self::log(
            ctx,
            Level::Info,
            Some(rid),
            format!(
                "send schedule command, region-id: {rid}, step: {step}, source: {}",
                op.desc
            ),
        );
        ctx.send(
            Node::Pd,
            Node::Store(leader.store_id),
            Msg::PdCommand {
                region_id: rid,
                operator_id: op.id,
                cmd,
            },
        );
    }

    fn push_finished(&mut self, op: Operator) {
        if self.finished.len() == 30 {
            self.finished.pop_front();
        }
        self.finished.push_back(op);
    }

    /// Adds an operator. As PD's operator controller, a region has at most one
    /// operator; a new one replaces the running one only if its priority is higher
    /// (evict-slow-store operators are `Urgent`), and the old one is canceled.
    fn add_operator(&mut self, ctx: &mut Ctx, rid: u64, desc: &'static str, steps: Vec<OpStep>) {
        let priority = operator::priority_of(desc);
        if let Some(old) = self.running.get(&rid) {
            if old.priority >= priority {
                return;
            }
            let mut old = self.running.remove(&rid).expect("operator exists");
            old.status = OperatorStatus::Canceled;
            old.finished = Some(ctx.now);
            Self::log(
                ctx,
                Level::Info,
                Some(rid),
                format!(
                    "replace old operator, region-id: {rid}, old: \"{}\"",
                    old.describe()
                ),
            );
            self.push_finished(old);
        }
        self.next_operator_id += 1;
        let op = Operator {
            id: self.next_operator_id,
            region_id: rid,
            desc,
            priority,
            steps,
            current: 0,
            status: OperatorStatus::Running,
            created: ctx.now,
            step_started: ctx.now,
            finished: None,
            origin_conf_ver: self.regions.get(&rid).map_or(0, |r| r.meta.conf_ver),
        };
        Self::log(
            ctx,
            Level::Info,
            Some(rid),
            format!(
                "add operator, region-id: {rid}, operator: \"{}\"",
                op.describe()
            ),
        );
        ctx.count(crate::pd::metrics::PD_OPERATORS_CREATED, 1);
        self.running.insert(rid, op);
        self.dispatch(ctx, rid);
    }

    /// PD's scheduling loop: operator timeouts, then the schedulers.
    pub fn on_schedule(&mut self, ctx: &mut Ctx) {
        // Timeouts.
        let now = ctx.now;
        let timed_out: Vec<u64> = self
            .running
            .iter()
            .filter(|(_, op)| now.saturating_sub(op.step_started) > op.steps[op.current].wait())
            .map(|(&rid, _)| rid)
            .collect();
        for rid in timed_out {
            let mut op = self.running.remove(&rid).expect("operator exists");
            op.status = OperatorStatus::Timeout;
            op.finished = Some(now);
            ctx.count(crate::pd::metrics::PD_OPERATORS_TIMED_OUT, 1);
            Self::log(
                ctx,
                Level::Info,
                Some(rid),
                format!(
                    "operator timeout, region-id: {rid}, operator: \"{}\"",
                    op.describe()
                ),
            );
            self.push_finished(op);
        }
        self.evict_slow_store(ctx);
        if self.cfg.hot_region_scheduler_from.is_some_and(|t| now >= t) {
            self.hot_region(ctx);
        }
        if self.cfg.balance_leader {
            self.balance_leader(ctx);
        }
        self.check_leader_rules(ctx);
        if let Some(m) = self.cfg.merge {
            self.merge_checker(ctx, &m);
        }
        ctx.timer(Node::Pd, self.cfg.schedule_interval, Timer::PdSchedule);
    }

    /// PD's merge checker (`checker/merge_checker.go`): a region below
    /// `max-merge-region-size`, healthy, not split within
    /// `split-merge-interval`, merges into its next region, or its previous
    /// one when that is smaller, if the target is healthy, on the same
    /// stores, and the two together stay within `region-max-size`. Two
    /// operators `merge-region`, the target's passive.
    fn merge_checker(&mut self, ctx: &mut Ctx, m: &MergeCheckerConfig) {
        let now = ctx.now;
        if now < m.split_merge_interval {
            // "recently-start".
            return;
        }
        let running_merges = self
            .running
            .values()
            .filter(|op| op.desc == "merge-region")
            .count()
            / 2;
        if running_merges >= m.merge_schedule_limit {
            return;
        }
        let usable = |pd: &Pd, id: u64| -> Option<u64> {
            let r = pd.regions.get(&id)?;
            let recently_split = pd
                .split_at
                .get(&id)
                .is_some_and(|&t| now.saturating_sub(t) < m.split_merge_interval);
            let healthy = r.leader.is_some() && r.pending_peers.is_empty();
            (!pd.running.contains_key(&id) && !recently_split && healthy)
                .then_some(r.approximate_size?)
        };
        let by_start: BTreeMap<u64, u64> = self
            .regions
            .values()
            .map(|r| (r.meta.start_key, r.meta.id))
            .collect();
        let ids: Vec<u64> = self.regions.keys().copied().collect();
        for id in ids {
            let Some(size) = usable(self, id) else {
                continue;
            };
            if size > m.max_merge_region_size {
                continue;
            }
            let meta = self.regions[&id].meta.clone();
            let next = by_start.get(&meta.end_key).copied();
            let prev = self
                .regions
                .values()
                .find(|r| r.meta.end_key == meta.start_key && r.meta.id != id)
                .map(|r| r.meta.id);
            // A target on other stores is fine: the source's operator first
            // moves its peers onto the target's stores (below).
            let check = |pd: &Pd, t: Option<u64>| -> Option<(u64, u64)> {
                let t = t?;
                let tsize = usable(pd, t)?;
                (size + tsize <= m.max_region_size).then_some((t, tsize))
            };
            let mut target = check(self, next);
            if let Some((p, psize)) = check(self, prev) {
                if target.is_none_or(|(_, nsize)| psize < nsize) {
                    target = Some((p, psize));
                }
            }
            let Some((t, _)) = target else { continue };
            let to = self.regions[&t].meta.clone();
            let moves = if crate::raftstore::merge::region_on_same_stores(&meta, &to) {
                Vec::new()
            } else {
                match self.match_peers_steps(id, &to) {
                    Some(steps) => steps,
                    None => continue,
                }
            };
            Self::log(
                ctx,
                Level::Info,
                Some(id),
                format!(
                    "try to merge region, from: {}, to: {}",
                    meta.describe(),
                    to.describe()
                ),
            );
            let step = |passive| OpStep::MergeRegion {
                from_region: id,
                to_region: t,
                to_range: (to.start_key, to.end_key),
                passive,
            };
            let mut source_steps = moves;
            source_steps.push(step(false));
            self.add_operator(ctx, t, "merge-region", vec![step(true)]);
            self.add_operator(ctx, id, "merge-region", source_steps);
            return;
        }
    }

    /// The steps that put the source region `id`'s peers on the stores of
    /// `target` before a merge (PD `CreateMergeRegionOperator` when
    /// `!isRegionMatch`: an operator builder's `SetPeers(target's stores)`):
    /// leadership first moves off a store that loses its peer, then each
    /// peer moves with joint consensus (add learner; promote and demote in
    /// one ConfChangeV2; leave joint; remove the demoted learner). `None`
    /// when the regions hold learners, differ in voter count, or share no
    /// store to keep the leader on.
    fn match_peers_steps(&mut self, id: u64, target: &RegionMeta) -> Option<Vec<OpStep>> {
        let source = self.regions.get(&id)?;
        if source
            .meta
            .peers
            .iter()
            .chain(&target.peers)
            .any(|p| p.is_learner)
        {
            return None;
        }
        let leader = source.leader?;
        let on = |r: &RegionMeta, s: u64| r.peers.iter().any(|p| p.store_id == s);
        let adds: Vec<u64> = target
            .peers
            .iter()
            .map(|p| p.store_id)
            .filter(|&s| !on(&source.meta, s))
            .collect();
        let removes: Vec<PeerMeta> = source
            .meta
            .peers
            .iter()
            .filter(|p| !on(target, p.store_id))
            .copied()
            .collect();
        if adds.len() != removes.len() {
            return None;
        }
        let mut steps = Vec::new();
        if removes.iter().any(|p| p.store_id == leader.store_id) {
            let keep = source
                .meta
                .peers
                .iter()
                .find(|p| on(target, p.store_id))?
                .store_id;
            steps.push(OpStep::TransferLeader {
                from_store: leader.store_id,
                to_store: keep,
            });
        }
        for (to, from) in adds.into_iter().zip(removes) {
            let new_peer = self.alloc_id();
            steps.extend(move_peer_steps(to, new_peer, from));
        }
        Some(steps)
    }

    fn leader_counts(&self) -> BTreeMap<u64, usize> {
        let mut counts: BTreeMap<u64, usize> = self.stores.keys().map(|&s| (s, 0)).collect();
        for r in self.regions.values() {
            if let Some(l) = r.leader {
                *counts.entry(l.store_id).or_insert(0) += 1;
            }
        }
        counts
    }

    fn store_usable(&self, store: u64, now: Micros) -> bool {
        self.stores
            .get(&store)
            .is_some_and(|s| !s.evicted_as_slow && now.saturating_sub(s.last_heartbeat) < 60 * SEC)
    }

    /// The transferee for moving `rid`'s leader off its store: a voter on a usable
    /// store with the fewest leaders (lowest id on ties).
    fn pick_transferee(&self, rid: u64, now: Micros) -> Option<u64> {
        let info = self.regions.get(&rid)?;
        let leader = info.leader?;
        let counts = self.leader_counts();
        info.meta
            .peers
            .iter()
            .filter(|p| {
                !p.is_learner && p.store_id != leader.store_id && self.store_usable(p.store_id, now)
            })
            .filter(|p| !info.pending_peers.contains(&p.id))
            .min_by_key(|p| (counts.get(&p.store_id).copied().unwrap_or(0), p.store_id))
            .map(|p| p.store_id)
    }

    /// evict-slow-store (`pkg/schedule/schedulers/evict_slow_store.go`): move every
    /// leader off the store marked slow, a batch of up to 3 per round.
    fn evict_slow_store(&mut self, ctx: &mut Ctx) {
        let Some((&slow, _)) = self.stores.iter().find(|(_, s)| s.evicted_as_slow) else {
            return;
        };
        let candidates: Vec<u64> =
            self.regions
                .iter()
                .filter(|(rid, r)| {
                    r.leader.is_some_and(|l| l.store_id == slow)
                        && self.running.get(rid).is_none_or(|op| {
                            op.priority < operator::priority_of("evict-slow-store")
                        })
                })
                .map(|(&rid, _)| rid)
                .take(3)
                .collect();
        for rid in candidates {
            if let Some(to) = self.pick_transferee(rid, ctx.now) {
                self.add_operator(
                    ctx,
                    rid,
                    "evict-slow-store",
                    vec![OpStep::TransferLeader {
                        from_store: slow,
                        to_store: to,
                    }],
                );
            }
        }
    }

    /// hot-region scheduler, write peers (`hot_region.go`, `move-hot-write-peer`):
    /// move a follower of the hottest write region from the most loaded store
    /// holding it to the least loaded store without it.
    fn hot_region(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        // A region is hot when its write flow passes the threshold and twice the
        // average flow (PD's hot cache keeps the regions well above the rest).
        let n = self.regions.len().max(1) as u64;
        let avg = self
            .regions
            .values()
            .map(|r| r.write_bytes_rate)
            .sum::<u64>()
            / n;
        let Some((&rid, info)) = self
            .regions
            .iter()
            .filter(|(_, r)| {
                r.hot_degree >= HOT_REGION_CACHE_HITS_THRESHOLD
                    && r.write_bytes_rate >= self.cfg.hot_write_bytes_threshold.max(2 * avg)
            })
            .max_by_key(|(id, r)| (r.write_bytes_rate, std::cmp::Reverse(**id)))
        else {
            return;
        };
        if self.running.contains_key(&rid)
            || self
                .hot_moved
                .get(&rid)
                .is_some_and(|&t| now < t + SLOW_STEP_WAIT)
        {
            return;
        }
        let Some(leader) = info.leader else { return };
        // Store write load = sum of hot write flow of the regions it has peers of.
        let mut load: BTreeMap<u64, u64> = self.stores.keys().map(|&s| (s, 0)).collect();
        for r in self.regions.values() {
            for p in &r.meta.peers {
                *load.entry(p.store_id).or_insert(0) += r.write_bytes_rate;
            }
        }
        let holders: BTreeSet<u64> = info.meta.peers.iter().map(|p| p.store_id).collect();
        let Some(from) = info
            .meta
            .peers
            .iter()
            .filter(|p| !p.is_learner && p.store_id != leader.store_id)
            .max_by_key(|p| (load.get(&p.store_id).copied().unwrap_or(0), p.store_id))
            .copied()
        else {
            return;
        };
        let Some(to) = self
            .stores
            .keys()
            .copied()
            .filter(|s| !holders.contains(s) && self.store_usable(*s, now))
            .min_by_key(|s| (load.get(s).copied().unwrap_or(0), *s))
        else {
            return;
        };
        let new_peer = self.alloc_id();
        self.hot_moved.insert(rid, now);
        self.add_operator(
            ctx,
            rid,
            "move-hot-write-peer",
            move_peer_steps(to, new_peer, from).to_vec(),
        );
    }

    /// balance-leader: when the usable stores' leader counts differ by more than
    /// one, move one leader from the most to the least loaded store.
    fn balance_leader(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        let counts = self.leader_counts();
        let usable: Vec<(u64, usize)> = counts
            .iter()
            .filter(|(s, _)| self.store_usable(**s, now))
            .map(|(s, c)| (*s, *c))
            .collect();
        let Some(&(max_s, max_c)) = usable
            .iter()
            .max_by_key(|(s, c)| (*c, std::cmp::Reverse(*s)))
        else {
            return;
        };
        let Some(&(min_s, min_c)) = usable.iter().min_by_key(|(s, c)| (*c, *s)) else {
            return;
        };
        if max_c <= min_c + 1 {
            return;
        }
        let rid = self.regions.iter().find(|(rid, r)| {
            r.leader.is_some_and(|l| l.store_id == max_s)
                && !self.running.contains_key(rid)
                && r.meta.peers.iter().any(|p| {
                    p.store_id == min_s && !p.is_learner && !r.pending_peers.contains(&p.id)
                })
        });
        if let Some((&rid, _)) = rid {
            self.add_operator(
                ctx,
                rid,
                "balance-leader",
                vec![OpStep::TransferLeader {
                    from_store: max_s,
                    to_store: min_s,
                }],
            );
        }
    }

    /// The rule checker for leader placement rules: a `fix-leader-role`
    /// operator moves the leader to the rule's store once that store's peer is
    /// a caught-up voter on a usable store.
    fn check_leader_rules(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        for (rid, store) in self.cfg.leader_rules.clone() {
            let Some(r) = self.regions.get(&rid) else {
                continue;
            };
            let Some(leader) = r.leader else { continue };
            if leader.store_id == store
                || self.running.contains_key(&rid)
                || !self.store_usable(store, now)
            {
                continue;
            }
            let ready =
                r.meta.peers.iter().any(|p| {
                    p.store_id == store && !p.is_learner && !r.pending_peers.contains(&p.id)
                });
            if ready {
                self.add_operator(
                    ctx,
                    rid,
                    "fix-leader-role",
                    vec![OpStep::TransferLeader {
                        from_store: leader.store_id,
                        to_store: store,
                    }],
                );
            }
        }
    }

    /// Operators: the running ones (by region), then the most recent
    /// finished ones, newest first (at most 30).
    pub fn operators(&self) -> impl Iterator<Item = &Operator> {
        self.running.values().chain(self.finished.iter().rev())
    }

    /// PD's `alloc_id`: the next id for a region or a peer.
    fn alloc_id(&mut self) -> u64 {
        self.next_peer_id += 1;
        self.next_peer_id
    }

    /// The region a key belongs to and its leader, as PD knows them (`GetRegion`).
    pub fn get_region(&self, key: u64) -> Option<(RegionMeta, Option<PeerMeta>)> {
        self.regions
            .values()
            .find(|r| r.meta.contains(key))
            .map(|r| (r.meta.clone(), r.leader))
    }
}

/// PD moves a voter with joint consensus (an operator builder's move):
/// add `new_peer` as a learner on store `to`, promote it and demote `from`
/// in one ConfChangeV2, leave the joint state, remove the demoted learner.
fn move_peer_steps(to: u64, new_peer: u64, from: PeerMeta) -> [OpStep; 4] {
    [
        OpStep::AddLearner {
            to_store: to,
            peer_id: new_peer,
        },
        OpStep::ChangePeerV2Enter {
            promote: (to, new_peer),
            demote: (from.store_id, from.id),
        },
        OpStep::ChangePeerV2Leave {
            promote: (to, new_peer),
            demote: (from.store_id, from.id),
        },
        OpStep::RemovePeer {
            from_store: from.store_id,
            peer_id: from.id,
        },
    ]
}
